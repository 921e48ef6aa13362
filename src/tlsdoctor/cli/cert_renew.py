"""``tlsdoctor cert renew`` / ``cert revoke`` / ``cert schedule``: certificates from an
ACME CA, renewed by a timer with the settings stored at first issuance."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.markup import escape

from tlsdoctor.certs.acme_issuance import Eab
from tlsdoctor.certs.renew_run import Outcome
from tlsdoctor.certs.renewal_config import Registry, RenewalConfig
from tlsdoctor.errors import InputError
from tlsdoctor.render.text import make_console

MAX_SECRET_BYTES = 4096


@dataclass(frozen=True)
class RenewOptions:
    """``cert renew``'s options as typed: None is "not given" (the stored value holds)."""

    domains: tuple[str, ...] = ()
    directory: str | None = None
    webroot: str | None = None
    standalone: bool = False
    dns_hook: str | None = None
    dns_rfc2136: str | None = None
    dns_tsig_key: str | None = None
    dns_lexicon: str | None = None
    dns_timeout: float | None = None
    http_address: str | None = None
    http_port: int | None = None
    output: str | None = None
    email: str | None = None
    agree_tos: bool = False
    key_type: str | None = None
    reuse_key: bool | None = None
    if_due: bool = False
    renew_before_days: int | None = None
    pre_hook: str | None = None
    post_hook: str | None = None
    deploy_hook: str | None = None
    directory_ca: str | None = None
    ca_files: tuple[str, ...] = ()
    eab_kid: str | None = None
    eab_hmac_key_env: str | None = None
    eab_hmac_key_file: str | None = None
    timeout: float | None = None
    renew_all: bool = False
    as_json: bool = False


def registry() -> Registry:
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    return Registry(tlsdoctor_data_dir() / "renewal")


def renew(options: RenewOptions) -> int:
    """``cert renew``: one certificate (names, or ``-o DIR`` of an earlier one), or
    ``--all`` stored ones, each with its own settings."""
    store = registry()
    if options.renew_all:
        given = [options.domains, options.output, options.directory, options.webroot]
        if any(given) or options.standalone or _challenge(options):
            raise InputError(
                "--all renews every stored certificate with its own settings: give no names, "
                "-o, CA or challenge with it (change one certificate with cert renew -o DIR)"
            )
        configs: list[RenewalConfig | InputError] = [c for _, c in store.all()]
        if not configs:
            raise InputError(
                f"no certificate to renew: none was issued with cert renew yet ({store.folder})"
            )
        return _run(store, configs, options, if_due=True)
    config = _config_from(options, store)
    _read_files_now(config)
    return _run(store, [config], options, if_due=options.if_due)


def _config_from(options: RenewOptions, store: Registry) -> RenewalConfig:
    """The stored settings of the certificate, changed by what was typed; or, the first
    time, new settings from what was typed (the defaults for the rest)."""
    from tlsdoctor.certs.csr import key_type_of, names_of
    from tlsdoctor.certs.lineage import Lineage
    from tlsdoctor.remedy.files import load_private_key

    if not options.domains and options.output is None:
        raise InputError("--domain NAME is needed (or -o DIR of an earlier certificate)")
    folder = os.path.abspath(options.output if options.output is not None else options.domains[0])
    typed: dict[str, Any] = {
        "directory": options.directory,
        "names": options.domains or None,
        "challenge": _challenge(options),
        "webroot": _absolute(options.webroot),
        "http_address": options.http_address,
        "http_port": options.http_port,
        "dns_hook": options.dns_hook,
        "dns_rfc2136": options.dns_rfc2136,
        "dns_tsig_key": _absolute(options.dns_tsig_key),
        "dns_lexicon": options.dns_lexicon,
        "dns_timeout": options.dns_timeout,
        "email": options.email,
        "key_type": options.key_type,
        "reuse_key": options.reuse_key,
        "renew_before_days": options.renew_before_days,
        "pre_hook": options.pre_hook,
        "post_hook": options.post_hook,
        "deploy_hook": options.deploy_hook,
        "directory_ca": _absolute(options.directory_ca),
        "ca_files": tuple(map(os.path.abspath, options.ca_files)) or None,
        "eab_kid": options.eab_kid,
        "timeout": options.timeout,
    }
    stored = store.load(folder)
    if stored is not None:
        return stored.with_changes(**typed)
    if options.directory is None:
        raise InputError(
            "--acme-directory URL|NAME is needed the first time (it is stored for renewals)"
        )
    if typed["challenge"] is None:
        raise InputError(
            "say how the CA's challenge is answered: --webroot DIR, --standalone, "
            "--dns-rfc2136 SERVER, --dns-lexicon PROVIDER or --dns-hook CMD"
        )
    lineage = Lineage(folder)
    current = lineage.current_chain()
    typed["names"] = options.domains or tuple(names_of(current[0]) if current else ())
    if not typed["names"]:
        raise InputError(f"{folder}: no certificate yet, so --domain NAME is needed")
    key_path = lineage.current_key_path()
    if options.key_type is None and options.reuse_key and key_path is not None:
        # Reusing the key of a certificate renewed before settings were stored: its type.
        loaded = load_private_key(key_path)
        if isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            found = key_type_of(loaded)
            typed["key_type"] = None if found is None else found.value
    return RenewalConfig(folder=folder, **{k: v for k, v in typed.items() if v is not None})


