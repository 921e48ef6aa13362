"""STARTTLS preambles, each against a loopback server that speaks the protocol's greeting
and upgrade and then real TLS (Python's ssl, server side): IMAP, POP3, FTP, XMPP, LDAP,
PostgreSQL and MySQL. SMTP runs against a real SMTP server in test_live.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pki import DAY, make_root
from tlsdoctor.anchors import anchors_from_files
from tlsdoctor.live import LiveOptions, check_endpoint
from tlsdoctor.probe.targets import Starttls, parse_target

Dialogue = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


async def _imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    line = await reader.readline()
    tag = line.split(b" ", 1)[0]
    writer.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK Begin TLS negotiation now\r\n")
    return b"STARTTLS" in line


async def _pop3(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"+OK POP3 ready\r\n")
    line = await reader.readline()
    writer.write(b"+OK Begin TLS\r\n")
    return line.strip() == b"STLS"


async def _ftp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"220-Welcome\r\n220 FTP server ready\r\n")
    line = await reader.readline()
    writer.write(b"234 AUTH TLS successful\r\n")
    return line.strip() == b"AUTH TLS"


async def _xmpp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    await reader.readuntil(b">")
    await reader.readuntil(b">")  # <?xml ...?> then <stream:stream ...>
    writer.write(
        b"<?xml version='1.0'?><stream:stream from='x' id='1' version='1.0' "
        b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
        b"</starttls></stream:features>"
    )
    request = await reader.readuntil(b"/>")
    writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    return b"starttls" in request


async def _ldap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    request = await reader.read(64)
    # extendedResp: messageID 1, resultCode success, matchedDN "", diagnosticMessage "".
    writer.write(bytes.fromhex("300c02010178070a010004000400"))
    return b"1.3.6.1.4.1.1466.20037" in request


async def _postgres(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    request = await reader.readexactly(8)
    writer.write(b"S")
    return struct.unpack("!II", request) == (8, 80877103)


async def _mysql(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    capabilities = 0x0800 | 0x0200 | 0x8000
    body = (
        b"\x0a"
        + b"8.0.0-test\x00"
        + struct.pack("<I", 7)
        + b"saltsalt"
        + b"\x00"
        + struct.pack("<H", capabilities)
        + b"\x21"
        + b"\x00\x00"
        + b"\x00\x00"
        + b"\x00" * 11
    )
    writer.write(len(body).to_bytes(3, "little") + b"\x00" + body)
    header = await reader.readexactly(4)
    request = await reader.readexactly(int.from_bytes(header[:3], "little"))
    return bool(struct.unpack("<I", request[:4])[0] & 0x0800)


DIALOGUES: dict[Starttls, Dialogue] = {
    Starttls.IMAP: _imap,
    Starttls.POP3: _pop3,
    Starttls.FTP: _ftp,
    Starttls.XMPP: _xmpp,
    Starttls.LDAP: _ldap,
    Starttls.POSTGRES: _postgres,
    Starttls.MYSQL: _mysql,
}


class StarttlsServer:
    """A loopback server: the protocol's plaintext dialogue, then a real TLS upgrade."""

    def __init__(self, dialogue: Dialogue, context: ssl.SSLContext) -> None:
        self.dialogue = dialogue
        self.context = context
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.dialogues = 0  # clients that spoke the preamble right
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await asyncio.wait_for(self.dialogue(reader, writer), 5):
                self.dialogues += 1
                await self._serve_tls(reader, writer)
                await asyncio.sleep(0.2)  # let the client read its fill, then hang up
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        writer.close()

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The server's side of the handshake through memory BIOs over the same stream:
        a MySQL client sends its ClientHello right behind the SSL request, so those bytes
        may already sit in ``reader``'s buffer, where loop.start_tls would never see them."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
                await writer.drain()
                data = await reader.read(65536)
                if not data:
                    return
                incoming.write(data)
        writer.write(outgoing.read())
        await writer.drain()

    def __enter__(self) -> StarttlsServer:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            self.server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    folder = tmp_path_factory.mktemp("starttls")
    now = dt.datetime.now(dt.timezone.utc)
    root = make_root("STARTTLS Root", not_before=now - 10 * DAY, not_after=now + 3650 * DAY)
    leaf = root.issue_leaf(["mail.starttls.test"], not_before=now - DAY, not_after=now + 60 * DAY)
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "leaf.pem").write_bytes(leaf.pem())
    (folder / "leaf.key").write_bytes(leaf.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    return context, folder / "root.pem"


@pytest.mark.parametrize("protocol", list(DIALOGUES), ids=lambda p: p.value)
def test_starttls_protocol(protocol: Starttls, tls_files: tuple[ssl.SSLContext, Path]) -> None:
    context, root = tls_files
    with StarttlsServer(DIALOGUES[protocol], context) as server:
        endpoint = parse_target(
            f"mail.starttls.test:{server.port}", connect="127.0.0.1", starttls=protocol
        )
        report = check_endpoint(
            endpoint, LiveOptions(anchors=anchors_from_files([root]), timeout=5, revocation=False)
        )
        assert server.dialogues == 1
    assert report.codes == (), [f.message for f in report.findings]
    assert report.tls is not None and report.tls.starttls == protocol.value
    assert report.chain[0].san == ("mail.starttls.test",)


def test_server_that_refuses_starttls(tls_files: tuple[ssl.SSLContext, Path]) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"+OK POP3 ready\r\n")
        await reader.readline()
        writer.write(b"-ERR STLS not supported\r\n")
        return False

    context, root = tls_files
    with StarttlsServer(refuse, context) as server:
        endpoint = parse_target(f"127.0.0.1:{server.port}", starttls=Starttls.POP3)
        report = check_endpoint(
            endpoint, LiveOptions(anchors=anchors_from_files([root]), timeout=5, revocation=False)
        )
    assert [code.value for code in report.codes] == ["not_tls"]
    assert "POP3 but refused STARTTLS" in report.findings[0].message
