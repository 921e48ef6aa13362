"""Getting a certificate from an ACME CA (RFC 8555) with the ``acme`` library certbot uses.

HTTP-01: the CA fetches ``http://NAME/.well-known/acme-challenge/TOKEN`` on port 80,
answered either from the web server's own document root (``WebrootResponder``) or by a
small server of ours (``StandaloneResponder``). DNS-01 (certs/dns_challenge.py): a TXT
record at ``_acme-challenge.NAME``, the only way to a wildcard. An external account
binding (RFC 8555 section 7.3.4) ties a new account to one made on the CA's website
(ZeroSSL, Google, most commercial CAs). Every way the CA can say no becomes one
:class:`AcmeError` sentence that says what to change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import http.server
import json
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.certs.csr import build_csr, requested_names
from tlsdoctor.errors import InputError, TlsDoctorError
from tlsdoctor.remedy.files import key_pem, load_private_key, write_atomically

with warnings.catch_warnings():
    # On Python 3.10 acme announces that its next release drops 3.10: news for whoever
    # pins versions, not for someone renewing a certificate (pip picks a release that
    # still supports the interpreter).
    warnings.filterwarnings("ignore", "Python 3.10 support", DeprecationWarning)
    import acme  # noqa: F401 - imported here for the warning filter; used lazily below

if TYPE_CHECKING:
    from acme.client import ClientV2
    from josepy.jwk import JWKEC

KNOWN_DIRECTORIES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "zerossl": "https://acme.zerossl.com/v2/DV90",
    "buypass": "https://api.buypass.com/acme/directory",
    "google": "https://dv.acme-v02.api.pki.goog/directory",
}
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
USER_AGENT = "tlsdoctor"


class AcmeError(TlsDoctorError):
    """The CA refused, or could not be reached: the message says what to change."""


@dataclass(frozen=True)
class AcmeSettings:
    directory: str  # URL, or a name of KNOWN_DIRECTORIES
    account_dir: Path  # account keys, one per directory URL
    email: str | None = None
    agree_tos: bool = False
    directory_ca: Path | None = None  # verifies the CA's own HTTPS (a private or test CA)
    timeout: float = 90.0  # the whole order, polling included

    @property
    def directory_url(self) -> str:
        return KNOWN_DIRECTORIES.get(self.directory, self.directory)


@dataclass(frozen=True)
class Eab:
    """An external account binding: the key id and the base64url HMAC key the CA gave."""

    kid: str
    hmac_key: str


class ChallengeResponder(Protocol):
    """Publishes a challenge's answer where the CA will look for it.

    ``kind`` is the ACME challenge type answered ("http-01", "dns-01"); ``publish`` gets
    the name validated, the token and the answer (HTTP-01: the key authorisation served
    at ``/.well-known/acme-challenge/<token>``; DNS-01: the TXT record's value); ``settle``
    waits until everything published is visible to the CA.
    """

    kind: str

    def publish(self, name: str, token: str, validation: str) -> None: ...

    def settle(self) -> None: ...

    def withdraw(self, name: str, token: str) -> None: ...

    def describe(self) -> str: ...


class WebrootResponder:
    """Files in the web server's document root, removed afterwards."""

    def __init__(self, webroot: str | Path) -> None:
        self.webroot = Path(webroot)
        if not self.webroot.is_dir():
            raise InputError(f"{self.webroot}: no such directory (the --webroot to serve from)")
        self.folder = self.webroot / CHALLENGE_PREFIX.strip("/")
        self._created: list[Path] = []

    kind = "http-01"

    def publish(self, name: str, token: str, validation: str) -> None:
        for folder in (self.folder.parent, self.folder):
            if not folder.exists():
                try:
                    folder.mkdir(mode=0o755)
                except OSError as exc:
                    raise InputError(f"{folder}: cannot be created ({exc.strerror})") from exc
                self._created.append(folder)
        # Served to the CA by the web server, so readable by its user: 0644.
        write_atomically(self.folder / token, validation.encode(), force=True, mode=0o644)

    def settle(self) -> None:
        pass

    def withdraw(self, name: str, token: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / token).unlink()
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: other files there are not ours

    def describe(self) -> str:
        return f"files in {self.folder}"


class StandaloneResponder:
    """A small HTTP server answering the challenges (port 80 must be free)."""

    def __init__(self, address: str = "", port: int = 80) -> None:
        self.answers: dict[str, str] = {}
        answers = self.answers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.path.removeprefix(CHALLENGE_PREFIX)
                body = answers.get(token) if self.path.startswith(CHALLENGE_PREFIX) else None
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write((body or "").encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        try:
            self.server = _listen(address, port, Handler)
        except OSError as exc:
            where = f"{address or '*'}:{port}"
            raise InputError(
                f"cannot listen on {where} for the CA's challenge ({exc.strerror}): a web "
                "server already there? Use --webroot with its document root instead"
            ) from exc
        self.port = port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    kind = "http-01"

    def publish(self, name: str, token: str, validation: str) -> None:
        self.answers[token] = validation

    def settle(self) -> None:
        pass

    def withdraw(self, name: str, token: str) -> None:
        self.answers.pop(token, None)

    def describe(self) -> str:
        return f"a server of tlsdoctor's on port {self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class _DualStackServer(http.server.ThreadingHTTPServer):
    """IPv6 and IPv4 on one socket: the CA validates over IPv6 when the name has an AAAA
    record (Let's Encrypt prefers it), so a server on IPv4 only fails those names."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _listen(
    address: str, port: int, handler: type[http.server.BaseHTTPRequestHandler]
) -> http.server.ThreadingHTTPServer:
    """All addresses of both families when ``address`` is empty, else that address."""
    if address in ("", "::") and socket.has_ipv6:
        try:
            return _DualStackServer(("::", port), handler)
        except OSError as exc:
            if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise  # in use: said as such by the caller; no IPv6 here: IPv4 alone
    if ":" in address:

        class _V6Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6

        return _V6Server((address.strip("[]"), port), handler)
    return http.server.ThreadingHTTPServer((address, port), handler)


@dataclass(frozen=True)
class Issuance:
    chain: tuple[x509.Certificate, ...]  # leaf first, as the CA sent it
    names: tuple[str, ...]


def issue_certificate(
    settings: AcmeSettings,
    names: Sequence[str],
    key: PrivateKey,
    responder: ChallengeResponder,
    *,
    eab: Eab | None = None,
) -> Issuance:
    """Order a certificate for ``names`` signed over ``key``, answering the challenges
    of ``responder``'s kind."""
    from acme import errors, messages

    requested = requested_names(names, exact=True)
    if requested.ips:
        raise InputError("ACME here is for DNS names; IP address certificates are not")
    csr_pem = build_csr(requested, key).public_bytes(serialization.Encoding.PEM)
    deadline = dt.datetime.now() + dt.timedelta(seconds=settings.timeout)
    with _ca_errors(settings.directory_url):
        client, account_key = _client(settings, eab)
        order = client.new_order(csr_pem)
        published: list[tuple[str, str]] = []
        try:
            answers = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue
                name = authz.body.identifier.value
                if authz.body.wildcard:
                    name = "*." + name
                challenge = next(
                    (c for c in authz.body.challenges if c.chall.typ == responder.kind), None
                )
                if challenge is None:
                    offered = ", ".join(c.chall.typ for c in authz.body.challenges)
                    raise AcmeError(
                        f"the CA offers no {responder.kind.upper()} challenge for {name} (only "
                        f"{offered})"
                        + (
                            "; wildcards need DNS-01 (--dns-rfc2136, --dns-lexicon or --dns-hook)"
                            if name.startswith("*.")
                            else ""
                        )
                    )
                response, validation = challenge.response_and_validation(account_key)
                token = challenge.chall.encode("token")
                responder.publish(name.removeprefix("*."), token, validation)
                published.append((name.removeprefix("*."), token))
                answers.append((challenge, response))
            responder.settle()  # DNS: visible at every authoritative server first
            for challenge, response in answers:
                client.answer_challenge(challenge, response)
            try:
                finished = client.poll_and_finalize(order, deadline)
            except errors.ValidationError as exc:
                raise AcmeError(_validation_failure(exc, responder)) from exc
            except errors.TimeoutError as exc:
                raise AcmeError(
                    f"the CA did not finish the order within {settings.timeout:.0f} s "
                    "(--timeout to wait longer)"
                ) from exc
        finally:
            for name, token in published:
                responder.withdraw(name, token)
    from tlsdoctor.pem import parse_certificates

    chain = parse_certificates(finished.fullchain_pem.encode(), "the CA's answer")
    return Issuance(tuple(chain), (*requested.dns,))


def revoke(
    settings: AcmeSettings, certificate: x509.Certificate, reason: int, eab: Eab | None = None
) -> None:
    """Ask the CA to revoke ``certificate`` (RFC 8555 section 7.6) with this machine's
    account, which ordered it; ``reason`` is an RFC 5280 CRLReason code."""
    with _ca_errors(settings.directory_url):
        client, _ = _client(settings, eab)
        client.revoke(certificate, reason)


def _client(settings: AcmeSettings, eab: Eab | None = None) -> tuple[ClientV2, JWKEC]:
    """An ACME client with this machine's account at that CA (registered on first use)."""
    from acme import client as acme_client
    from acme import errors, messages
    from josepy.jwa import ES256
    from josepy.jwk import JWKEC

    account_path = _account_path(settings)
    existing = account_path.exists()
    if existing:
        account_key = load_private_key(account_path)
        if not isinstance(account_key, ec.EllipticCurvePrivateKey):
            raise InputError(f"{account_path}: not the EC account key tlsdoctor writes")
    else:
        account_key = ec.generate_private_key(ec.SECP256R1())
    jwk = JWKEC(key=account_key)
    network = acme_client.ClientNetwork(
        jwk,
        alg=ES256,
        verify_ssl=_verify(settings),
        user_agent=USER_AGENT,
        timeout=int(max(settings.timeout / 3, 5)),
    )
    directory = acme_client.ClientV2.get_directory(settings.directory_url, network)
    client = acme_client.ClientV2(directory, network)
    terms = directory.meta.terms_of_service
    if not existing and terms and not settings.agree_tos:
        raise AcmeError(
            f"a new account at this CA means agreeing to its terms of service ({terms}): "
            "read them, then run again with --agree-tos"
        )
    binding = None
    if not existing and eab is not None:
        try:
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=jwk.public_key(),
                kid=eab.kid,
                hmac_key=eab.hmac_key,
                directory=directory,
            )
        except (ValueError, TypeError) as exc:  # not base64url
            raise InputError(
                "the EAB HMAC key is not the base64url text the CA gave (ZeroSSL's and "
                "Google's dashboards show it as such)"
            ) from exc
    elif not existing and directory.meta.external_account_required:
        raise AcmeError(
            "this CA needs an external account binding: create an account on its website, "
            "then give the key id with --eab-kid and the HMAC key with --eab-hmac-key-env VAR "
            "or --eab-hmac-key-file FILE"
        )
    registration = messages.NewRegistration.from_data(
        email=settings.email,
        terms_of_service_agreed=bool(terms) or None,
        external_account_binding=binding,
    )
    try:
        network.account = client.new_account(registration)
    except errors.ConflictError as exc:
        # The key already has an account: the CA answers with its URL.
        network.account = messages.RegistrationResource(uri=exc.location, body=registration)
    if not existing:
        account_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(account_path, key_pem(account_key), force=False)
    return client, jwk


def _verify(settings: AcmeSettings) -> bool:
    # requests takes a CA file's path where the acme library's annotation says bool.
    return cast(bool, True if settings.directory_ca is None else str(settings.directory_ca))


def _account_path(settings: AcmeSettings) -> Path:
    digest = hashlib.sha256(settings.directory_url.encode()).hexdigest()[:16]
    return settings.account_dir / digest / "account.key"


@contextlib.contextmanager
def _ca_errors(url: str) -> Iterator[None]:
    """The acme library's and requests' exceptions, as one sentence each."""
    import requests
    from acme import errors, messages

    try:
        yield
    except (TlsDoctorError, KeyboardInterrupt):
        raise
    except messages.Error as exc:
        raise AcmeError(_ca_said(exc)) from exc
    except requests.exceptions.SSLError as exc:
        raise AcmeError(
            f"the CA at {url} has an HTTPS certificate this machine does not trust ({exc}); "
            "a private or test CA needs --directory-ca FILE"
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        raise AcmeError(f"cannot reach the CA at {url}: {_root_cause(exc)}") from exc
    except requests.exceptions.Timeout as exc:
        raise AcmeError(f"the CA at {url} did not answer in time") from exc
    except (errors.ClientError, ValueError, json.JSONDecodeError) as exc:
        raise AcmeError(f"{url} does not answer as an ACME CA does ({exc})") from exc


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "getaddrinfo" in text:
        return "the name does not resolve"
    return text


# What the CA's error types mean for the person running the command (RFC 8555 6.7).
_ADVICE = {
    "rateLimited": "rate limited by the CA: wait before retrying (the CA's detail names when)",
    "rejectedIdentifier": "the CA will not issue for this name",
    "caa": "a CAA DNS record of the domain forbids this CA: add the CA to it",
    "dns": "the CA could not look up the name in DNS",
    "connection": "the CA could not connect to the server on port 80",
    "unauthorized": "the CA did not find the expected answer at the challenge URL",
    "incorrectResponse": "the CA did not find the expected answer at the challenge URL",
    "badCSR": "the CA refused the request (CSR)",
    "accountDoesNotExist": "the CA does not know this account",
    "externalAccountRequired": "this CA needs an external account binding (EAB) from its website",
    "userActionRequired": "the CA needs something done on its website first",
}


def _ca_said(error: object) -> str:
    code = getattr(error, "code", None) or ""
    detail = getattr(error, "detail", None) or getattr(error, "description", None) or ""
    advice = _ADVICE.get(code)
    if advice:
        return f"{advice} (the CA said: {detail})" if detail else advice
    return f"the CA said: {detail or error}"


def _validation_failure(exc: object, responder: ChallengeResponder) -> str:
    failures = []
    for authz in getattr(exc, "failed_authzrs", []):
        name = authz.body.identifier.value
        for challenge in authz.body.challenges:
            if challenge.error is None:
                continue
            failures.append(f"{name}: {_ca_said(challenge.error)}")
    where = "; ".join(failures) or "no detail given"
    if responder.kind == "dns-01":
        return (
            f"the CA could not validate the names: {where}. The CA looks up the TXT record "
            f"_acme-challenge.NAME, which tlsdoctor published through {responder.describe()}: "
            "check that this is the zone the domain's NS records delegate to"
        )
    return (
        f"the CA could not validate the names: {where}. The CA fetches "
        f"http://NAME{CHALLENGE_PREFIX}TOKEN on port 80, which tlsdoctor served from "
        f"{responder.describe()}: check that NAME resolves to this server and that this is "
        "what port 80 serves"
    )


def suggested_renewal(settings: AcmeSettings, certificate: x509.Certificate) -> dt.datetime | None:
    """The start of the CA's renewal window for ``certificate`` (ACME Renewal Information),
    or None when the CA does not publish one or cannot say now: it is advice, never a
    reason to fail."""
    from acme import client as acme_client

    network = acme_client.ClientNetwork(
        None, verify_ssl=_verify(settings), user_agent=USER_AGENT, timeout=10
    )
    try:
        with _ca_errors(settings.directory_url):
            directory = acme_client.ClientV2.get_directory(settings.directory_url, network)
            try:
                directory["renewalInfo"]
            except KeyError:
                return None  # this CA publishes no renewal information
            client = acme_client.ClientV2(directory, network)
            start, _next_check = client.renewal_time(
                certificate.public_bytes(serialization.Encoding.PEM)
            )
    except AcmeError:
        return None
    return start
