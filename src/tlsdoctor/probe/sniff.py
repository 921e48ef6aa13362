"""What a port speaks when it does not speak TLS: its banner, or its answer to HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str  # "HTTP", "SSH", "SMTP", ...
    said: str  # the first line the server sent, printable
    advice: str  # what to do instead


_ADVICE = {
    "HTTP": "it serves plain HTTP: use http://, or the HTTPS port (usually 443)",
    "SSH": "it is an SSH server: check the port number",
    "SMTP": "use --starttls smtp (automatic on ports 25 and 587) or the implicit-TLS port 465",
    "FTP": "use --starttls ftp (automatic on port 21) or implicit FTPS on port 990",
    "IMAP": "use --starttls imap (automatic on port 143) or the implicit-TLS port 993",
    "POP3": "use --starttls pop3 (automatic on port 110) or the implicit-TLS port 995",
    "XMPP": "use --starttls xmpp (automatic on port 5222)",
    "MySQL": "use --starttls mysql (automatic on port 3306)",
    "Redis": "it is a Redis server without TLS: check the port number",
}


def classify(data: bytes) -> Protocol | None:
    """The protocol whose first bytes these are, if recognised."""
    text = data[:200].decode("latin-1")
    first = text.split("\n", 1)[0].strip()
    upper = first.upper()
    name = None
    if upper.startswith("HTTP/"):
        name = "HTTP"
    elif upper.startswith("SSH-"):
        name = "SSH"
    elif upper.startswith("220") and ("FTP" in upper or "FILEZILLA" in upper):
        name = "FTP"
    elif upper.startswith("220"):
        name = "SMTP"
    elif upper.startswith("* OK"):
        name = "IMAP"
    elif upper.startswith("+OK"):
        name = "POP3"
    elif upper.startswith(("<?XML", "<STREAM")):
        name = "XMPP"
    elif upper.startswith(("-ERR", "+PONG", "-NOAUTH")):
        name = "Redis"
    elif len(data) > 5 and data[4] == 10 and b"\x00" in data[5:40]:
        name = "MySQL"
    if name is None:
        return None
    printable = "".join(ch if ch.isprintable() else "." for ch in first)[:120]
    return Protocol(name, printable, _ADVICE[name])


async def identify(address: str, port: int, wait: float) -> Protocol | None:
    """Connect in plaintext: read a banner, else ask HTTP, and classify the answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), wait)
    try:
        try:
            banner = await asyncio.wait_for(reader.read(512), min(wait, 1.0))
        except asyncio.TimeoutError:
            banner = b""
        if not banner:
            writer.write(b"HEAD / HTTP/1.0\r\nUser-Agent: tlsdoctor\r\n\r\n")
            try:
                banner = await asyncio.wait_for(reader.read(512), wait)
            except asyncio.TimeoutError:
                banner = b""
        return classify(banner) if banner else None
    finally:
        writer.close()
