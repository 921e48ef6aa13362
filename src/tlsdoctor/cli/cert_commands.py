"""`tlsdoctor cert ...`: the options of each certificate command (the work is in cli/cert*.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tlsdoctor.cli.vocabulary import (
    CA_DIRECTORY,
    CA_KEY_PASSPHRASE,
    KEY_TYPE,
    KEY_TYPES,
    LEAF_DAYS,
    OUTPUT_HERE,
    REPLACE_FILES,
    WRITTEN_AS_JSON,
)


@click.group()
def cert() -> None:
    """Keys and CSRs with the names visitors type (example.com AND www.example.com)."""


@cert.command("csr")
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@KEY_TYPE
@click.option("--from-cert", metavar="FILE", help="Renew: the names and subject of FILE.")
@click.option("--from-host", metavar="HOST", help="Renew: the names of what HOST serves.")
@OUTPUT_HERE
@click.option("--force", is_flag=True, help="Replace an existing key or CSR file.")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Encrypt the new key with the passphrase in $VAR (reading a PKCS#12 or an "
    "encrypted key is --password elsewhere).",
)
@WRITTEN_AS_JSON
def cert_csr(
    names: Sequence[str],
    exact: bool,
    key_type: str,
    from_cert: str | None,
    from_host: str | None,
    output: str,
    force: bool,
    passphrase_env: str | None,
    as_json: bool,
) -> int:
    """A new private key (0600) and a CSR whose SANs cover what visitors type."""
    from tlsdoctor.cli.cert import csr

    return csr(
        names,
        exact=exact,
        key_type=key_type,
        from_cert=from_cert,
        from_host=from_host,
        output=output,
        force=force,
        passphrase_env=passphrase_env,
        as_json=as_json,
    )


@cert.group("ca")
def cert_ca() -> None:
    """A local CA for internal networks, limited to the names you give."""


@cert_ca.command("init")
@click.option("--name", required=True, help="The CA's name, e.g. 'Acme Internal CA'.")
@click.option(
    "--permit",
    "permits",
    multiple=True,
    metavar="NAME|NET",
    help="What it may sign for: acme.test, 10.0.0.0/8 (repeat).",
)
@click.option("-o", "--output", metavar="DIR", help="Default: tlsdoctor's data directory.")
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=3650,
    show_default=True,
    help="How long the CA is valid.",
)
@KEY_TYPE
@click.option("--force", is_flag=True, help="Replace an existing CA (its leaves stop working).")
@click.option("--trust", is_flag=True, help="Then add it to every trust store here.")
@click.option("--yes", is_flag=True, help="With --trust: do not ask (scripts).")
@click.option("--intermediate", is_flag=True, help="Two levels: the root key can go offline.")
@click.option("--subject-constraint", is_flag=True, help="Constrain subjects too (Go refuses).")
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Encrypt the new CA key(s) with the passphrase in $VAR (--password reads files).",
)
@click.option("--ask-passphrase", is_flag=True, help="Encrypt the CA key(s); ask twice.")
@WRITTEN_AS_JSON
def cert_ca_init(
    name: str,
    permits: Sequence[str],
    output: str | None,
    days: int,
    key_type: str,
    force: bool,
    trust: bool,
    yes: bool,
    intermediate: bool,
    subject_constraint: bool,
    passphrase_env: str | None,
    ask_passphrase: bool,
    as_json: bool,
) -> int:
    """Create the CA: a name-constrained root (ca.pem) and its key (ca.key, 0600)."""
    from tlsdoctor.cli.cert_ca import ca_init

    return ca_init(
        name,
        permits,
        output=output,
        days=days,
        key_type=key_type,
        force=force,
        as_json=as_json,
        trust=trust,
        yes=yes,
        intermediate=intermediate,
        subject_constraint=subject_constraint,
        passphrase_env=passphrase_env,
        ask_passphrase=ask_passphrase,
    )


@cert_ca.command("sign")
@click.argument("csr_path", metavar="REQ.csr")
@CA_DIRECTORY
@OUTPUT_HERE
@LEAF_DAYS
@click.option("--client", is_flag=True, help="A client certificate (clientAuth).")
@CA_KEY_PASSPHRASE
@REPLACE_FILES
@WRITTEN_AS_JSON
def cert_ca_sign(
    csr_path: str,
    ca_dir: str | None,
    output: str,
    days: int,
    client: bool,
    passphrase_env: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """Sign someone's CSR: its names only, within the CA's constraints."""
    from tlsdoctor.cli.cert_ca import sign_request

    return sign_request(
        csr_path,
        ca_dir=ca_dir,
        output=output,
        days=days,
        client=client,
        force=force,
        as_json=as_json,
        passphrase_env=passphrase_env,
    )


@cert.command("renew")
@click.option(
    "--acme-directory",
    "directory",
    metavar="URL|NAME",
    help="The CA's ACME directory URL, or letsencrypt, letsencrypt-staging, zerossl, ...",
)
@click.option("--domain", "domains", multiple=True, metavar="NAME", help="Repeat per name.")
@click.option("--webroot", metavar="DIR", help="The document root port 80 serves.")
@click.option("--standalone", is_flag=True, help="Answer the challenge with our own server.")
@click.option("--dns-rfc2136", metavar="ADDR[:PORT]", help="DNS-01: dynamic updates to ADDR.")
@click.option("--dns-tsig-key", metavar="FILE", help="With --dns-rfc2136: tsig-keygen's file.")
@click.option("--dns-lexicon", metavar="PROVIDER", help="DNS-01: a dns-lexicon provider.")
@click.option("--dns-hook", metavar="CMD", help="DNS-01: CMD sets/removes the TXT record.")
@click.option("--dns-timeout", type=click.FloatRange(1), help="Wait for the TXT record [120].")
@click.option("--http-address", metavar="ADDR", help="With --standalone [all, IPv6 too].")
@click.option("--http-port", type=click.IntRange(1, 65535), help="With --standalone [80].")
@click.option("-o", "--output", metavar="DIR", help="Default: ./FIRST-DOMAIN (live/ inside).")
@click.option("--email", help="Contact address for the CA's expiry notices.")
@click.option("--agree-tos", is_flag=True, help="Agree to the CA's terms (new accounts).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), help="A new key's type [ec-p256].")
@click.option("--reuse-key/--no-reuse-key", default=None, help="Keep the current private key.")
@click.option("--if-due", is_flag=True, help="Only when a third of the lifetime remains.")
@click.option(
    "--renew-before",
    "renew_before_days",
    type=click.IntRange(0),
    metavar="DAYS",
    help="With --if-due: renew when fewer than DAYS days remain.",
)
@click.option("--pre-hook", metavar="CMD", help="Run once before the first renewal.")
@click.option("--post-hook", metavar="CMD", help="Run once after the renewals.")
@click.option("--deploy-hook", metavar="CMD", help="Run after installing, e.g. a reload.")
@click.option("--directory-ca", metavar="FILE", help="Verify a private CA's HTTPS with FILE.")
@click.option(
    "--ca-file",
    "ca_files",
    multiple=True,
    metavar="FILE",
    help="Roots to check the new certificate against (a private or test CA).",
)
@click.option("--eab-kid", metavar="KID", help="External account binding: the key id.")
@click.option("--eab-hmac-key-env", metavar="VAR", help="The EAB HMAC key is in $VAR.")
@click.option("--eab-hmac-key-file", metavar="FILE", help="The EAB HMAC key is in FILE.")
@click.option("--timeout", type=click.FloatRange(1), help="For the whole order [90].")
@click.option("--all", "renew_all", is_flag=True, help="Every stored certificate that is due.")
@WRITTEN_AS_JSON
def cert_renew(**options: Any) -> int:
    """Get or renew a certificate from an ACME CA (Let's Encrypt, ...), check it, install
    it under DIR/live/ and run the deploy hook; the settings are stored for renewals."""
    from tlsdoctor.cli.cert_renew import RenewOptions, renew

    options["domains"] = tuple(options["domains"])
    options["ca_files"] = tuple(options["ca_files"])
    return renew(RenewOptions(**options))


@cert.command("revoke")
@click.option("-o", "--output", metavar="DIR", required=True, help="The certificate's folder.")
@click.option(
    "--reason",
    type=click.Choice(["unspecified", "keyCompromise", "superseded", "cessationOfOperation"]),
    default="unspecified",
    show_default=True,
    help="The revocation reason the CA records (keyCompromise for a leaked key).",
)
@click.option("--delete", is_flag=True, help="Then forget its renewal settings.")
@WRITTEN_AS_JSON
def cert_revoke(output: str, reason: str, delete: bool, as_json: bool) -> int:
    """Ask the CA to revoke the certificate in DIR/live (a leaked key, a name given up)."""
    from tlsdoctor.cli.cert_renew import revoke

    return revoke(output, reason=reason, delete=delete, as_json=as_json)


@cert.command("schedule")
@click.option("--cron", is_flag=True, help="A crontab line instead of systemd units.")
@click.option("--install", "install_dir", metavar="DIR", help="Write the units into DIR.")
@click.option("--user", is_flag=True, help="Units for the user's systemd (no root).")
def cert_schedule(cron: bool, install_dir: str | None, user: bool) -> int:
    """How to run `cert renew --all` twice a day with a random delay: systemd or cron."""
    from tlsdoctor.cli.cert_renew import schedule

    return schedule(cron=cron, install_dir=install_dir, user=user)


@cert.command("issue")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@CA_DIRECTORY
@OUTPUT_HERE
@LEAF_DAYS
@KEY_TYPE
@click.option("--exact", is_flag=True, help="Only the names given: no www/apex partner.")
@click.option("--client", is_flag=True, help="A client certificate for one identity.")
@click.option("--p12", is_flag=True, help="With --client: also a PKCS#12 file.")
@click.option("--p12-passphrase-env", metavar="VAR", help="The .p12 passphrase is in $VAR.")
@CA_KEY_PASSPHRASE
@REPLACE_FILES
@WRITTEN_AS_JSON
def cert_issue(
    names: Sequence[str],
    ca_dir: str | None,
    output: str,
    days: int,
    key_type: str,
    exact: bool,
    client: bool,
    p12: bool,
    p12_passphrase_env: str | None,
    passphrase_env: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """A server (or --client) certificate from the local CA, checked before it is written."""
    from tlsdoctor.cli.cert_ca import issue_leaf

    return issue_leaf(
        names,
        ca_dir=ca_dir,
        output=output,
        days=days,
        key_type=key_type,
        exact=exact,
        force=force,
        as_json=as_json,
        client=client,
        p12=p12,
        p12_passphrase_env=p12_passphrase_env,
        passphrase_env=passphrase_env,
    )
