"""The plaintext preambles that upgrade a connection to TLS (RFC 3207, 2595, 4217, 6120,
4511; PostgreSQL's SSLRequest; MySQL's SSL request packet).

Each function talks over an open plaintext stream and returns when the server has agreed
to start TLS. A server that answers but refuses raises :class:`NotTls`, saying what it
speaks; the caller's timeout bounds every read.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

from tlsdoctor.errors import NotTls
from tlsdoctor.probe.targets import Starttls

MAX_LINE = 8192
MAX_GREETING = 65536


async def _line(reader: asyncio.StreamReader) -> str:
    data = await reader.readuntil(b"\n")
    return data.decode("utf-8", "replace").rstrip("\r\n")


async def _reply(reader: asyncio.StreamReader) -> tuple[str, list[str]]:
    """A numeric reply (SMTP, FTP): lines 'NNN-...' continue, 'NNN ...' ends it."""
    lines: list[str] = []
    while True:
        line = await _line(reader)
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines


def _refused(target: str, protocol: str, said: str) -> NotTls:
    return NotTls(
        target,
        f"the port speaks {protocol} but refused STARTTLS (it said: {said[:120]!r})",
        protocol=protocol,
        server_said=said[:200],
    )


async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    code, lines = await _reply(reader)
    if code != "220":
        raise _refused(target, "SMTP", lines[-1])
    writer.write(b"EHLO tlsdoctor.invalid\r\n")
    code, lines = await _reply(reader)
    if code != "250" or not any("STARTTLS" in line.upper() for line in lines):
        raise _refused(target, "SMTP", " / ".join(lines))
    writer.write(b"STARTTLS\r\n")
    code, lines = await _reply(reader)
    if code != "220":
        raise _refused(target, "SMTP", lines[-1])


async def imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    greeting = await _line(reader)
    if not greeting.startswith("* OK"):
        raise _refused(target, "IMAP", greeting)
    writer.write(b"a1 STARTTLS\r\n")
    while True:
        line = await _line(reader)
        if line.startswith("a1 "):
            break
    if not line.upper().startswith("A1 OK"):
        raise _refused(target, "IMAP", line)


async def pop3(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    greeting = await _line(reader)
    if not greeting.startswith("+OK"):
        raise _refused(target, "POP3", greeting)
    writer.write(b"STLS\r\n")
    answer = await _line(reader)
    if not answer.startswith("+OK"):
        raise _refused(target, "POP3", answer)


async def ftp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    code, lines = await _reply(reader)
    if code != "220":
        raise _refused(target, "FTP", lines[-1])
    writer.write(b"AUTH TLS\r\n")
    code, lines = await _reply(reader)
    if code != "234":
        raise _refused(target, "FTP", lines[-1])


async def xmpp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    host = target.rsplit(":", 1)[0].strip("[]")
    writer.write(
        (
            "<?xml version='1.0'?><stream:stream to='" + host + "' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        ).encode()
    )
    features = b""
    while b"</stream:features>" not in features:
        chunk = await reader.read(4096)
        if not chunk or len(features) > MAX_GREETING:
            raise _refused(target, "XMPP", features.decode("utf-8", "replace"))
        features += chunk
    if b"starttls" not in features:
        raise _refused(target, "XMPP", "no <starttls/> among the stream features")
    writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    answer = b""
    while b"<proceed" not in answer:
        chunk = await reader.read(4096)
        if not chunk or b"<failure" in answer or len(answer) > MAX_GREETING:
            raise _refused(target, "XMPP", answer.decode("utf-8", "replace"))
        answer += chunk


# LDAPMessage { messageID 1, extendedReq { requestName "1.3.6.1.4.1.1466.20037" } }
_LDAP_STARTTLS = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"


async def ldap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    writer.write(_LDAP_STARTTLS)
    answer = await reader.read(4096)
    # extendedResp [APPLICATION 24] whose resultCode (ENUMERATED) is success (0).
    if b"\x78" not in answer or b"\x0a\x01\x00" not in answer:
        raise _refused(target, "LDAP", answer.hex())


async def postgres(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    writer.write(struct.pack("!II", 8, 80877103))  # SSLRequest
    answer = await reader.readexactly(1)
    if answer != b"S":
        raise _refused(target, "PostgreSQL", "the server does not accept SSL connections")


_MYSQL_CLIENT_SSL = 0x0800
_MYSQL_CLIENT_PROTOCOL_41 = 0x0200
_MYSQL_CLIENT_SECURE_CONNECTION = 0x8000


async def mysql(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
    header = await reader.readexactly(4)
    length = int.from_bytes(header[:3], "little")
    greeting = await reader.readexactly(length)
    version_end = greeting.index(b"\x00", 1)
    # protocol(1) version\0 thread-id(4) salt(8) filler(1) capabilities-low(2)
    capabilities = int.from_bytes(greeting[version_end + 14 : version_end + 16], "little")
    if not capabilities & _MYSQL_CLIENT_SSL:
        raise _refused(target, "MySQL", "the server does not offer SSL")
    flags = _MYSQL_CLIENT_SSL | _MYSQL_CLIENT_PROTOCOL_41 | _MYSQL_CLIENT_SECURE_CONNECTION
    body = struct.pack("<IIB", flags, 16 * 1024 * 1024, 33) + bytes(23)
    writer.write(len(body).to_bytes(3, "little") + b"\x01" + body)


Preamble = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]

PREAMBLES: dict[Starttls, Preamble] = {
    Starttls.SMTP: smtp,
    Starttls.IMAP: imap,
    Starttls.POP3: pop3,
    Starttls.FTP: ftp,
    Starttls.XMPP: xmpp,
    Starttls.LDAP: ldap,
    Starttls.POSTGRES: postgres,
    Starttls.MYSQL: mysql,
}
