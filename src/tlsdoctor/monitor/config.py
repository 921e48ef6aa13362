"""The watch's files: the watch list (import/export) and the settings (alerts, notifiers).

Both are TOML. A watch list::

    [defaults]
    every = "6h"

    [[target]]
    name = "shop.example.com"
    [[target]]
    name = "mail.example.com:587"      # STARTTLS from the port
    every = "1h"
    labels = ["mail", "prod"]

or a plain list, one ``HOST[:PORT] [ADDR]`` a line, as ``check -f`` reads. The settings::

    [alerts]
    lifetime_relative = true     # the spec's window: min(30 days, a third of the lifetime)
    expiry_days = [7, 1]         # then these
    confirm_errors = 2           # checks in a row that cannot connect before "broken"
    [check]
    timeout = 10
    concurrency = 50
    ca_files = ["internal-root.pem"]   # trusted besides the public roots (relative to this file)
    public_roots = true                # false: trust only ca_files
    [[notify]]
    kind = "email"               # see tlsdoctor.monitor.notify for every key
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tlsdoctor.codes import FindingCode
from tlsdoctor.errors import InputError
from tlsdoctor.monitor.rules import AlertPolicy
from tlsdoctor.probe.targets import Endpoint, Starttls, parse_target, read_targets
from tlsdoctor.watch_model import DEFAULT_EVERY, WatchTarget, format_every

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_POLICY_FLAGS = ("lifetime_relative", "new_findings", "certificate_changes")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EVERY = re.compile(r"(\d+)\s*([smhdw])")
MIN_EVERY = dt.timedelta(minutes=1)
_TARGET_HEADER = re.compile(r"\s*\[\[\s*target\s*\]\]")


def parse_duration(text: str) -> dt.timedelta:
    """``30s``, ``30m``, ``6h``, ``1d``, ``2w``, ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    parts = _EVERY.findall(compact)
    if not compact or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise InputError(f"'{text}' is not a duration: use e.g. 30m, 6h, 1d or 1h30m")
    return dt.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


_KEEP = re.compile(r"(\d+)\s*([dwy])")
_KEEP_UNITS = {"d": 1, "w": 7, "y": 365}


def parse_keep(text: str) -> dt.timedelta:
    """How much history ``watch prune`` keeps: days, weeks or years (``90d``, ``26w``,
    ``1y``). Minutes and hours are refused: ``6m`` reads as six months to some and six
    minutes to others, and a prune cannot be undone."""
    compact = text.strip().lower().replace(" ", "")
    parts = _KEEP.findall(compact)
    if not compact or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise InputError(
            f"--keep '{text}' is not a length of history: give days, weeks or years,"
            " e.g. 180d, 26w or 1y (m, h and s are not accepted: 6m could mean minutes"
            " or months)"
        )
    return dt.timedelta(days=sum(int(n) * _KEEP_UNITS[u] for n, u in parts))


def parse_every(text: str) -> dt.timedelta:
    """How often a target is checked: a duration of at least a minute."""
    every = parse_duration(text)
    if every < MIN_EVERY:
        raise InputError(f"'{text}': checking more often than once a minute is not supported")
    return every


def watch_target(
    text: str,
    *,
    every: dt.timedelta = DEFAULT_EVERY,
    starttls: str | None = None,
    servername: str | None = None,
    connect: str | None = None,
    labels: Sequence[str] = (),
) -> WatchTarget:
    """A target as the user typed it, named canonically (``host:port``) so that
    ``shop.example.com``, ``shop.example.com:443`` and ``https://shop.example.com/`` are one."""
    protocol = None if starttls is None else _starttls(starttls)
    endpoint = parse_target(text, connect=connect, starttls=protocol)
    return _watched(
        endpoint,
        every=every,
        servername=servername,
        connect=endpoint.connect if connect is None else connect,
        labels=labels,
    )


def _watched(
    endpoint: Endpoint,
    *,
    every: dt.timedelta = DEFAULT_EVERY,
    servername: str | None = None,
    connect: str | None = None,
    labels: Sequence[str] = (),
) -> WatchTarget:
    # Host names are case-insensitive: Shop.Example.com and shop.example.com are one target.
    named = replace(endpoint, host=endpoint.host.lower())
    return WatchTarget(
        name=str(named),
        every=every,
        starttls=None if endpoint.starttls is None else endpoint.starttls.value,
        servername=servername,
        connect=connect,
        labels=tuple(labels),
    )


def _starttls(value: str) -> Starttls:
    try:
        return Starttls(value.lower())
    except ValueError:
        known = ", ".join(p.value for p in Starttls)
        raise InputError(f"starttls '{value}' is not one of {known}") from None


