"""The one HTTP client for the outside world: AIA certificates, CRLs, OCSP.

Every fetch has a timeout and a size cap (CRLs can be tens of megabytes: the body is
streamed and cut off at the cap), follows at most three redirects, over http and https
only, and leaves a line in :attr:`Fetcher.log` for the report. Answers are cached per
URL: CRLs until their nextUpdate (the caller says when, once it has parsed one), other
documents for an hour.

The URLs come from certificates, that is from whoever made them: a :class:`FetchPolicy`
decides which addresses they may reach (never link-local or a cloud metadata service;
loopback only when the checked endpoint is on loopback itself; private ranges unless
switched off), for the first request and for every redirect. Each host name is resolved
once, its addresses checked, and the connection goes to the address checked, with the
URL's name in the Host header and in SNI: a second, different DNS answer (rebinding)
never gets a say. All downloads of one check share its deadline (``until``), so one
``--timeout`` bounds the whole check however slowly the servers answer.
See docs/security.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from tlsdoctor.models import FetchRecord

MAX_REDIRECTS = 3
DEFAULT_TIMEOUT = 5.0
# The most each kind of document may weigh; past it the download stops.
MAX_BYTES = {"aia": 1024 * 1024, "crl": 64 * 1024 * 1024, "ocsp": 256 * 1024}
DEFAULT_TTL = 3600.0
_CACHE_LIMIT = 1024


@dataclass(frozen=True)
class Fetched:
    """One document, or why there is none."""

    url: str
    content: bytes | None
    error: str | None = None
    status: int | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.content is not None


@dataclass
class _Entry:
    fetched: Fetched
    expires: float  # time.time()


# Keyed by policy too: what one policy let in is not served to a stricter one.
_CACHE: dict[tuple[str, str, FetchPolicy], _Entry] = {}


class FetchError(Exception):
    """A fetch that cannot succeed (bad scheme, too large, too many redirects, refused)."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance metadata services: the classic SSRF prize. By name, and by the addresses
# that are not link-local (AWS's IPv6 one, Alibaba's, Azure's wire server, ECS tasks').
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
# Private ranges (RFC 1918, CGNAT, ULA) are allowed unless switched off: internal PKIs
# publish their CRLs there. ``watch`` and the dashboard switch them off when they serve
# beyond loopback (tlsdoctor.web.serve).
_private_allowed = True


def allow_private_networks(allowed: bool) -> None:
    """Whether fetches of this process may reach private addresses (the default policy)."""
    global _private_allowed
    _private_allowed = allowed


