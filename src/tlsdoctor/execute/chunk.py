"""What a Dask worker runs: the in-process scanner over one chunk of targets.

Nothing here imports Dask: a worker needs only tlsdoctor. Trust anchors travel as DER
(a parsed certificate cannot be pickled) and are parsed once per worker process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from dataclasses import dataclass
from importlib.metadata import version

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlsdoctor.anchors import TrustAnchors
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report, TrustAnchorSource
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.scan import scan


@functools.cache
def tlsdoctor_version() -> str:
    return version("tlsdoctor")


@dataclass(frozen=True)
class PortableAnchors:
    """:class:`TrustAnchors` as plain data: each source, and the roots of each kind."""

    sources: tuple[TrustAnchorSource, ...]
    roots: tuple[tuple[str, tuple[bytes, ...]], ...]  # (kind, DER of each root)

    @classmethod
    def of(cls, anchors: TrustAnchors) -> PortableAnchors:
        by_kind: dict[str, list[bytes]] = {}
        for anchor in anchors.anchors.values():
            der = anchor.facts.cert.public_bytes(Encoding.DER)
            for kind in sorted(anchor.kinds):
                by_kind.setdefault(kind, []).append(der)
        return cls(anchors.sources, tuple((k, tuple(v)) for k, v in sorted(by_kind.items())))

    def restore(self) -> TrustAnchors:
        """The same anchors: every root of a kind goes with the first source of that kind,
        which gives each root the same kinds and the report the same sources."""
        roots = dict(self.roots)
        sources: list[tuple[TrustAnchorSource, list[x509.Certificate]]] = []
        seen: set[str] = set()
        for source in self.sources:
            ders = roots.get(source.kind, ()) if source.kind not in seen else ()
            seen.add(source.kind)
            sources.append((source, [x509.load_der_x509_certificate(d) for d in ders]))
        return TrustAnchors(sources)


@dataclass(frozen=True)
class Chunk:
    """One task: endpoints and how to check them, all of it picklable."""

    endpoints: tuple[Endpoint, ...]
    options: LiveOptions  # without anchors: they are in ``anchors``
    anchors: PortableAnchors | None  # None: the worker's own defaults
    concurrency: int
    version: str  # the client's tlsdoctor: a worker with another one refuses the chunk

    @classmethod
    def of(cls, endpoints: tuple[Endpoint, ...], options: LiveOptions, concurrency: int) -> Chunk:
        anchors = None if options.anchors is None else PortableAnchors.of(options.anchors)
        return cls(
            endpoints,
            dataclasses.replace(options, anchors=None),
            anchors,
            concurrency,
            tlsdoctor_version(),
        )


class VersionMismatch(RuntimeError):
    """A worker runs another tlsdoctor than the client: reports could differ."""


@functools.lru_cache(maxsize=4)
def _restored(anchors: PortableAnchors) -> TrustAnchors:
    return anchors.restore()


def run_chunk(chunk: Chunk) -> list[Report]:
    """Check a chunk's endpoints in this worker; the reports in the chunk's order."""
    mine = tlsdoctor_version()
    if chunk.version != mine:
        raise VersionMismatch(
            f"this worker runs tlsdoctor {mine}, the client {chunk.version}: "
            "install the same version on both"
        )
    anchors = None if chunk.anchors is None else _restored(chunk.anchors)
    options = dataclasses.replace(chunk.options, anchors=anchors)
    concurrency = max(1, min(chunk.concurrency, len(chunk.endpoints)))

    async def collect() -> list[Report]:
        return [report async for report in scan(chunk.endpoints, options, concurrency=concurrency)]

    return asyncio.run(collect())
