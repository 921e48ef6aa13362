"""``tlsdoctor watch``: a watch list checked on a schedule, kept in a database, with
alerts, a calendar of expiries, metrics and a dashboard."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from tlsdoctor.cli.execution import execution_options, workers_count
from tlsdoctor.render.safe import echo

if TYPE_CHECKING:
    from tlsdoctor.history.store import History
    from tlsdoctor.monitor.config import WatchSettings
    from tlsdoctor.monitor.model import Observation, WatchTarget
    from tlsdoctor.monitor.notify import Notifier

STARTTLS = ("smtp", "imap", "pop3", "ftp", "xmpp", "ldap", "postgres", "mysql")


class Context:
    def __init__(self, db: str | None, config: str | None) -> None:
        self.db = db
        self.config = config

    @contextmanager
    def history(self) -> Iterator[History]:
        from tlsdoctor.history.store import History

        with History.open(self.db) as history:
            yield history

    def settings(self) -> WatchSettings:
        from tlsdoctor.monitor.config import read_settings

        return read_settings(self.config)

    def notifiers(self, settings: WatchSettings) -> dict[str, Notifier]:
        from tlsdoctor.monitor.notify import notifiers_from_config

        return {n.name: n for n in notifiers_from_config({"notify": list(settings.notify)})}


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--db",
    envvar="TLSDOCTOR_DB",
    metavar="URL",
    help="sqlite:///FILE or postgresql://... (default: watch.db in tlsdoctor's data dir).",
)
@click.option(
    "--config",
    metavar="FILE",
    help="Alerts, notifiers, check settings (default: ~/.config/tlsdoctor/watch.toml).",
)
@click.option(
    "--private-fetch/--no-private-fetch",
    default=None,
    help="Let URLs in certificates (AIA, CRL, OCSP) reach private addresses "
    "(default: yes, except for a dashboard listening beyond loopback).",
)
@click.pass_context
def watch(
    ctx: click.Context, db: str | None, config: str | None, private_fetch: bool | None
) -> None:
    """Watch endpoints: expiry and trust over time, alerts, calendar, metrics, dashboard."""
    ctx.obj = Context(db, config)
    ctx.meta["private_fetch"] = private_fetch
    if private_fetch is not None:
        from tlsdoctor.fetch import allow_private_networks

        allow_private_networks(private_fetch)


@watch.command("add")
@click.argument("targets", nargs=-1, required=True, metavar="HOST[:PORT] | URL...")
@click.option("--every", default="6h", show_default=True, help="Check interval: 30m, 6h, 1d.")
@click.option("--starttls", type=click.Choice(STARTTLS), help="Upgrade with STARTTLS first.")
@click.option("--servername", metavar="NAME", help="Send this SNI name instead of the host.")
@click.option("--connect", metavar="ADDR[:PORT]", help="Dial this address (one target only).")
@click.option("--label", "labels", multiple=True, metavar="LABEL", help="Repeat for more.")
@pass_context
def watch_add(
    context: Context,
    targets: Sequence[str],
    every: str,
    starttls: str | None,
    servername: str | None,
    connect: str | None,
    labels: Sequence[str],
) -> int:
    """Add targets (or change how they are watched); each is due at once."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.config import parse_every, watch_target

    if connect and len(targets) > 1:
        raise InputError("--connect names one address: give one target with it")
    interval = parse_every(every)
    wanted = [
        watch_target(
            text,
            every=interval,
            starttls=starttls,
            servername=servername,
            connect=connect,
            labels=labels,
        )
        for text in targets
    ]
    with context.history() as history:
        added = set(history.add_targets(wanted, utc_now()))
    for target in wanted:
        state = "added" if target.name in added else "updated"
        echo(f"{state}: {target.name} every {every}")
    return 0


@watch.command("remove")
@click.argument("targets", nargs=-1, required=True, metavar="HOST[:PORT] | URL...")
@pass_context
def watch_remove(context: Context, targets: Sequence[str]) -> int:
    """Stop watching targets (their history goes with them)."""
    from tlsdoctor.monitor.config import watch_target

    names = [watch_target(text).name for text in targets]
    with context.history() as history:
        removed = set(history.remove_targets(names))
    for name in names:
        echo(f"{'removed' if name in removed else 'not watched'}: {name}")
    return 0 if removed == set(names) else 3