def read_watchlist(path: str | Path) -> list[WatchTarget]:
    """Targets from a TOML watch list or a plain list of ``HOST[:PORT] [ADDR]`` lines."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{source}: cannot be read ({reason})") from exc
    if source.suffix.lower() != ".toml" and "[[target]]" not in text:
        return _plain_list(source)
    data = _toml(source, text)
    unknown = set(data) - {"defaults", "target", "group"}
    if unknown:
        raise InputError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    defaults = _table(data.get("defaults", {}), f"{source} [defaults]")
    _known_keys(defaults, _SETTING_KEYS | {"every"}, f"{source} [defaults]")
    groups = _table(data.get("group", {}), f"{source} [group]")
    for group, table in groups.items():
        _known_keys(
            _table(table, f"{source} [group.{group}]"),
            _SETTING_KEYS | {"every", "labels"},
            f"{source} [group.{group}]",
        )
    entries = data.get("target", [])
    if not isinstance(entries, list):
        raise InputError(f"{source}: 'target' must be an array of tables ([[target]])")
    # Where each [[target]] table starts, so that an error names the line to fix.
    starts = [n for n, line in enumerate(text.splitlines(), 1) if _TARGET_HEADER.match(line)]
    targets = []
    for number, raw in enumerate(entries, start=1):
        line = f":{starts[number - 1]}" if len(starts) == len(entries) else ""
        where = f"{source}{line} target {number}"
        entry = _table(raw, where)
        _known_keys(entry, _TARGET_KEYS, where)
        if not isinstance(entry.get("name"), str):
            raise InputError(f"{where}: 'name' (a host, host:port or URL) is required")
        group_name = entry.get("group")
        if group_name is not None and group_name not in groups:
            raise InputError(f"{where}: group {group_name!r} has no [group.{group_name}] table")
        # The target's own keys win over its group's, which win over [defaults].
        merged = {**defaults, **(groups[group_name] if group_name else {}), **entry}
        labels = merged.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise InputError(f"{where}: 'labels' must be a list of strings")
        try:
            target = watch_target(
                entry["name"],
                every=parse_every(str(merged.get("every", format_every(DEFAULT_EVERY)))),
                starttls=_optional_text(entry, "starttls", where),
                servername=_optional_text(entry, "servername", where),
                connect=_optional_text(entry, "connect", where),
                labels=labels,
            )
            targets.append(replace(target, **_target_settings(merged, source.parent)))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from exc
    return targets


_SETTING_KEYS = frozenset({"ca_files", "warn_days", "ignore", "ignore_reason", "mute_until"})
_TARGET_KEYS = _SETTING_KEYS | {
    "name",
    "every",
    "starttls",
    "servername",
    "connect",
    "labels",
    "group",
}


def _known_keys(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = set(table) - known
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _target_settings(entry: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The per-target settings of a watch-list entry (its group's and defaults merged)."""
    settings: dict[str, Any] = {}
    ca_files = entry.get("ca_files", [])
    if not isinstance(ca_files, list) or not all(isinstance(v, str) and v for v in ca_files):
        raise InputError("'ca_files' must be a list of file names")
    settings["ca_files"] = tuple(str(folder / name) for name in ca_files)  # relative to the list
    warn_days = entry.get("warn_days")
    if warn_days is not None:
        if isinstance(warn_days, bool) or not isinstance(warn_days, int) or warn_days < 1:
            raise InputError("'warn_days' must be a whole number of days, at least 1")
        settings["warn_days"] = warn_days
    ignore = entry.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(v, str) for v in ignore):
        raise InputError("'ignore' must be a list of finding codes")
    unknown = sorted(set(ignore) - set(FindingCode._value2member_map_))
    if unknown:
        raise InputError(f"'ignore': {', '.join(unknown)} is not a finding code")
    settings["ignore"] = tuple(ignore)
    reason = entry.get("ignore_reason")
    if reason is not None and not isinstance(reason, str):
        raise InputError("'ignore_reason' must be a string")
    if ignore and not reason:
        raise InputError("'ignore' needs an 'ignore_reason': say why, for whoever reads it next")
    settings["ignore_reason"] = reason
    settings["mute_until"] = _moment(entry.get("mute_until"))
    return settings


def parse_moment(text: str) -> dt.datetime:
    """``2026-12-31`` (its start, UTC) or ``2026-12-31T08:00:00Z`` (with an offset)."""
    try:
        value: dt.date = (
            dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if "T" in text
            else dt.date.fromisoformat(text.strip())
        )
    except ValueError:
        raise InputError(
            f"'{text}' is not a date: use 2026-12-31 or 2026-12-31T08:00:00Z"
        ) from None
    moment = _moment(value)
    assert moment is not None
    return moment


def _moment(value: object) -> dt.datetime | None:
    """A TOML date (2026-12-31: its start, UTC) or date-time (with an offset)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InputError("'mute_until' needs an offset (2026-12-31T08:00:00Z) or a date")
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    raise InputError("'mute_until' must be a TOML date (2026-12-31) or date-time")


def _plain_list(source: Path) -> list[WatchTarget]:
    """``check -f``'s format, read by the same reader."""
    return [_watched(endpoint, connect=endpoint.connect) for endpoint in read_targets(source)]


