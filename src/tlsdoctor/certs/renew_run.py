"""One renewal run, as a timer starts it: for each certificate, decide, order, check,
install, deploy; hooks around the whole run; a lock so two runs never overlap.

certbot's hook contract is kept: the pre-hook runs once before the first certificate
that is actually renewed, the post-hook once after the run when the pre-hook ran, the
deploy hook after each certificate installed, with ``RENEWED_LINEAGE`` (absolute) and
``RENEWED_DOMAINS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlsdoctor.certs.acme_issuance import (
    AcmeSettings,
    ChallengeResponder,
    Eab,
    StandaloneResponder,
    WebrootResponder,
    issue_certificate,
    suggested_renewal,
)
from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.certs.csr import KeyType, key_type_of, names_of, new_key, requested_names
from tlsdoctor.certs.lineage import Lineage
from tlsdoctor.certs.renewal import renewal_decision
from tlsdoctor.certs.renewal_config import RenewalConfig
from tlsdoctor.errors import InputError

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors


@dataclass(frozen=True)
class Outcome:
    """What happened to one certificate in a run."""

    folder: str
    names: tuple[str, ...]
    renewed: bool
    reason: str  # why it was (not) renewed, or the error
    failed: bool = False
    not_after: dt.datetime | None = None
    fullchain: str | None = None
    privkey: str | None = None
    version: str | None = None
    warnings: tuple[str, ...] = ()
    deploy_hook: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "folder": self.folder,
            "names": list(self.names),
            "renewed": self.renewed,
            "reason": self.reason,
        }
        if self.failed:
            data["failed"] = True
        if self.not_after is not None:
            data |= {
                "not_after": self.not_after.isoformat(),
                "fullchain": self.fullchain,
                "privkey": self.privkey,
                "version": self.version,
            }
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.deploy_hook:
            data["deploy_hook"] = self.deploy_hook
        return data


class RenewalLocked(InputError):
    """Another renewal run holds the lock."""


@contextlib.contextmanager
def renewal_lock(path: Path) -> Iterator[None]:
    """An exclusive lock for the run (flock: released by the kernel if the run dies)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            raise RenewalLocked(
                f"another tlsdoctor cert renew is running (pid {holder or 'unknown'}, lock "
                f"{path}): this run does nothing; the next one will renew what is due"
            ) from exc
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def acme_settings(config: RenewalConfig, account_dir: Path, agree_tos: bool) -> AcmeSettings:
    return AcmeSettings(
        directory=config.directory,
        account_dir=account_dir,
        email=config.email,
        agree_tos=agree_tos,
        directory_ca=None if config.directory_ca is None else Path(config.directory_ca),
        timeout=config.timeout,
    )


def name_change(
    config: RenewalConfig, current: Sequence[x509.Certificate] | None
) -> tuple[str, tuple[str, ...]] | None:
    """(why, warnings) when the names asked for differ from the certificate's; None when
    they are the same or there is no certificate yet."""
    if not current:
        return None
    have = _normalised(names_of(current[0]))
    want = _normalised(config.names)
    if have == want:
        return None
    added, dropped = sorted(want - have), sorted(have - want)
    warnings = tuple(
        f"{name} is no longer asked for: the new certificate will not cover it" for name in dropped
    )
    change = ", ".join([*(f"+{n}" for n in added), *(f"-{n}" for n in dropped)])
    return f"the names changed ({change})", warnings


def decide(
    config: RenewalConfig, settings: AcmeSettings, now: dt.datetime
) -> tuple[bool, str, tuple[str, ...]]:
    """(due, why, warnings) for ``config``'s certificate: due when there is none yet,
    when its names differ from the ones asked for, or by the renewal rule (the CA's ARI
    window when it publishes one)."""
    current = Lineage(config.folder).current_chain()
    if not current:
        return True, "no certificate yet", ()
    changed = name_change(config, current)
    if changed is not None:
        return True, *changed
    before = (
        None if config.renew_before_days is None else dt.timedelta(days=config.renew_before_days)
    )
    decision = renewal_decision(current[0], now, renew_before=before)
    if not decision.due:
        suggested = suggested_renewal(settings, current[0])
        decision = renewal_decision(current[0], now, renew_before=before, suggested=suggested)
    return decision.due, decision.reason, ()


def _normalised(names: Sequence[str]) -> set[str]:
    requested = requested_names(list(names), exact=True)
    return {*requested.dns, *map(str, requested.ips)}


