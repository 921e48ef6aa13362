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
from tlsdoctor.wording import plural

if TYPE_CHECKING:
    from tlsdoctor.execute import Executor
    from tlsdoctor.history.store import History
    from tlsdoctor.monitor.config import WatchSettings
    from tlsdoctor.monitor.notify import Notifier
    from tlsdoctor.monitor.sweep import Sweeper
    from tlsdoctor.watch_model import Observation, WatchTarget

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

    def sweeper(
        self, history: History, settings: WatchSettings, executor: Executor | None = None
    ) -> Sweeper:
        from tlsdoctor.monitor.notify import routes_from_config
        from tlsdoctor.monitor.sweep import Sweeper

        routes = routes_from_config({"notify": list(settings.notify)})
        return Sweeper(history, settings, list(routes), routes=routes, executor=executor)


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
    from tlsdoctor.watch_model import format_every

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
        echo(f"{state}: {target.name} every {format_every(interval)}")
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


@watch.command("mute")
@click.argument("targets", nargs=-1, required=True, metavar="HOST[:PORT] | URL...")
@click.option("--until", "until", metavar="DATE", help="2026-12-31 or 2026-12-31T08:00:00Z.")
@click.option("--for", "lasting", metavar="DURATION", help="From now: 2h, 1d, 1w.")
@click.option("--off", is_flag=True, help="Unmute.")
@pass_context
def watch_mute(
    context: Context, targets: Sequence[str], until: str | None, lasting: str | None, off: bool
) -> int:
    """Keep alerts of targets (maintenance) but tell nobody, until a time; --off unmutes."""
    import datetime as dt

    from tlsdoctor.check import utc_now
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.config import parse_duration, parse_moment, watch_target

    if sum(x is not None and x is not False for x in (until, lasting, off)) != 1:
        raise InputError("give one of --until DATE, --for DURATION or --off")
    moment: dt.datetime | None = None
    if until is not None:
        moment = parse_moment(until)
    elif lasting is not None:
        moment = utc_now() + parse_duration(lasting)
    names = [watch_target(text).name for text in targets]
    with context.history() as history:
        muted = set(history.mute(names, moment))
    for name in names:
        if name not in muted:
            echo(f"not watched: {name}")
        elif moment is None:
            echo(f"unmuted: {name}")
        else:
            echo(f"muted: {name} until {moment:%Y-%m-%d %H:%M} UTC")
    return 0 if muted == set(names) else 3


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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per target.")
@pass_context
def watch_list(context: Context, as_json: bool) -> int:
    """Every target with its latest verdict, days left and findings."""
    with context.history() as history:
        rows = history.latest_all()
    return _print_status(rows, as_json)