def watchlist_toml(targets: Iterable[WatchTarget]) -> str:
    """The watch list as TOML, which ``read_watchlist`` reads back to the same targets."""
    import tomli_w

    entries = []
    for target in targets:
        entry: dict[str, Any] = {"name": target.name, "every": format_every(target.every)}
        for key in ("starttls", "servername", "connect"):
            value = getattr(target, key)
            if value is not None:
                entry[key] = value
        if target.labels:
            entry["labels"] = list(target.labels)
        for key in ("ca_files", "ignore"):
            if getattr(target, key):
                entry[key] = list(getattr(target, key))
        for key in ("warn_days", "ignore_reason", "mute_until"):
            if getattr(target, key) is not None:
                entry[key] = getattr(target, key)
        entries.append(entry)
    return tomli_w.dumps({"target": entries})


@dataclass(frozen=True)
class WatchSettings:
    """What ``watch once`` / ``watch run`` / ``watch serve`` read from the settings file."""

    policy: AlertPolicy = field(default_factory=AlertPolicy)
    notify: tuple[Mapping[str, Any], ...] = ()  # for notify.notifiers_from_config
    timeout: float = 10.0
    concurrency: int = 50
    ca_files: tuple[str, ...] = ()  # roots trusted besides the public ones (a private PKI)
    public_roots: bool = True  # false: trust only ca_files (the lab, an air-gapped PKI)
    source: Path | None = None


def default_settings_path() -> Path:
    """``$TLSDOCTOR_HOME/.config/tlsdoctor/watch.toml`` (sandboxes), else XDG's config
    directory, else ``~/.config/tlsdoctor/watch.toml``."""
    home = os.environ.get("TLSDOCTOR_HOME")
    if home:
        return Path(home) / ".config" / "tlsdoctor" / "watch.toml"
    base = os.environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "tlsdoctor" / "watch.toml"


def read_settings(path: str | Path | None = None) -> WatchSettings:
    """The settings file; a missing default file means the defaults, a missing named one
    is an error."""
    source = Path(path) if path is not None else default_settings_path()
    if not source.exists():
        if path is not None:
            raise InputError(f"{source}: no such settings file")
        return WatchSettings()
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot be read ({exc})") from exc
    data = _toml(source, text)
    unknown = set(data) - {"alerts", "notify", "check"}
    if unknown:
        raise InputError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    settings = WatchSettings(source=source)
    alerts = _table(data.get("alerts", {}), f"{source} [alerts]")
    policy = settings.policy
    for key, value in alerts.items():
        where = f"{source} [alerts] {key}"
        if key == "expiry_days":
            if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
                raise InputError(f"{where}: a list of positive whole days, e.g. [7, 1]")
            policy = replace(policy, expiry_windows=tuple(dt.timedelta(days=v) for v in value))
        elif key == "confirm_errors":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{where}: a whole number of checks, at least 1")
            policy = replace(policy, confirm_errors=value)
        elif key in ("lifetime_relative", "new_findings", "certificate_changes"):
            if not isinstance(value, bool):
                raise InputError(f"{where}: true or false")
            flags = {name: getattr(policy, name) for name in _POLICY_FLAGS}
            flags[key] = value
            policy = AlertPolicy(
                lifetime_relative=flags["lifetime_relative"],
                expiry_windows=policy.expiry_windows,
                new_findings=flags["new_findings"],
                certificate_changes=flags["certificate_changes"],
                confirm_errors=policy.confirm_errors,
            )
        else:
            raise InputError(f"{where}: unknown setting")
    check = _table(data.get("check", {}), f"{source} [check]")
    timeout, concurrency, ca_files = settings.timeout, settings.concurrency, settings.ca_files
    public_roots = settings.public_roots
    for key, value in check.items():
        where = f"{source} [check] {key}"
        if key == "timeout" and isinstance(value, (int, float)) and value > 0:
            timeout = float(value)
        elif key == "concurrency" and isinstance(value, int) and value > 0:
            concurrency = value
        elif key == "ca_files" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InputError(f"{where}: a list of file names")
            ca_files = tuple(str(source.parent / v) for v in value)  # relative to the file
        elif key == "public_roots" and isinstance(value, bool):
            public_roots = value
        else:
            raise InputError(f"{where}: unknown setting or not a positive number")
    notify = data.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, dict) for n in notify):
        raise InputError(f"{source}: 'notify' must be an array of tables ([[notify]])")
    return replace(
        settings,
        policy=policy,
        notify=tuple(notify),
        timeout=timeout,
        concurrency=concurrency,
        ca_files=ca_files,
        public_roots=public_roots,
    )


def _toml(source: Path, text: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from exc
    return data


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: must be a table")
    return dict(value)


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string")
    return value