def renew(
    config: RenewalConfig,
    settings: AcmeSettings,
    anchors_files: Sequence[str],
    *,
    reason: str,
    warnings: tuple[str, ...] = (),
    eab: Eab | None = None,
) -> Outcome:
    """Order, check, install and deploy ``config``'s certificate now."""
    from tlsdoctor.anchors import anchors_from_files, default_anchors

    lineage = Lineage(config.folder)
    lineage.prepare()  # an unwritable folder fails before the CA is asked anything
    anchors = anchors_from_files(anchors_files) if anchors_files else default_anchors()
    key = renewal_key(lineage, config.reuse_key, config.key_type)
    responder: ChallengeResponder
    server = None
    if config.challenge == "webroot":
        assert config.webroot is not None
        responder = WebrootResponder(config.webroot)
    elif config.challenge == "standalone":
        responder = server = StandaloneResponder(config.http_address, config.http_port)
    else:
        responder = dns_responder(config)
    try:
        issuance = issue_certificate(settings, config.names, key, responder, eab=eab)
    finally:
        if server is not None:
            server.close()
    recheck(issuance.chain, config.names, anchors, custom=bool(anchors_files))
    installed = lineage.install(issuance.chain, key)
    leaf = issuance.chain[0]
    outcome = Outcome(
        folder=config.folder,
        names=config.names,
        renewed=True,
        reason=reason,
        not_after=leaf.not_valid_after_utc,
        fullchain=str(installed.fullchain),
        privkey=str(installed.privkey),
        version=str(installed.version),
        warnings=warnings,
    )
    if config.deploy_hook:
        environment = {
            # certbot's RENEWED_LINEAGE is absolute (/etc/letsencrypt/live/NAME): hooks
            # run from another directory, where a relative one would point nowhere.
            "RENEWED_LINEAGE": os.path.abspath(installed.live),
            "RENEWED_DOMAINS": " ".join(config.names),
        }
        run_hook(config.deploy_hook, "deploy", config.timeout, environment, installed=True)
        outcome = dataclasses.replace(outcome, deploy_hook=config.deploy_hook)
    return outcome


def dns_responder(config: RenewalConfig) -> ChallengeResponder:
    """The DNS-01 responder ``config`` names (RFC 2136, dns-lexicon or a hook)."""
    from tlsdoctor.certs import dns_challenge

    if config.dns_rfc2136 is not None:
        server = dns_challenge.Nameserver.parse(config.dns_rfc2136)
        key = dns_challenge.read_tsig(config.dns_tsig_key)
        return dns_challenge.Rfc2136Responder(server, key, config.dns_timeout)
    if config.dns_lexicon is not None:
        return dns_challenge.LexiconResponder(config.dns_lexicon, config.dns_timeout)
    assert config.dns_hook is not None
    return dns_challenge.HookDnsResponder(config.dns_hook, config.timeout)


def renewal_key(lineage: Lineage, reuse_key: bool, key_type: str) -> PrivateKey:
    """The key to certify: the current one (``reuse_key``, only of the type asked for), or
    a new one of ``key_type``."""
    from tlsdoctor.remedy.files import load_private_key

    key_path = lineage.current_key_path()
    if not reuse_key or key_path is None:
        return new_key(KeyType(key_type))
    loaded = load_private_key(key_path)
    if not isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError(f"{key_path}: an EC or RSA key is needed")
    current = key_type_of(loaded)
    if current is None or current.value != key_type:
        raise InputError(
            f"--reuse-key keeps the current {current or 'key'}, but the key type asked for is "
            f"{key_type}: drop one of them (a new key type needs a new key)"
        )
    return loaded


def recheck(
    chain: Sequence[x509.Certificate], names: Sequence[str], anchors: TrustAnchors, *, custom: bool
) -> None:
    """A new certificate is installed only once tlsdoctor's own diagnosis trusts it for
    every name: a CA-side mistake (a missing name, a chain to a root nobody has) must not
    replace a working certificate."""
    from tlsdoctor.check import check_chain
    from tlsdoctor.codes import Verdict

    for name in names:
        host = "wildcard-check" + name[1:] if name.startswith("*.") else name
        with warnings.catch_warnings():
            # A CA may put a name over 64 characters in the CN (pebble 2.4 does; Let's
            # Encrypt leaves it out): cryptography warns when reading it, the SAN decides.
            warnings.filterwarnings("ignore", "Attribute's length must be", UserWarning)
            report = check_chain(list(chain), host, anchors=anchors, check_revocation=False)
        if report.verdict is not Verdict.TRUSTED:
            problems = "; ".join(f.message for f in report.findings)
            raise InputError(
                f"the CA's certificate for {name} does not pass tlsdoctor's check, so it was "
                f"not installed (the one in use stays): {problems}"
                + ("" if custom else " (a private or test CA's root: --ca-file ROOT)")
            )


def run_hook(
    command: str,
    what: str,
    timeout: float,
    environment: Mapping[str, str] = {},
    *,
    installed: bool = False,
) -> None:
    """Run a hook through the shell; a failure or a hang is one sentence."""
    before = "the certificate is installed, but " if installed else ""
    try:
        done = subprocess.run(
            command,
            shell=True,
            env={**os.environ, **environment},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{before}the {what} hook did not finish in {timeout:.0f} s") from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()[-500:]
        raise InputError(
            f"{before}the {what} hook failed with exit code {done.returncode}"
            + (f": {said}" if said else "")
        )
