"""Endpoints for the watch tests: `openssl s_server` on a fixed loopback port that a test
starts and stops, so one target goes down and comes back as the same endpoint."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pki import Issued
from servers import free_port, running

DAY = dt.timedelta(days=1)


class Endpoint:
    """``name`` served by `openssl s_server` on 127.0.0.1, one port for its whole life."""

    def __init__(
        self,
        folder: Path,
        root: Issued,
        *,
        not_after: dt.datetime,
        name: str = "www.example.test",
        crl_url: str | None = None,
    ) -> None:
        self.name, self.root, self.crl_url = name, root, crl_url
        self.cert, self.key = folder / f"{name}.pem", folder / f"{name}.key"
        self.serve(not_after)
        self.port = free_port()

    def serve(self, not_after: dt.datetime, lifetime: dt.timedelta = 90 * DAY) -> None:
        """A new certificate (takes effect at the next ``up``)."""
        leaf = self.root.issue_leaf(
            [self.name], not_before=not_after - lifetime, not_after=not_after, crl_url=self.crl_url
        )
        self.cert.write_bytes(leaf.pem())
        self.key.write_bytes(leaf.key_pem())

    @property
    def target(self) -> str:
        return f"{self.name}:{self.port}"

    @contextmanager
    def up(self) -> Iterator[None]:
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}"]
        argv += ["-cert", str(self.cert), "-key", str(self.key), "-quiet"]
        with running(argv, "127.0.0.1", self.port):
            yield
