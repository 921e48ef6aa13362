"""``tlsdoctor cert``: a key and a CSR with the names visitors will type; a local CA and
the leaves it issues."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.markup import escape

from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.certs.csr import (
    KeyType,
    RequestedNames,
    build_csr,
    names_of,
    new_key,
    requested_names,
)
from tlsdoctor.cli.cert_ca import refuse_existing
from tlsdoctor.errors import InputError
from tlsdoctor.remedy.files import key_pem, write_atomically
from tlsdoctor.render.text import make_console


def csr(
    names: Sequence[str],
    *,
    exact: bool,
    key_type: str,
    from_cert: str | None,
    from_host: str | None,
    output: str,
    force: bool,
    passphrase_env: str | None,
    as_json: bool,
) -> int:
    """``cert csr``: a new key and a CSR for ``names`` (or, renewing, for the names and
    subject of a deployed certificate)."""
    subject: x509.Name | None = None
    typed = list(names)
    if from_cert is not None or from_host is not None:
        deployed = _deployed(from_cert, from_host)
        typed = names_of(deployed) + typed
        subject = deployed.subject  # renewal: the same subject, a new key
        exact = True
        if not typed:
            raise InputError("the deployed certificate names no host (no SAN and no CN)")
    requested = requested_names(typed, exact=exact)
    key = new_key(KeyType(key_type))
    request = build_csr(requested, key, subject)
    folder = Path(output)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such directory")
    stem = requested.common_name.replace("*", "wildcard")
    key_path, csr_path = folder / f"{stem}.key", folder / f"{stem}.csr"
    refuse_existing((key_path, csr_path), force)
    write_atomically(key_path, _key_bytes(key, passphrase_env), force=force)
    write_atomically(csr_path, request.public_bytes(serialization.Encoding.PEM), force=force)
    if as_json:
        print(
            json.dumps(
                {
                    "names": [*requested.dns, *map(str, requested.ips)],
                    "added": [{"name": name, "why": why} for name, why in requested.added],
                    "key_type": key_type,
                    "key": str(key_path),
                    "csr": str(csr_path),
                }
            )
        )
        return 0
    _print_summary(requested, key_type, key_path, csr_path, passphrase_env is not None)
    return 0


def _deployed(from_cert: str | None, from_host: str | None) -> x509.Certificate:
    if from_cert is not None:
        from tlsdoctor.pem import load_certificates

        return load_certificates(from_cert)[0]
    assert from_host is not None
    from tlsdoctor.cli.options import served_chain

    return served_chain(from_host)[0]


def _key_bytes(key: PrivateKey, passphrase_env: str | None) -> bytes:
    if passphrase_env is None:
        return key_pem(key)
    passphrase = os.environ.get(passphrase_env)
    if not passphrase:
        raise InputError(f"${passphrase_env} is empty or unset: it must hold the key's passphrase")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def _print_summary(
    requested: RequestedNames, key_type: str, key_path: Path, csr_path: Path, encrypted: bool
) -> None:
    console = make_console()
    console.print(f"[bold]Names requested[/] ({key_type} key):")
    why = dict(requested.added)
    for name in [*requested.dns, *map(str, requested.ips)]:
        note = f"  [dim]added: {escape(why[name])}[/]" if name in why else ""
        console.print(f"  {escape(name)}{note}")
    console.print(f"\nkey: {escape(str(key_path))} (mode 0600: stays on the server, never sent)")
    console.print(f"csr: {escape(str(csr_path))}")
    if encrypted:
        console.print(
            "[yellow]The key is encrypted: nginx and Apache then ask for the passphrase at "
            "every start (or need ssl_password_file / SSLPassPhraseDialog).[/]"
        )
    wildcard = any(name.startswith("*.") for name in requested.dns)
    challenge = (
        "--manual --preferred-challenges dns  (wildcards need DNS-01)"
        if wildcard
        else "--webroot -w /var/www/html"
    )
    console.print(
        "\nNext:\n"
        f"  check it:        openssl req -in {csr_path} -noout -text\n"
        f"  Let's Encrypt:   certbot certonly --csr {csr_path} {challenge}\n"
        "  another CA:      paste the CSR into its order form (server type: 'Apache/nginx' "
        "or 'other'), then install the certificate WITH its intermediates\n"
        f"  after install:   tlsdoctor check {requested.common_name.removeprefix('*.')}",
        soft_wrap=True,
    )


def renew(
    domains: Sequence[str],
    *,
    directory: str,
    webroot: str | None,
    standalone: bool,
    http_address: str,
    http_port: int,
    output: str | None,
    email: str | None,
    agree_tos: bool,
    key_type: str,
    reuse_key: bool,
    if_due: bool,
    renew_before_days: int | None,
    deploy_hook: str | None,
    directory_ca: str | None,
    ca_files: Sequence[str],
    timeout: float,
    as_json: bool,
) -> int:
    """``cert renew``: a certificate from an ACME CA, checked, installed, deployed."""
    import datetime as dt

    from tlsdoctor.certs.acme_issuance import (
        AcmeSettings,
        ChallengeResponder,
        StandaloneResponder,
        WebrootResponder,
        issue_certificate,
        suggested_renewal,
    )
    from tlsdoctor.certs.lineage import Lineage
    from tlsdoctor.certs.renewal import renewal_decision
    from tlsdoctor.check import utc_now
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    if (webroot is None) == (not standalone):
        raise InputError("say how the CA's challenge is answered: --webroot DIR or --standalone")
    if not domains and output is None:
        raise InputError("--domain NAME is needed (or -o DIR of an earlier certificate)")
    lineage = Lineage(output if output is not None else domains[0])
    current = lineage.current_chain()
    names = list(domains) or (names_of(current[0]) if current else [])
    if not names:
        raise InputError(f"{lineage.folder}: no certificate yet, so --domain NAME is needed")
    settings = AcmeSettings(
        directory=directory,
        account_dir=tlsdoctor_data_dir() / "acme",
        email=email,
        agree_tos=agree_tos,
        directory_ca=None if directory_ca is None else Path(directory_ca),
        timeout=timeout,
    )
    renew_before = None if renew_before_days is None else dt.timedelta(days=renew_before_days)
    if if_due and current:
        now = utc_now()
        decision = renewal_decision(current[0], now, renew_before=renew_before)
        if not decision.due:
            suggested = suggested_renewal(settings, current[0])
            decision = renewal_decision(
                current[0], now, renew_before=renew_before, suggested=suggested
            )
        if not decision.due:
            skipped: dict[str, object] = {"renewed": False, "reason": decision.reason}
            _say_renewal(as_json, skipped, f"not renewed, not due yet: {decision.reason}")
            return 0
    lineage.prepare()  # an unwritable folder fails before the CA is asked anything
    key_path = lineage.current_key_path()
    if reuse_key and key_path is not None:
        from tlsdoctor.remedy.files import load_private_key

        loaded = load_private_key(key_path)
        if not isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise InputError(f"{key_path}: an EC or RSA key is needed")
        key: PrivateKey = loaded
    else:
        key = new_key(KeyType(key_type))
    responder: ChallengeResponder
    server = None
    if webroot is not None:
        responder = WebrootResponder(webroot)
    else:
        responder = server = StandaloneResponder(http_address, http_port)
    try:
        issuance = issue_certificate(settings, names, key, responder)
    finally:
        if server is not None:
            server.close()
    _recheck(issuance.chain, names, ca_files)
    installed = lineage.install(issuance.chain, key)
    leaf = issuance.chain[0]
    result: dict[str, object] = {
        "renewed": True,
        "names": names,
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "fullchain": str(installed.fullchain),
        "privkey": str(installed.privkey),
        "version": str(installed.version),
    }
    message = (
        f"issued {', '.join(names)}, valid until {leaf.not_valid_after_utc:%Y-%m-%d}, "
        f"checked: trusted\nfullchain: {installed.fullchain}\nprivkey:   {installed.privkey}"
    )
    if deploy_hook:
        _run_deploy_hook(deploy_hook, installed.live, names, timeout)
        result["deploy_hook"] = deploy_hook
        message += f"\ndeploy hook ran: {deploy_hook}"
    _say_renewal(as_json, result, message)
    return 0


def _recheck(
    chain: Sequence[x509.Certificate], names: Sequence[str], ca_files: Sequence[str]
) -> None:
    """A new certificate is installed only once tlsdoctor's own diagnosis trusts it for
    every name: a CA-side mistake (a missing name, a chain to a root nobody has) must not
    replace a working certificate."""
    from tlsdoctor.anchors import anchors_from_files, default_anchors
    from tlsdoctor.check import check_chain
    from tlsdoctor.codes import Verdict

    anchors = anchors_from_files(ca_files) if ca_files else default_anchors()
    for name in names:
        report = check_chain(list(chain), name, anchors=anchors, check_revocation=False)
        if report.verdict is not Verdict.TRUSTED:
            problems = "; ".join(f.message for f in report.findings)
            raise InputError(
                f"the CA's certificate for {name} does not pass tlsdoctor's check, so it was "
                f"not installed (the one in use stays): {problems}"
                + ("" if ca_files else " (a private or test CA's root: --ca-file ROOT)")
            )


def _run_deploy_hook(command: str, live: Path, names: Sequence[str], timeout: float) -> None:
    """certbot's contract: the hook gets RENEWED_LINEAGE and RENEWED_DOMAINS."""
    import subprocess

    environment = {**os.environ, "RENEWED_LINEAGE": str(live), "RENEWED_DOMAINS": " ".join(names)}
    try:
        done = subprocess.run(
            command,
            shell=True,
            env=environment,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InputError(
            f"the certificate is installed, but the deploy hook did not finish in {timeout:.0f} s"
        ) from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()[-500:]
        raise InputError(
            f"the certificate is installed, but the deploy hook failed with exit code "
            f"{done.returncode}" + (f": {said}" if said else "")
        )


def _say_renewal(as_json: bool, result: dict[str, object], message: str) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        make_console().print(escape(message), soft_wrap=True)