def _challenge(options: RenewOptions) -> str | None:
    chosen = [
        name
        for name, given in (
            ("webroot", options.webroot is not None),
            ("standalone", options.standalone),
            ("dns", options.dns_hook is not None),
            ("dns", options.dns_rfc2136 is not None),
            ("dns", options.dns_lexicon is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise InputError(
            "one way to answer the challenge: --webroot, --standalone, --dns-rfc2136, "
            "--dns-lexicon or --dns-hook"
        )
    return chosen[0] if chosen else None


def _absolute(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def _read_files_now(config: RenewalConfig) -> None:
    """Every file named is read now: a missing one must fail before the CA is asked."""
    from tlsdoctor.anchors import anchors_from_files
    from tlsdoctor.pem import load_certificates

    if config.ca_files:
        anchors_from_files(config.ca_files)
    if config.directory_ca is not None:
        try:
            load_certificates(config.directory_ca)
        except InputError as exc:
            raise InputError(f"--directory-ca {exc}") from exc


def _eab(options: RenewOptions, config: RenewalConfig) -> Eab | None:
    """The binding for a new account: the HMAC key from $VAR or a file, never argv."""
    if options.eab_hmac_key_env is not None and options.eab_hmac_key_file is not None:
        raise InputError("the EAB HMAC key from one place: --eab-hmac-key-env or -file")
    secret: str | None = None
    if options.eab_hmac_key_env is not None:
        secret = os.environ.get(options.eab_hmac_key_env, "").strip()
        if not secret:
            raise InputError(f"${options.eab_hmac_key_env} is empty or unset: the EAB HMAC key")
    elif options.eab_hmac_key_file is not None:
        from tlsdoctor.certs.inputs import read_bounded

        data = read_bounded(options.eab_hmac_key_file, MAX_SECRET_BYTES, "an EAB HMAC key")
        secret = data.decode("ascii", errors="replace").strip()
    if (secret is None) != (config.eab_kid is None):
        if secret is None and options.eab_kid is None:
            return None  # a stored kid: the account exists, the binding is not needed again
        raise InputError(
            "an external account binding needs both --eab-kid and the HMAC key "
            "(--eab-hmac-key-env VAR or --eab-hmac-key-file FILE)"
        )
    return None if secret is None or config.eab_kid is None else Eab(config.eab_kid, secret)


def _run(
    store: Registry,
    configs: Sequence[RenewalConfig | InputError],
    options: RenewOptions,
    *,
    if_due: bool,
) -> int:
    from tlsdoctor.certs.lineage import Lineage
    from tlsdoctor.certs.renew_run import (
        acme_settings,
        decide,
        name_change,
        renew,
        renewal_lock,
        run_hook,
    )
    from tlsdoctor.check import utc_now
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    account_dir = tlsdoctor_data_dir() / "acme"
    outcomes: list[Outcome] = []
    single = len(configs) == 1 and not options.renew_all
    pre_hooks_run: list[str] = []
    post_hooks: list[str] = []
    with renewal_lock(store.folder / ".lock"):
        for config in configs:
            if isinstance(config, InputError):
                outcomes.append(Outcome("?", (), False, str(config), failed=True))
                continue
            try:
                settings = acme_settings(config, account_dir, options.agree_tos)
                eab = _eab(options, config) if single else None
                due, reason = True, "renewal asked for"
                warnings: tuple[str, ...] = ()
                if if_due:
                    due, reason, warnings = decide(config, settings, utc_now())
                else:
                    changed = name_change(config, Lineage(config.folder).current_chain())
                    warnings = changed[1] if changed else ()
                if not due:
                    outcomes.append(Outcome(config.folder, config.names, False, reason))
                    store.save(config)
                    continue
                if config.pre_hook and config.pre_hook not in pre_hooks_run:
                    run_hook(config.pre_hook, "pre", config.timeout)
                    pre_hooks_run.append(config.pre_hook)
                if config.post_hook and config.post_hook not in post_hooks:
                    post_hooks.append(config.post_hook)
                outcome = renew(
                    config,
                    settings,
                    config.ca_files,
                    reason=reason,
                    warnings=warnings,
                    eab=eab,
                )
                store.save(config)
                outcomes.append(outcome)
            except InputError as exc:
                if single:
                    _post_hooks(post_hooks, options)
                    raise
                outcomes.append(Outcome(config.folder, config.names, False, str(exc), failed=True))
        _post_hooks(post_hooks, options)
    return _report(outcomes, options, single)


def _post_hooks(hooks: Sequence[str], options: RenewOptions) -> None:
    from tlsdoctor.certs.renew_run import run_hook

    for hook in hooks:
        run_hook(hook, "post", options.timeout or 90.0)


def _report(outcomes: Sequence[Outcome], options: RenewOptions, single: bool) -> int:
    failed = [o for o in outcomes if o.failed]
    if options.as_json:
        data = (
            outcomes[0].as_dict() if single else {"certificates": [o.as_dict() for o in outcomes]}
        )
        print(json.dumps(data))
        return 3 if failed else 0
    console = make_console()
    for outcome in outcomes:
        console.print(escape(_sentence(outcome)), soft_wrap=True)
    if failed and not single:
        console.print(f"{len(failed)} of {len(outcomes)} certificates could not be renewed")
    return 3 if failed else 0


def _sentence(outcome: Outcome) -> str:
    names = ", ".join(outcome.names) or outcome.folder
    if outcome.failed:
        return f"{names}: not renewed: {outcome.reason}"
    if not outcome.renewed:
        return f"{names}: not renewed, not due yet: {outcome.reason}"
    lines = [
        f"issued {names} ({outcome.reason}), valid until "
        f"{outcome.not_after:%Y-%m-%d}, checked: trusted",
        f"fullchain: {outcome.fullchain}",
        f"privkey:   {outcome.privkey}",
    ]
    lines += [f"warning: {w}" for w in outcome.warnings]
    if outcome.deploy_hook:
        lines.append(f"deploy hook ran: {outcome.deploy_hook}")
    return "\n".join(lines)


REASONS = {"unspecified": 0, "keyCompromise": 1, "superseded": 4, "cessationOfOperation": 5}


def revoke(output: str, *, reason: str, delete: bool, as_json: bool) -> int:
    """``cert revoke -o DIR``: the certificate in DIR/live, revoked by the CA that issued
    it, asked with the account that ordered it (its settings are the stored ones)."""
    from tlsdoctor.certs.acme_issuance import revoke as ask_revocation
    from tlsdoctor.certs.lineage import Lineage
    from tlsdoctor.certs.renew_run import acme_settings
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    store = registry()
    folder = os.path.abspath(output)
    config = store.load(folder)
    if config is None:
        raise InputError(f"{folder}: no renewal settings here (was it issued with cert renew?)")
    current = Lineage(folder).current_chain()
    if not current:
        raise InputError(f"{folder}: no certificate in live/ to revoke")
    settings = acme_settings(config, tlsdoctor_data_dir() / "acme", agree_tos=False)
    ask_revocation(settings, current[0], REASONS[reason])
    if delete:
        store.remove(folder)
    serial = f"{current[0].serial_number:x}"
    if as_json:
        print(json.dumps({"revoked": True, "serial": serial, "reason": reason, "folder": folder}))
        return 0
    make_console().print(
        escape(
            f"revoked {', '.join(config.names)} (serial {serial}, reason {reason}); "
            + ("its renewal settings are deleted" if delete else "cert renew would order anew")
        ),
        soft_wrap=True,
    )
    return 0


def schedule(*, cron: bool, install_dir: str | None, user: bool) -> int:
    """``cert schedule``: print (or write) the timer that runs ``cert renew --all``."""
    import sys

    from tlsdoctor.certs.schedule import TIMER, cron_line, systemd_units
    from tlsdoctor.remedy.files import write_atomically

    command = [sys.executable, "-m", "tlsdoctor"]
    console = make_console()
    if cron:
        if install_dir is not None:
            raise InputError("--install writes systemd units; add the cron line with crontab -e")
        console.print(escape(cron_line(command)), soft_wrap=True)
        return 0
    units = systemd_units(command)
    if install_dir is None:
        for name, text in units.items():
            console.print(escape(f"# {name}\n{text}"), soft_wrap=True)
        where = "~/.config/systemd/user" if user else "/etc/systemd/system"
        console.print(escape(f"# install: tlsdoctor cert schedule --install {where}"))
        return 0
    folder = Path(install_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder}: no such directory")
    for name, text in units.items():
        write_atomically(folder / name, text.encode(), force=True)
    systemctl = "systemctl --user" if user else "systemctl"
    console.print(
        escape(
            f"wrote {', '.join(str(folder / n) for n in units)}\n"
            f"then: {systemctl} daemon-reload && {systemctl} enable --now {TIMER}"
        ),
        soft_wrap=True,
    )
    return 0