@watch.command("import")
@click.argument("watchlist", type=click.Path(dir_okay=False))
@pass_context
def watch_import(context: Context, watchlist: str) -> int:
    """Add the targets of a TOML watch list (or a 'HOST[:PORT] [ADDR]' list)."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.monitor.config import read_watchlist

    targets = read_watchlist(watchlist)
    with context.history() as history:
        added = history.add_targets(targets, utc_now())
    echo(f"{len(targets)} targets read, {len(added)} new, {len(targets) - len(added)} updated")
    return 0


@watch.command("export")
@click.option("-o", "--output", metavar="FILE", help="Write here instead of stdout.")
@pass_context
def watch_export(context: Context, output: str | None) -> int:
    """The watch list as TOML (what `watch import` reads)."""
    from tlsdoctor.monitor.config import watchlist_toml

    with context.history() as history:
        text = watchlist_toml(history.targets())
    _emit(text.encode(), output)
    return 0


@watch.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def watch_list(context: Context, as_json: bool) -> int:
    """Every target with its latest verdict, days left and findings."""
    with context.history() as history:
        rows = history.latest_all()
    return _print_status(rows, as_json)


@watch.command("once")
@click.option("--all", "everything", is_flag=True, help="Check every target now, due or not.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one observation each.")
@execution_options
@pass_context
def watch_once(
    context: Context,
    everything: bool,
    as_json: bool,
    workers_text: str | None,
    cluster: str | None,
) -> int:
    """One sweep of the due targets, then the alerts; for cron. Exit code: the worst
    current state of the whole list, like `check`."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.execute import open_executor
    from tlsdoctor.monitor.sweep import Sweeper, current_exit_code, deliver_due

    settings = context.settings()
    notifiers = context.notifiers(settings)
    with (
        context.history() as history,
        open_executor(workers_count(workers_text), cluster) as executor,
    ):
        sweeper = Sweeper(history, settings, list(notifiers), executor=executor)
        if everything:
            result = asyncio.run(sweeper.sweep(history.targets()))
        else:
            result = asyncio.run(sweeper.sweep_due(utc_now(), limit=1_000_000))
        sent = deliver_due(history, notifiers)
        rows = history.latest_all()
    if as_json:
        for observation in result.observations:
            echo(json.dumps(_observation_dict(observation)))
    else:
        echo(
            f"checked {len(result.observations)} targets, {len(result.alerts)} new alerts; "
            f"notifications: {sent.delivered} sent, {sent.failed} to retry, "
            f"{sent.gave_up} given up",
            err=True,
        )
        _print_status(rows, False)
    return current_exit_code(rows)


@watch.command("run")
@execution_options
@pass_context
def watch_run(context: Context, workers_text: str | None, cluster: str | None) -> int:
    """The daemon: check targets when due, store, alert; stops cleanly on SIGTERM/Ctrl-C."""
    from tlsdoctor.execute import open_executor
    from tlsdoctor.monitor.sweep import Daemon, Sweeper, SweepResult

    settings = context.settings()
    notifiers = context.notifiers(settings)

    def said(result: SweepResult) -> None:
        echo(f"checked {len(result.observations)}, raised {len(result.alerts)} alerts", err=True)
        for alert in result.alerts:
            echo(f"  alert: {alert.title}", err=True)

    with (
        context.history() as history,
        open_executor(workers_count(workers_text), cluster) as executor,
    ):
        count = len(history.targets())
        echo(f"watching {count} targets ({len(notifiers)} notifiers); Ctrl-C stops", err=True)
        sweeper = Sweeper(history, settings, list(notifiers), executor=executor)
        Daemon(sweeper, notifiers, on_sweep=said).run()
    echo("stopped", err=True)
    return 0


