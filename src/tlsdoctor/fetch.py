"""The one HTTP client for the outside world: AIA certificates, CRLs, OCSP.

Every fetch has a timeout and a size cap (CRLs can be tens of megabytes: the body is
streamed and cut off at the cap), follows at most three redirects, over http and https
only, and leaves a line in :attr:`Fetcher.log` for the report. Answers are cached per
URL: CRLs until their nextUpdate (the caller says when, once it has parsed one), other
documents for an hour.
"""

from __future__ import annotations

import asyncio
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


_CACHE: dict[tuple[str, str], _Entry] = {}


class FetchError(Exception):
    """A fetch that cannot succeed (bad scheme, too large, too many redirects)."""


@dataclass
class Fetcher:
    """An HTTP client with the limits above; one per check (or per scan)."""

    timeout: float = DEFAULT_TIMEOUT
    log: list[FetchRecord] = field(default_factory=list)
    _client: Any = None

    async def get(self, url: str, purpose: str) -> Fetched:
        """GET ``url`` (``purpose``: "aia" or "crl"), from the cache when still fresh."""
        entry = _CACHE.get((purpose, url))
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
        _CACHE[(purpose, fetched.url)] = _Entry(fetched, until)

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
        try:
            fetched = await asyncio.wait_for(
                self._follow(method, url, purpose, body, content_type), self.timeout
            )
        except FetchError as exc:
            fetched = Fetched(url, None, str(exc))
        except asyncio.TimeoutError:
            fetched = Fetched(url, None, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # httpx's errors and OSError: data, not a crash
            fetched = Fetched(url, None, _describe(exc))
        self._note(purpose, fetched, time.monotonic() - started)
        return fetched

    async def _follow(
        self, method: str, url: str, purpose: str, body: bytes | None, content_type: str | None
    ) -> Fetched:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.timeout,
                headers={"User-Agent": "tlsdoctor"},
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
            headers = {"Content-Type": content_type} if content_type else None
            request = self._client.build_request(method, current, content=body, headers=headers)
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