@dataclass(frozen=True)
class FetchPolicy:
    """Which addresses a URL from a certificate may lead to."""

    loopback: bool = False
    private: bool = True

    @classmethod
    def near(cls, endpoint_address: str | None) -> FetchPolicy:
        """The policy for the check of an endpoint at ``endpoint_address``: loopback is
        allowed only when the endpoint itself is on loopback (a lab, a test)."""
        loopback = False
        if endpoint_address:
            try:
                loopback = _unmapped(ipaddress.ip_address(endpoint_address)).is_loopback
            except ValueError:
                loopback = False
        return cls(loopback=loopback, private=_private_allowed)

    @classmethod
    def for_files(cls) -> FetchPolicy:
        """Certificates read from files, fetching asked for explicitly (``--fetch``): the
        user chose the files and asked to follow them; link-local and metadata stay out."""
        return cls(loopback=True, private=_private_allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be fetched from, or None."""
        plain = _unmapped(address)
        if plain in METADATA_ADDRESSES:
            return "a cloud metadata service"
        if plain.is_link_local:
            return "a link-local address"
        if plain.is_loopback:  # before "reserved": Python counts ::1 in ::/8 as reserved
            return None if self.loopback else "loopback, and the checked endpoint is not"
        if plain.is_unspecified or plain.is_multicast or plain.is_reserved:
            return "not a unicast address"
        if not plain.is_global and not self.private:
            return "a private address, and private networks are switched off"
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass
class Fetcher:
    """An HTTP client with the limits above; one per check (or per scan)."""

    timeout: float = DEFAULT_TIMEOUT
    log: list[FetchRecord] = field(default_factory=list)
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    until: float | None = None  # time.monotonic() by which every download must be done
    _client: Any = None

    async def get(self, url: str, purpose: str) -> Fetched:
        """GET ``url`` (``purpose``: "aia" or "crl"), from the cache when still fresh."""
        entry = _CACHE.get((purpose, url, self.policy))
        if entry is not None and entry.expires > time.time():
            fetched = Fetched(url, entry.fetched.content, None, entry.fetched.status, True)
            self._note(purpose, fetched, 0.0)
            return fetched
        fetched = await self._request("GET", url, purpose, None, None)
        if fetched.ok and purpose != "crl":
            self.remember(purpose, fetched, time.time() + DEFAULT_TTL)
        return fetched

    async def post(self, url: str, purpose: str, body: bytes, content_type: str) -> Fetched:
        """POST ``body`` (an OCSP request) to ``url``; never cached."""
        return await self._request("POST", url, purpose, body, content_type)

    def remember(self, purpose: str, fetched: Fetched, until: float) -> None:
        """Keep ``fetched`` for later checks until ``until`` (seconds since the epoch)."""
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[(purpose, fetched.url, self.policy)] = _Entry(fetched, until)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------
    async def _request(
        self, method: str, url: str, purpose: str, body: bytes | None, content_type: str | None
    ) -> Fetched:
        started = time.monotonic()
        budget = self.budget()
        try:
            if budget <= 0:
                raise FetchError("not tried: the check's time (--timeout) was used up")
            fetched = await asyncio.wait_for(
                self._follow(method, url, purpose, body, content_type, budget), budget
            )
        except FetchError as exc:
            fetched = Fetched(url, None, str(exc))
        except asyncio.TimeoutError:
            fetched = Fetched(url, None, f"no answer within {budget:.3g} s")
        except Exception as exc:  # httpx's errors and OSError: data, not a crash
            fetched = Fetched(url, None, _describe(exc))
        self._note(purpose, fetched, time.monotonic() - started)
        return fetched

    def budget(self) -> float:
        """Seconds the next download may take: its own timeout, or what is left of the
        check's deadline if that is less."""
        if self.until is None:
            return self.timeout
        return min(self.timeout, self.until - time.monotonic())

    async def _follow(
        self,
        method: str,
        url: str,
        purpose: str,
        body: bytes | None,
        content_type: str | None,
        budget: float,
    ) -> Fetched:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.timeout,
                # identity: a compressed body could expand a thousandfold past the cap
                headers={"User-Agent": "tlsdoctor", "Accept-Encoding": "identity"},
                trust_env=False,
            )
        limit = MAX_BYTES.get(purpose, MAX_BYTES["aia"])
        seen: set[str] = set()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(current)
            if current in seen:
                raise FetchError(f"redirect loop back to {current}")
            seen.add(current)
            target, host_header, server_name = await self._checked_target(current)
            headers = {"Host": host_header}
            if content_type:
                headers["Content-Type"] = content_type
            request = self._client.build_request(
                method,
                target,
                content=body,
                headers=headers,
                extensions={"sni_hostname": server_name} if server_name else {},
                timeout=budget,
            )
            response = await self._client.send(request, stream=True)
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} without a Location")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    return Fetched(url, None, f"HTTP {response.status_code}", response.status_code)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise FetchError(
                        f"larger than the {limit // 1024} KiB allowed ({declared} bytes)"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(f"larger than the {limit // 1024} KiB allowed")
                    chunks.append(chunk)
                return Fetched(url, b"".join(chunks), None, response.status_code)
            finally:
                await response.aclose()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _checked_target(self, url: str) -> tuple[Any, str, str | None]:
        """The URL to request (with the checked address in place of the name), the Host
        header and the TLS server name; FetchError when the policy refuses it."""
        import httpx

        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii").lower().rstrip(".")
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise FetchError(f"not a usable URL ({exc})") from exc
        if not host:
            raise FetchError("a URL without a host")
        if host in METADATA_NAMES:
            raise FetchError(f"refusing {host}: a cloud metadata service")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await _resolve(host, port)
        for candidate in addresses:  # a name that also answers with a forbidden address
            refusal = self.policy.refusal(candidate)  # is refused as a whole
            if refusal is not None:
                raise FetchError(f"refusing {host} ({candidate}): {refusal}")
        address = addresses[0]
        target = httpx.URL(
            scheme=parsed.scheme, host=str(address), port=parsed.port, raw_path=parsed.raw_path
        )
        host_header = parsed.netloc.decode("ascii")
        literal = _literal(host)
        server_name = host if parsed.scheme == "https" and literal is None else None
        return target, host_header, server_name

    def _note(self, purpose: str, fetched: Fetched, seconds: float) -> None:
        self.log.append(
            FetchRecord(
                url=fetched.url,
                purpose=purpose,
                status=fetched.status,
                bytes=None if fetched.content is None else len(fetched.content),
                seconds=round(seconds, 4),
                cached=fetched.cached,
                error=fetched.error,
            )
        )


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"refusing the {scheme or 'missing'}:// scheme (http and https only)")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}"[:300] if text else name


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of ``host``, resolved once: the download connects to the first."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"{host}: no address ({exc.strerror or exc})") from exc
    addresses: list[IPAddress] = []
    for _, _, _, _, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"{host}: no address")
    return addresses