@watch.command("history")
@click.argument("target", metavar="HOST[:PORT] | URL")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_context
def watch_history(context: Context, target: str, limit: int, as_json: bool) -> int:
    """What changed and when: one line per state, newest first."""
    from tlsdoctor.errors import InputError
    from tlsdoctor.models import rfc3339
    from tlsdoctor.monitor.config import watch_target

    name = watch_target(target).name
    with context.history() as history:
        if history.target(name) is None:
            raise InputError(f"{name} is not watched (tlsdoctor watch add {target})")
        runs = history.history(name, limit=limit, with_reports=False)
        alerts = history.alerts(name, limit=limit)
    if as_json:
        echo(
            json.dumps(
                {
                    "target": name,
                    "states": [
                        {
                            "first_seen": rfc3339(run.first_seen),
                            "last_seen": rfc3339(run.last_seen),
                            "checks": run.seen_count,
                            "verdict": run.verdict.value,
                            "codes": [c.value for c in run.codes],
                            "leaf_sha256": run.leaf_sha256,
                            "expires_at": None
                            if run.expires_at is None
                            else rfc3339(run.expires_at),
                            "error": run.error,
                        }
                        for run in runs
                    ],
                    "alerts": [
                        {
                            "raised_at": rfc3339(record.alert.raised_at),
                            "kind": record.alert.kind.value,
                            "title": record.alert.title,
                            "deliveries": {d.notifier: d.status.value for d in record.deliveries},
                        }
                        for record in alerts
                    ],
                }
            )
        )
        return 0
    echo(f"{name}: {len(runs)} states")
    for run in runs:
        ends = "" if run.expires_at is None else f" ends {run.expires_at:%Y-%m-%d}"
        codes = ", ".join(c.value for c in run.codes) or "no findings"
        echo(
            f"  {run.first_seen:%Y-%m-%d %H:%M} .. {run.last_seen:%Y-%m-%d %H:%M}  "
            f"{run.verdict.value:<9} ({run.seen_count} checks) {codes}{ends}"
        )
    if alerts:
        echo("alerts:")
        for record in alerts:
            sent = ", ".join(f"{d.notifier} {d.status.value}" for d in record.deliveries)
            echo(f"  {record.alert.raised_at:%Y-%m-%d %H:%M}  {record.alert.title}  [{sent}]")
    return 0


@watch.command("prune")
@click.option("--keep", default="400d", show_default=True, help="History to keep: 90d, 2w, ...")
@pass_context
def watch_prune(context: Context, keep: str) -> int:
    """Delete states and settled alerts older than --keep (each target's current state
    and every alert still holding back a repeat stay)."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.monitor.config import parse_duration

    before = utc_now() - parse_duration(keep)
    with context.history() as history:
        pruned = history.prune(before)
    echo(
        f"deleted {pruned.runs} states and {pruned.alerts} alerts older than "
        f"{before:%Y-%m-%d %H:%M} UTC"
    )
    return 0


@watch.command("calendar")
@click.option("-o", "--output", metavar="FILE", help="Write the .ics here instead of stdout.")
@click.option(
    "--alarm",
    "alarms",
    multiple=True,
    type=click.IntRange(0),
    metavar="DAYS",
    help="Reminder DAYS before each expiry (default 30 and 7; repeat).",
)
@pass_context
def watch_calendar(context: Context, output: str | None, alarms: Sequence[int]) -> int:
    """Certificate expiries as an iCalendar file with reminders; re-importing updates."""
    import datetime as dt

    from tlsdoctor.check import utc_now
    from tlsdoctor.monitor.calendar import expiry_calendar

    now = utc_now()
    with context.history() as history:
        entries = []
        for target, latest in history.latest_all():
            if latest is None:
                continue
            entries.append((target, latest))
            # Certificates replaced lately: their events come out cancelled, so a calendar
            # that imported them drops the reminder of an expiry that no longer matters.
            for run in history.history(target.name, limit=20, with_reports=False):
                end = run.leaf_not_after
                if run.leaf_sha256 not in (None, latest.leaf_sha256) and end and end > now:
                    entries.append((target, run.observation()))
    kwargs: dict[str, Any] = {"now": now}
    if alarms:
        kwargs["alarms"] = tuple(dt.timedelta(days=days) for days in alarms)
    _emit(expiry_calendar(entries, **kwargs), output)
    return 0


@watch.command("metrics")
@click.option("-o", "--output", metavar="FILE", help="node_exporter's textfile collector file.")
@pass_context
def watch_metrics(context: Context, output: str | None) -> int:
    """Prometheus metrics (ssl_exporter / blackbox names); -o for the textfile collector."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.monitor.metrics import exposition, write_textfile

    with context.history() as history:
        data = exposition(history.latest_all(), utc_now())
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        write_textfile(output, data)
    return 0