@watch.command("once")
@click.option("--all", "everything", is_flag=True, help="Check every target now, due or not.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one observation each.")
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only problems (for cron: no mail when all is well)."
)
@execution_options
@pass_context
def watch_once(
    context: Context,
    everything: bool,
    as_json: bool,
    quiet: bool,
    workers_text: str | None,
    cluster: str | None,
) -> int:
    """One sweep of the due targets, then the alerts; for cron. Exit code: the worst
    current state of the whole list, like `check`."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.execute import open_executor
    from tlsdoctor.monitor.notify.outbox import deliver_due
    from tlsdoctor.monitor.sweep import current_exit_code

    settings = context.settings()
    notifiers = context.notifiers(settings)
    with (
        context.history() as history,
        open_executor(workers_count(workers_text), cluster) as executor,
    ):
        sweeper = context.sweeper(history, settings, executor)
        if everything:
            result = asyncio.run(sweeper.sweep(history.targets()))
        else:
            result = asyncio.run(sweeper.sweep_due(utc_now(), limit=1_000_000))
        sent = deliver_due(history, notifiers)
        rows = history.latest_all()
    if as_json:
        for observation in result.observations:
            if not quiet or observation.exit_code != 0:
                echo(json.dumps(_observation_dict(observation)))
        return current_exit_code(rows)
    if not quiet or sent.failed or sent.gave_up:
        echo(
            f"checked {plural(len(result.observations), 'target')}, "
            f"{plural(len(result.alerts), 'new alert')}; "
            f"notifications: {sent.delivered} sent, {sent.failed} to retry, "
            f"{sent.gave_up} given up",
            err=True,
        )
    problems = [(t, o) for t, o in rows if o is None or o.exit_code != 0]
    if not quiet or problems:
        _print_status(problems if quiet else rows, False)
    return current_exit_code(rows)


@watch.command("run")
@execution_options
@pass_context
def watch_run(context: Context, workers_text: str | None, cluster: str | None) -> int:
    """The daemon: check targets when due, store, alert; stops cleanly on SIGTERM/Ctrl-C."""
    from tlsdoctor.execute import open_executor
    from tlsdoctor.monitor.sweep import Daemon, SweepResult

    settings = context.settings()
    notifiers = context.notifiers(settings)

    def said(result: SweepResult) -> None:
        echo(
            f"checked {len(result.observations)}, raised {plural(len(result.alerts), 'alert')}",
            err=True,
        )
        for alert in result.alerts:
            echo(f"  alert: {alert.title}", err=True)

    with (
        context.history() as history,
        open_executor(workers_count(workers_text), cluster) as executor,
    ):
        count = len(history.targets())
        echo(
            f"watching {plural(count, 'target')} ({plural(len(notifiers), 'notifier')}); "
            "Ctrl-C stops",
            err=True,
        )
        sweeper = context.sweeper(history, settings, executor)
        Daemon(sweeper, notifiers, on_sweep=said).run()
    echo("stopped", err=True)
    return 0


@watch.command("history")
@click.argument("target", metavar="HOST[:PORT] | URL")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="States to show."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per state.")
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
@click.option(
    "--keep", default="400d", show_default=True, help="History to keep: 90d, 26w, 1y, ..."
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting most of the history.")
@pass_context
def watch_prune(context: Context, keep: str, yes: bool) -> int:
    """Delete states and settled alerts older than --keep (each target's current state
    and every alert still holding back a repeat stay). Deleting more than half of the
    states asks first (--yes: do not ask; without a terminal it is an error)."""
    from tlsdoctor.check import utc_now
    from tlsdoctor.errors import InputError
    from tlsdoctor.monitor.config import parse_keep

    before = utc_now() - parse_keep(keep)
    with context.history() as history:
        planned = history.prune(before, dry_run=True)
        total = history.counts()["runs"]
        if planned.runs * 2 > total and not yes:
            question = (
                f"--keep {keep} deletes {planned.runs} of the {total} states kept"
                f" (everything before {before:%Y-%m-%d %H:%M} UTC)"
            )
            if not sys.stdin.isatty():
                raise InputError(f"{question}: add --yes to do it")
            if not click.confirm(f"{question}. Delete them?", default=False, err=True):
                echo("nothing deleted", err=True)
                return 0
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
    from tlsdoctor.monitor.metrics import history_exposition, write_textfile

    with context.history() as history:
        data = history_exposition(history, utc_now())
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
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Require this bearer token ($VAR) on every request; needed off loopback.",
)
@click.option("--tls-cert", metavar="FILE", help="Serve HTTPS with this certificate chain.")
@click.option("--tls-key", metavar="FILE", help="... and this private key.")
@pass_context
def watch_serve(
    context: Context,
    host: str,
    port: int,
    token_env: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> int:
    """The dashboard, a JSON API (/api, /openapi.json) and /metrics."""
    from tlsdoctor.web.serve import is_loopback, serve

    if click.get_current_context().meta.get("private_fetch") is None and not is_loopback(host):
        # Reachable by others: URLs in certificates must not become a way into the LAN.
        from tlsdoctor.fetch import allow_private_networks

        allow_private_networks(False)

    return serve(
        context.db,
        host=host,
        port=port,
        token_env=token_env,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )


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
    from tlsdoctor.watch_model import days_left

    table = Table(box=None, pad_edge=False)
    for column in ("target", "verdict", "days left", "findings", "checked"):
        table.add_column(column)
    for target, latest in rows:
        if latest is None:
            table.add_row(target.name, "not checked yet", "", "", "")
            continue
        left = "" if latest.expires_at is None else str(days_left(latest.expires_at, now))
        table.add_row(
            target.name,
            latest.verdict.value,
            left,
            ", ".join(c.value for c in latest.codes),
            f"{latest.checked_at:%Y-%m-%d %H:%M}",
        )
    make_console().print(table)
    return 0


def _db_here(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    context = ctx.find_object(Context)
    if context is None:
        ctx.obj = Context(value, None)
    else:
        context.db = value


# --db also after the subcommand (`watch list --db FILE`), as people type it: the same
# option, the one given last wins.
for _command in watch.commands.values():
    _command.params.append(
        click.Option(
            ["--db"],
            metavar="URL",
            expose_value=False,
            callback=_db_here,
            is_eager=False,
            help="As watch --db: sqlite:///FILE or postgresql://...",
        )
    )
