"""The lab: a local badssl.com, one loopback endpoint per failure tlsdoctor diagnoses.

::

    with Lab() as lab:
        endpoint = lab.endpoint("expired")
        # connect to endpoint.address:endpoint.port with SNI endpoint.host, trusting
        # lab.ca_file: a correct diagnosis reports endpoint.expect

Everything listens on 127.0.0.1 only. Certificates are made at ``start()`` with dates
relative to the real clock and written to ``directory``: ``ca.pem`` (the lab root, what a
client trusts), ``NAME.pem``/``NAME.key`` (each TLS endpoint's chain as sent, and key), and
``client.pem``/``client.key``/``client-ca.pem`` (a client certificate the
client-cert-required endpoint accepts). The plain-http endpoint is also the lab's web
service: it publishes the lab intermediate at ``/intermediate.der`` (the
missing-intermediate leaf's AIA URL), and the Issuing CA's CRL at ``/issuing.crl`` and OCSP
responder at ``/ocsp`` (the good and revoked leaves' cRLDistributionPoints and OCSP URLs;
see ``revocation.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tlsdoctor.lab.pki import LabError, LabPki, key_pem
from tlsdoctor.lab.revocation import RevocationService
from tlsdoctor.lab.scenarios import (
    CRL_PATH,
    INTERMEDIATE_PATH,
    OCSP_PATH,
    SCENARIOS,
    Scenario,
    Served,
    Server,
)
from tlsdoctor.lab.servers import ServerThread, Service, server_context

__all__ = ["ENDPOINT_NAMES", "Lab", "LabEndpoint", "LabError"]

ADDRESS = "127.0.0.1"
BACKLOG = 64
ENDPOINT_NAMES: tuple[str, ...] = tuple(scenario.name for scenario in SCENARIOS)


@dataclass(frozen=True)
class LabEndpoint:
    """One running endpoint and the diagnosis it calls for."""

    name: str  # stable id: "good", "expired", ...
    host: str  # the name for SNI and verification, e.g. "expired.lab.tlsdoctor.test"
    address: str  # "127.0.0.1"
    port: int
    expect: tuple[str, ...]  # finding codes of a correct diagnosis, primary first
    description: str  # what a client should see / what is wrong
    starttls: str | None = None


class Lab:
    """Every endpoint of the lab; ``start()``/``stop()``, or use it as a context manager.

    ``directory`` receives the certificates and keys (a temporary directory, removed by
    ``stop()``, when None). ``port_base`` is the first of consecutive ports, one per
    endpoint in the order of ``ENDPOINT_NAMES``; None lets the OS choose free ports.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, port_base: int | None = None
    ) -> None:
        count = len(SCENARIOS)
        if port_base is not None and not 1 <= port_base <= 65536 - count:
            raise LabError(f"port_base must be between 1 and {65536 - count}, not {port_base}")
        self._requested = Path(directory) if directory is not None else None
        self._port_base = port_base
        self._directory: Path | None = None
        self._temporary = False
        self._servers: ServerThread | None = None
        self.endpoints: tuple[LabEndpoint, ...] = ()

    @property
    def directory(self) -> Path:
        """Where the certificates and keys of the running lab are."""
        if self._directory is None:
            raise LabError("the lab is not started")
        return self._directory

    @property
    def ca_file(self) -> Path:
        """The lab root in PEM: what a client must trust (``--ca-file``)."""
        return self.directory / "ca.pem"

    def endpoint(self, name: str) -> LabEndpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        if not self.endpoints:
            raise LabError("the lab is not started")
        raise LabError(f"no lab endpoint '{name}'; there are: {', '.join(ENDPOINT_NAMES)}")

    def start(self) -> None:
        """Make the certificates and start every server; return once all accept."""
        if self._servers is not None:
            raise LabError("the lab is already started")
        sockets = _listen(len(SCENARIOS), self._port_base)
        try:
            self._make_directory()
            services, endpoints = self._prepare(sockets)
            servers = ServerThread(services)
            servers.start()
        except BaseException:
            for sock in sockets:
                sock.close()
            self._remove_directory()
            raise
        self._servers = servers
        self.endpoints = endpoints

    def stop(self) -> None:
        """Stop every server (thread joined, sockets closed); idempotent."""
        servers, self._servers = self._servers, None
        self.endpoints = ()
        try:
            if servers is not None:
                servers.stop()
        finally:
            self._remove_directory()

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------
    def _make_directory(self) -> None:
        if self._requested is None:
            self._directory = Path(tempfile.mkdtemp(prefix="tlsdoctor-lab-"))
            self._temporary = True
            return
        try:
            self._requested.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabError(f"cannot create the lab directory {self._requested}: {exc}") from exc
        self._directory = self._requested

    def _remove_directory(self) -> None:
        if self._temporary and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._temporary = False
        self._directory = None

    def _prepare(
        self, sockets: list[socket.socket]
    ) -> tuple[list[Service], tuple[LabEndpoint, ...]]:
        """Certificates, files and a service for every scenario, on ``sockets`` in order."""
        folder = self.directory
        ports = {s.name: sock.getsockname()[1] for s, sock in zip(SCENARIOS, sockets, strict=True)}
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        web = f"http://{ADDRESS}:{ports['plain-http']}"
        pki = LabPki(now, web + INTERMEDIATE_PATH, web + CRL_PATH, web + OCSP_PATH)
        _write(folder / "ca.pem", pki.root.pem())
        _write(folder / "client-ca.pem", pki.client_ca.pem())
        _write(folder / "client.pem", pki.client.pem())
        _write(folder / "client.key", pki.client.key_pem(), private=True)
        contexts = {
            scenario.name: _tls_context(scenario, scenario.build(pki, scenario.host), folder)
            for scenario in SCENARIOS
            if scenario.build is not None
        }
        # Made once every certificate is issued: it answers for all of them.
        revocation = RevocationService(
            pki.intermediate,
            pki.issued_by(pki.intermediate),
            pki.revoked,
            crl_path=CRL_PATH,
            ocsp_path=OCSP_PATH,
        )
        published = {
            INTERMEDIATE_PATH: (
                "application/pkix-cert",
                pki.intermediate.cert.public_bytes(serialization.Encoding.DER),
            )
        }
        services: list[Service] = []
        endpoints: list[LabEndpoint] = []
        for scenario, sock in zip(SCENARIOS, sockets, strict=True):
            body = f"tlsdoctor lab: {scenario.name} ({scenario.host})\n{scenario.description}\n"
            context = contexts.get(scenario.name)
            if scenario.server is Server.PLAIN_HTTP:
                service = Service(scenario.name, sock, context, body, published, revocation.handle)
            else:
                service = Service(scenario.name, sock, context, body)
            services.append(service)
            endpoints.append(
                LabEndpoint(
                    name=scenario.name,
                    host=scenario.host,
                    address=ADDRESS,
                    port=ports[scenario.name],
                    expect=tuple(code.value for code in scenario.expect),
                    description=scenario.description,
                )
            )
        return services, tuple(endpoints)