@watch.command("test-notify")
@click.option("--notifier", "only", metavar="NAME", help="Only this notifier.")
@pass_context
def watch_test_notify(context: Context, only: str | None) -> int:
    """Send a sample alert through every configured notifier; say what each did."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.notify import NotifyError, deliver, sample_alert

    settings = context.settings()
    notifiers = context.notifiers(settings)
    if only is not None:
        if only not in notifiers:
            raise InputError(f"no notifier named '{only}' (configured: {', '.join(notifiers)})")
        notifiers = {only: notifiers[only]}
    if not notifiers:
        where = settings.source or "the settings file"
        raise InputError(f"no notifiers configured: add [[notify]] tables to {where}")
    alert = sample_alert(utc_now())
    failures = 0
    for name, notifier in notifiers.items():
        try:
            deliver(notifier, alert, timeout=30.0)
        except NotifyError as exc:
            failures += 1
            echo(f"{name}: FAILED: {exc}")
        else:
            echo(f"{name}: sent")
    return 3 if failures else 0


@watch.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Require this bearer token ($VAR) on every request; needed off loopback.",
)
@pass_context
def watch_serve(context: Context, host: str, port: int, token_env: str | None) -> int:
    """The dashboard, a JSON API (/api, /openapi.json) and /metrics."""
    from tlsdoctor.web.serve import is_loopback, serve

    if click.get_current_context().meta.get("private_fetch") is None and not is_loopback(host):
        # Reachable by others: URLs in certificates must not become a way into the LAN.
        from tlsdoctor.fetch import allow_private_networks

        allow_private_networks(False)

    return serve(context.db, host=host, port=port, token_env=token_env)


def _emit(data: bytes, output: str | None) -> None:
    """To stdout, or to ``output`` atomically (a calendar app or a cron reader never sees
    half a file)."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    from tlsdoctor.remedy.files import write_atomically

    write_atomically(output, data, force=True)


def _observation_dict(observation: Observation) -> dict[str, Any]:
    from tlsdoctor.models import rfc3339

    return {
        "target": observation.target,
        "checked_at": rfc3339(observation.checked_at),
        "verdict": observation.verdict.value,
        "exit_code": observation.exit_code,
        "codes": [c.value for c in observation.codes],
        "leaf_sha256": observation.leaf_sha256,
        "expires_at": None if observation.expires_at is None else rfc3339(observation.expires_at),
        "seconds": observation.seconds,
        "error": observation.error,
    }


def _print_status(rows: Sequence[tuple[WatchTarget, Observation | None]], as_json: bool) -> int:
    from tlsdoctor.check import utc_now

    now = utc_now()
    if as_json:
        for target, latest in rows:
            entry = {"target": target.name, "every": int(target.every.total_seconds())}
            entry.update(_observation_dict(latest) if latest else {"verdict": None})
            echo(json.dumps(entry))
        return 0
    from rich.table import Table

    from tlsdoctor.render.text import make_console

    table = Table(box=None, pad_edge=False)
    for column in ("target", "verdict", "days left", "findings", "checked"):
        table.add_column(column)
    for target, latest in rows:
        if latest is None:
            table.add_row(target.name, "not checked yet", "", "", "")
            continue
        left = "" if latest.expires_at is None else str((latest.expires_at - now).days)
        table.add_row(
            target.name,
            latest.verdict.value,
            left,
            ", ".join(c.value for c in latest.codes),
            f"{latest.checked_at:%Y-%m-%d %H:%M}",
        )
    make_console().print(table)
    return 0