def _tls_context(scenario: Scenario, served: Served, folder: Path) -> ssl.SSLContext:
    """The scenario's chain and key, written to ``folder``, loaded as its server sends them."""
    chain_file = folder / f"{scenario.name}.pem"
    key_file = folder / f"{scenario.name}.key"
    _write(chain_file, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in served.chain))
    _write(key_file, key_pem(served.key), private=True)
    client_ca = folder / "client-ca.pem" if scenario.server is Server.CLIENT_CERT else None
    try:
        return server_context(
            chain_file,
            key_file,
            legacy=scenario.server is Server.LEGACY_TLS,
            tls1_0_only=scenario.server is Server.TLS1_0_ONLY,
            client_ca_file=client_ca,
        )
    except ssl.SSLError as exc:
        raise LabError(f"the {scenario.name} endpoint cannot load its certificate: {exc}") from exc


def _listen(count: int, port_base: int | None) -> list[socket.socket]:
    """``count`` listening sockets on 127.0.0.1: consecutive from ``port_base``, or any."""
    sockets: list[socket.socket] = []
    try:
        for index in range(count):
            port = 0 if port_base is None else port_base + index
            try:
                sockets.append(socket.create_server((ADDRESS, port), backlog=BACKLOG))
            except OSError as exc:
                raise LabError(
                    f"the lab cannot listen on {ADDRESS}:{port}: {exc.strerror or exc}"
                ) from exc
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    try:
        path.write_bytes(data)
        if private:
            path.chmod(0o600)
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc}") from exc
