"""The dashboard's HTML: pure functions from the history's types to a page.

No template engine and no JavaScript. Every value reaches the page through
:func:`escape`, which only :class:`Markup` (HTML this module built itself) skips, so a
target name or a finding message holding markup is shown, never run. The server also
sends a Content-Security-Policy that allows no script at all, should a value ever slip
through.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from tlsdoctor.history.store import AlertRecord, DeliveryStatus, StateRun
from tlsdoctor.render.safe import make_visible
from tlsdoctor.watch_model import Observation, WatchTarget, days_left, format_every
from tlsdoctor.web._views import (
    PAGE_SIZE,
    Entry,
    Expiry,
    Selection,
    api_path,
    expires_at,
    mappings,
    page_path,
    state,
    upcoming,
    worst_first,
)
from tlsdoctor.wording import plural


class Markup(str):
    """Text that is already HTML, built by this module: inserted as it is."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """``value`` as HTML text; None is empty, Markup is left alone."""
    if value is None:
        return Markup("")
    if isinstance(value, Markup):
        return value
    # Control, bidi and invisible characters shown as escapes, as on a terminal.
    return Markup(html.escape(make_visible(str(value), keep="\n"), quote=True))


def render(template: str, /, **values: object) -> Markup:
    """``template`` with each ``{name}`` replaced by its escaped value.

    Templates hold no format specs (``{x:>3}``): a spec would apply to escaped text.
    """
    return Markup(template.format(**{name: escape(value) for name, value in values.items()}))


def concat(parts: Iterable[object], separator: str = "") -> Markup:
    return Markup(separator.join(escape(part) for part in parts))


# Colours pair with a word everywhere (a verdict badge says "untrusted"), so nothing
# depends on telling red from green.
_CSS = """
:root { color-scheme: light; --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #7d4e00;
  --warn-bg: #fff1c2; --bad: #b3261e; --bad-bg: #ffe4e1; --err: #4a4f57;
  --err-bg: #e4e7eb; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0; color: #1f2328; background: #f6f8fa; }
header.top { background: #24292f; color: #fff; padding: .7rem 1.5rem; display: flex;
  align-items: baseline; gap: 1.5rem; flex-wrap: wrap; }
header.top a { color: #fff; text-decoration: none; font-weight: 600; font-size: 1.1rem; }
header.top nav a { font-weight: 400; font-size: .9rem; color: #c9d1d9; margin-right: 1rem; }
main { padding: 1rem 1.5rem 2rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .4rem 0 .6rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
h3 { font-size: 1rem; margin: 0 0 .3rem; }
table { border-collapse: collapse; width: 100%; background: #fff;
  border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; font-size: .85rem; }
td time { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: .85em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #eff1f3; padding: .05rem .3rem; border-radius: 4px; }
pre { background: #fff; border: 1px solid var(--line); padding: .7rem; overflow: auto;
  font-size: .8rem; max-height: 40rem; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 1rem;
  font-weight: 600; font-size: .85rem; white-space: nowrap; }
.trusted { color: var(--ok); background: var(--ok-bg); }
.warnings { color: var(--warn); background: var(--warn-bg); }
.untrusted { color: var(--bad); background: var(--bad-bg); }
.error, .unchecked { color: var(--err); background: var(--err-bg); }
.soon { color: var(--warn); font-weight: 600; }
.urgent { color: var(--bad); font-weight: 700; }
.muted { color: var(--muted); }
.summary { display: flex; gap: .6rem; flex-wrap: wrap; margin: .3rem 0 .8rem; }
.summary .badge { font-size: .95rem; padding: .2rem .8rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
  background: #fff; border: 1px solid var(--line); padding: .7rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
.finding { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--bad);
  padding: .6rem 1rem; margin: 0 0 .7rem; }
.finding.sev-warning { border-left-color: #d4a72c; }
.finding p { margin: .2rem 0 .4rem; }
.finding ol { margin: .2rem 0 .4rem; padding-left: 1.4rem; }
.timeline { background: #fff; border: 1px solid var(--line); padding: .5rem 1rem;
  list-style: none; margin: 0; }
.timeline li { display: grid; grid-template-columns: minmax(12rem, 22rem) 7rem 1fr 9rem;
  gap: .8rem; align-items: center; padding: .2rem 0; border-bottom: 1px dashed #eaeef2; }
.timeline li:last-child { border-bottom: 0; }
.bar { height: .75rem; background: #eef1f4; border-radius: .4rem; overflow: hidden; }
.bar span { display: block; height: 100%; border-radius: .4rem; background: #2da44e; }
.bar span.soon { background: #d4a72c; }
.bar span.urgent { background: #cf222e; }
footer { color: var(--muted); font-size: .8rem; margin-top: 2rem; }
"""


def _time(moment: dt.datetime | None) -> Markup:
    if moment is None:
        return Markup("")
    utc = moment.astimezone(dt.timezone.utc)
    return render(
        '<time datetime="{iso}">{text}</time>',
        iso=utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        text=utc.strftime("%Y-%m-%d %H:%M UTC"),
    )


def _urgency(days: int) -> str:
    if days <= 7:
        return "urgent"
    return "soon" if days <= 30 else ""


def _days(moment: dt.datetime | None, now: dt.datetime) -> Markup:
    """Days left until ``moment``, or how long ago it expired."""
    days = days_left(moment, now)
    if moment is None or days is None:
        return Markup("")
    if moment <= now:
        text = "expired today" if days == 0 else f"expired {plural(-days, 'day')} ago"
        return render('<span class="urgent" data-days="{d}">{t}</span>', d=days, t=text)
    return render('<span class="{cls}" data-days="{d}">{d}</span>', cls=_urgency(days), d=days)


def badge(observation: Observation | None) -> Markup:
    if observation is None:
        return render('<span class="badge unchecked">not checked yet</span>')
    title = "trusted, with warnings" if state(observation) == "warnings" else ""
    return render(
        '<span class="badge {cls}" title="{title}">{verdict}</span>',
        cls=state(observation),
        title=title,
        verdict=observation.verdict.value,
    )


def _run_badge(run: StateRun) -> Markup:
    cls = "warnings" if run.verdict.value == "trusted" and run.exit_code else run.verdict.value
    return render('<span class="badge {cls}">{verdict}</span>', cls=cls, verdict=run.verdict.value)


def _codes(codes: Iterable[object]) -> Markup:
    return concat((render("<code>{c}</code>", c=code) for code in codes), " ")


def _with_code_spans(text: str) -> Markup:
    """A fix line: the catalogue quotes commands in backticks; show them as code."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced: show the text as it is
        return escape(text)
    return concat(
        render("<code>{p}</code>", p=part) if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


def _layout(title: str, body: Markup, now: dt.datetime, *, root: str, refresh: int = 0) -> str:
    # A meta refresh keeps a wall-mounted overview current without any script.
    meta = render('<meta http-equiv="refresh" content="{s}">', s=refresh) if refresh else ""
    page = render(
        """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
{meta}<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="top"><a href="{root}/">tlsdoctor watch</a>
<nav><a href="{root}/">Endpoints</a><a href="{root}/#expiries">Expiries</a><a
href="{root}/api/targets">JSON API</a><a href="{root}/openapi.json">OpenAPI</a><a
href="{root}/metrics">Metrics</a><a href="{root}/calendar.ics">Calendar (.ics)</a></nav>
</header>
<main>
{body}
<footer>Generated {now}. Read-only view of the watch history.</footer>
</main>
</body>
</html>
""",
        meta=meta,
        title=title,
        css=Markup(_CSS),
        root=root,
        body=body,
        now=_time(now),
    )
    return str(page)


# -- the overview -----------------------------------------------------------------------


def _index_row(
    target: WatchTarget, observation: Observation | None, now: dt.datetime, root: str
) -> Markup:
    href = page_path(target.name, root)
    checked = None if observation is None else observation.checked_at
    return render(
        """<tr data-target="{name}" data-verdict="{verdict}" class="row-{cls}">
<td><a href="{href}">{name}</a>{labels}</td>
<td>{badge}</td>
<td class="num">{days}</td>
<td>{codes}</td>
<td>{checked}</td>
<td><a href="{href}" aria-label="details of {name}">details</a></td>
</tr>
""",
        name=target.name,
        verdict="" if observation is None else observation.verdict.value,
        cls=state(observation),
        href=href,
        labels=concat(
            render(' <span class="muted">#{label}</span>', label=x) for x in target.labels
        ),
        badge=badge(observation),
        days=_days(expires_at(observation), now),
        codes=_codes(() if observation is None else observation.codes),
        checked=_time(checked),
    )


def _timeline_row(item: Expiry, horizon: int, root: str) -> Markup:
    # An expired certificate gets a full red bar: it is the one to see first.
    width = 100.0 if item.expired else min(item.days, horizon) / horizon * 100
    if item.expired:
        label = "expired today" if item.days == 0 else f"expired {plural(-item.days, 'day')} ago"
    else:
        label = f"in {plural(item.days, 'day')}"
    return render(
        """<li data-target="{name}"><a href="{href}">{name}</a>
<span>{date}</span>
<div class="bar" title="{label}"><span class="{cls}" style="width: {width}%"></span></div>
<span class="{cls}">{label}</span></li>
""",
        name=item.target.name,
        href=page_path(item.target.name, root),
        date=item.at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d"),
        label=label,
        cls="urgent" if item.expired else _urgency(item.days),
        width=f"{width:.1f}",
    )


def _timeline(entries: Sequence[Entry], now: dt.datetime, root: str) -> Markup:
    items = upcoming(entries, now)[:TIMELINE_LIMIT]
    if not items:
        return render('<p class="muted">No expiry known yet: nothing has been checked.</p>')
    # The bars share one scale: the farthest expiry shown, but at least a month (so a
    # list of imminent expiries does not look comfortable) and at most a year.
    horizon = max(30, min(365, max(item.days for item in items)))
    rows = concat(_timeline_row(item, horizon, root) for item in items)
    return render(
        """<p class="muted">Soonest first (at most {limit}); bars span {horizon} days. Each
date is the first expiry in the chain the server sends.</p>
<ol class="timeline">
{rows}</ol>""",
        horizon=horizon,
        rows=rows,
        limit=TIMELINE_LIMIT,
    )


_STATE_NAMES = {
    "untrusted": "untrusted",
    "error": "could not check",
    "unchecked": "not checked yet",
    "warnings": "trusted with warnings",
    "trusted": "trusted",
}
TIMELINE_LIMIT = 50  # expiries listed under the table: the soonest ones


def _query(root: str, selection: Selection, **changes: object) -> str:
    """The overview's address for ``selection`` with ``changes`` (page, state...)."""
    chosen = dataclasses.replace(selection, **changes)  # type: ignore[arg-type]
    params = {
        "q": chosen.search,
        "state": chosen.state or "",
        "label": chosen.label or "",
        "page": str(chosen.page) if chosen.page != 1 else "",
        "per_page": str(chosen.per_page) if chosen.per_page != PAGE_SIZE else "",
    }
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{root}/" + (f"?{query}" if query else "")


def _search_form(selection: Selection, root: str) -> Markup:
    options = concat(
        render(
            '<option value="{v}"{sel}>{label}</option>',
            v=value,
            sel=Markup(" selected") if selection.state == value else Markup(""),
            label=label,
        )
        for value, label in (("", "any state"), *_STATE_NAMES.items())
    )
    return render(
        """<form class="search" method="get" action="{root}/" role="search">
<input type="search" name="q" value="{q}" placeholder="name contains" aria-label="search names">
<select name="state" aria-label="state">{options}</select>
<input type="text" name="label" value="{label}" placeholder="label" aria-label="label">
<button type="submit">Show</button>
</form>""",
        root=root,
        q=selection.search,
        options=options,
        label=selection.label or "",
    )


def _pager(selection: Selection, total: int, root: str) -> Markup:
    pages = max(1, -(-total // selection.per_page))
    if pages == 1:
        return Markup("")
    previous = (
        render(
            '<a rel="prev" href="{h}">previous</a>',
            h=_query(root, selection, page=selection.page - 1),
        )
        if selection.page > 1
        else Markup("")
    )
    following = (
        render(
            '<a rel="next" href="{h}">next</a>', h=_query(root, selection, page=selection.page + 1)
        )
        if selection.page < pages
        else Markup("")
    )
    return render(
        '<nav class="pager">{prev} page {n} of {pages} {next}</nav>',
        prev=previous,
        n=selection.page,
        pages=pages,
        next=following,
    )


def index_page(
    entries: Sequence[Entry],
    now: dt.datetime,
    *,
    root: str = "",
    selection: Selection | None = None,
) -> str:
    """``/``: the targets, worst first, a page at a time, with a search, state and label
    filter; and the soonest expiries among them."""
    chosen = selection or Selection()
    ordered = worst_first(entries, now)
    counts: dict[str, int] = {}
    for _, observation in ordered:
        counts[state(observation)] = counts.get(state(observation), 0) + 1
    summary = concat(
        render(
            '<a class="badge {cls}" href="{href}">{n} {label}</a>',
            cls=cls,
            href=_query(root, Selection(state=cls)),
            n=counts[cls],
            label=text,
        )
        for cls, text in _STATE_NAMES.items()
        if counts.get(cls)
    )
    shown, total = chosen.pick(ordered)
    if shown:
        table = render(
            """<table id="endpoints">
<thead><tr><th>Target</th><th>Verdict</th><th>Days left</th><th>Findings</th>
<th>Last checked</th><th></th></tr></thead>
<tbody>
{rows}</tbody>
</table>""",
            rows=concat(_index_row(t, o, now, root) for t, o in shown),
        )
    elif ordered:
        table = render(
            '<p class="muted">No target matches. <a href="{root}/">Show all</a></p>', root=root
        )
    else:
        table = render(
            '<p class="muted">Nothing is watched yet: add targets with'
            " <code>tlsdoctor watch add HOST</code>.</p>"
        )
    matching = [entry for entry in ordered if chosen.matches(entry)]
    count = render("{n} of {all}", n=total, all=len(ordered)) if chosen.filtered else len(ordered)
    body = render(
        """<h1>Endpoints <span class="muted">({count})</span></h1>
<div class="summary">{summary}</div>
{form}
{table}
{pager}
<h2 id="expiries">Upcoming expiries</h2>
{timeline}""",
        count=count,
        summary=summary,
        form=_search_form(chosen, root),
        table=table,
        pager=_pager(chosen, total, root),
        timeline=_timeline(matching, now, root),
    )
    return _layout("tlsdoctor watch", body, now, root=root, refresh=120)


# -- one target -------------------------------------------------------------------------


def _finding(finding: Mapping[str, Any]) -> Markup:
    fixes = [str(line) for line in finding.get("fix") or () if line]
    evidence = finding.get("evidence")
    return render(
        """<article class="finding sev-{severity}" data-code="{code}">
<h3><code>{code}</code> <span class="muted">{severity}</span></h3>
<p>{message}</p>
{fix}{evidence}</article>
""",
        severity=finding.get("severity", ""),
        code=finding.get("code", ""),
        message=finding.get("message", ""),
        fix=render(
            '<h4>Fix</h4>\n<ol class="fix">{items}</ol>\n',
            items=concat(render("<li>{f}</li>", f=_with_code_spans(line)) for line in fixes),
        )
        if fixes
        else "",
        evidence=render(
            "<details><summary>Evidence</summary><pre>{json}</pre></details>\n",
            json=json.dumps(evidence, indent=2, default=str),
        )
        if evidence
        else "",
    )


def _findings(observation: Observation) -> Markup:
    findings = mappings(observation.report.get("findings"))
    if findings:
        return concat(_finding(finding) for finding in findings)
    if observation.codes:
        # Kept without its report (older rows): the codes are still known.
        return render(
            "<p>Findings: {codes} (the full report of this check was not kept).</p>",
            codes=_codes(observation.codes),
        )
    return render("<p>No findings: every check passed.</p>")


def _date_cell(text: object, now: dt.datetime) -> Markup:
    if not isinstance(text, str):
        return Markup("")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return escape(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return render("{date} · {days}", date=_time(moment), days=_days(moment, now))


def _chain(report: Mapping[str, Any], now: dt.datetime) -> Markup:
    chain = mappings(report.get("chain"))
    if not chain:
        return render('<p class="muted">No certificate was received.</p>')
    rows = concat(
        render(
            """<tr><td class="num">{n}</td><td>{role}</td><td>{subject}</td><td>{issuer}</td>
<td>{expires}</td><td>{key}</td><td>{signature}</td><td>{sent}</td></tr>
""",
            n=number,
            role=cert.get("role", ""),
            subject=cert.get("subject", ""),
            issuer=cert.get("issuer", ""),
            expires=_date_cell(cert.get("not_after"), now),
            key=cert.get("key", ""),
            signature=cert.get("signature", ""),
            sent="yes" if cert.get("presented", True) else "no",
        )
        for number, cert in enumerate(chain)
    )
    path = [str(cert.get("subject", "?")) for cert in mappings(report.get("path"))]
    verified = render("<p>Path to the trust anchor: {p}</p>", p=concat(path, " → ")) if path else ""
    return render(
        """<table id="chain"><thead><tr><th>#</th><th>Role</th><th>Subject</th><th>Issuer</th>
<th>Expires · days left</th><th>Key</th><th>Signature</th><th>Sent</th></tr></thead>
<tbody>
{rows}</tbody></table>
{verified}""",
        rows=rows,
        verified=verified,
    )


def _clients(report: Mapping[str, Any]) -> Markup:
    clients = mappings(report.get("clients"))
    if not clients:
        return render('<p class="muted">No client verdicts in this report.</p>')
    failing = sum(1 for client in clients if not client.get("trusted"))
    rows = concat(
        render(
            """<tr data-client="{name}"><td>{name}</td><td>{result}</td><td>{codes}</td>
<td>{said}</td><td>{store}</td></tr>
""",
            name=client.get("client", ""),
            result=render('<span class="badge trusted">connects</span>')
            if client.get("trusted")
            else render('<span class="badge untrusted">fails</span>'),
            codes=_codes(client.get("codes") or ()),
            said=render("<code>{e}</code>", e=client["expected_error"])
            if client.get("expected_error")
            else "",
            store=client.get("store", ""),
        )
        for client in clients
    )
    return render(
        """<p>{failing} of {total} clients fail.</p>
<table id="clients"><thead><tr><th>Client</th><th>Result</th><th>Why</th>
<th>What it reports</th><th>Trust store</th></tr></thead>
<tbody>
{rows}</tbody></table>""",
        failing=failing,
        total=len(clients),
        rows=rows,
    )


def _history(runs: Sequence[StateRun]) -> Markup:
    if not runs:
        return render('<p class="muted">No checks yet.</p>')
    rows = concat(
        render(
            """<tr><td>{first}</td><td>{last}</td><td class="num">{checks}</td><td>{badge}</td>
<td>{codes}</td><td>{expires}</td><td>{leaf}</td><td>{error}</td></tr>
""",
            first=_time(run.first_seen),
            last=_time(run.last_seen),
            checks=run.seen_count,
            badge=_run_badge(run),
            codes=_codes(run.codes),
            expires=_time(run.expires_at),
            leaf=run.leaf_subject,
            error=run.error,
        )
        for run in runs
    )
    return render(
        """<table id="history"><thead><tr><th>First seen</th><th>Last seen</th><th>Checks</th>
<th>Verdict</th><th>Findings</th><th>Chain expires</th><th>Leaf</th><th>Error</th></tr>
</thead><tbody>
{rows}</tbody></table>""",
        rows=rows,
    )


def _delivery_text(record: AlertRecord) -> Markup:
    if not record.deliveries:
        return render('<span class="muted">no notifier</span>')
    parts = []
    for delivery in record.deliveries:
        detail = delivery.status.value
        if delivery.status is DeliveryStatus.DELIVERED and delivery.delivered_at is not None:
            detail += delivery.delivered_at.astimezone(dt.timezone.utc).strftime(" %Y-%m-%d %H:%M")
        elif delivery.attempts:
            detail += f" after {delivery.attempts} attempt{'s' if delivery.attempts > 1 else ''}"
        if delivery.last_error and delivery.status is not DeliveryStatus.DELIVERED:
            detail += f": {delivery.last_error}"
        parts.append(render("<li>{n}: {d}</li>", n=delivery.notifier, d=detail))
    return render("<ul>{items}</ul>", items=concat(parts))


def _alerts(records: Sequence[AlertRecord]) -> Markup:
    if not records:
        return render('<p class="muted">No alerts raised.</p>')
    rows = concat(
        render(
            """<tr><td>{raised}</td><td>{severity}</td><td>{kind}</td>
<td><details><summary>{title}</summary><pre>{body}</pre></details></td>
<td>{active}</td><td>{deliveries}</td></tr>
""",
            raised=_time(record.alert.raised_at),
            severity=record.alert.severity.value,
            kind=record.alert.kind.value,
            title=record.alert.title,
            body=record.alert.body,
            active="active" if record.active else "cleared",
            deliveries=_delivery_text(record),
        )
        for record in records
    )
    return render(
        """<table id="alerts"><thead><tr><th>Raised</th><th>Severity</th><th>Kind</th>
<th>Alert</th><th>State</th><th>Delivery</th></tr></thead>
<tbody>
{rows}</tbody></table>""",
        rows=rows,
    )


def _facts(target: WatchTarget, observation: Observation | None, now: dt.datetime) -> Markup:
    facts: list[tuple[str, object]] = [("Checked every", format_every(target.every))]
    if target.starttls:
        facts.append(("STARTTLS", target.starttls))
    if target.servername:
        facts.append(("SNI name", target.servername))
    if target.labels:
        facts.append(("Labels", ", ".join(target.labels)))
    if target.ca_files:
        facts.append(("Also trusts", ", ".join(target.ca_files)))
    if target.warn_days is not None:
        facts.append(("Expiry warning", f"{target.warn_days} days ahead"))
    if target.ignore:
        facts.append(("Ignored findings", f"{', '.join(target.ignore)}: {target.ignore_reason}"))
    if target.mute_until is not None:
        muted = "muted" if target.muted(now) else "was muted"
        facts.append(("Alerts", render("{m} until {t}", m=muted, t=_time(target.mute_until))))
    if observation is not None:
        moment = expires_at(observation)
        facts += [
            ("Last checked", _time(observation.checked_at)),
            ("Exit code", observation.exit_code),
            ("First expiry in chain", _time(moment)),
            ("Days left", _days(moment, now)),
            ("Leaf", observation.leaf_subject),
            ("Leaf SHA-256", observation.leaf_sha256),
        ]
        if observation.seconds is not None:
            facts.append(("Handshake took", f"{observation.seconds:.3f} s"))
        if observation.error:
            facts.append(("Error", observation.error))
    return render(
        '<dl class="facts">{items}</dl>',
        items=concat(
            render("<dt>{k}</dt><dd>{v}</dd>", k=key, v=value)
            for key, value in facts
            if value is not None and value != ""
        ),
    )


def target_page(
    target: WatchTarget,
    observation: Observation | None,
    runs: Sequence[StateRun],
    alerts: Sequence[AlertRecord],
    now: dt.datetime,
    *,
    root: str = "",
) -> str:
    """``/target/NAME``: the latest report with its fixes, the history, the alerts."""
    report: Mapping[str, Any] = {} if observation is None else observation.report
    api = api_path(target.name, root)
    if observation is None:
        latest = render('<p class="muted">Not checked yet: it is due at the next sweep.</p>')
    else:
        latest = render(
            """<h2 id="findings">Findings and fixes</h2>
{findings}
<h2 id="chain-section">Certificate chain as sent</h2>
{chain}
<h2 id="clients-section">Clients: who fails</h2>
{clients}""",
            findings=_findings(observation),
            chain=_chain(report, now),
            clients=_clients(report),
        )
    full = (
        render(
            """<h2 id="report">Full report</h2>
<details><summary>The JSON report of the latest check</summary>
<pre>{json}</pre></details>""",
            json=json.dumps(report, indent=2, default=str),
        )
        if report
        else ""
    )
    body = render(
        """<p><a href="{root}/">← all endpoints</a></p>
<h1>{name} {badge}</h1>
{facts}
{latest}
<h2 id="history-section">History</h2>
<p class="muted">One row per state: consecutive checks that saw the same verdict,
findings and certificate share a row.</p>
{history}
<h2 id="alerts-section">Alerts</h2>
{alerts}
{full}
<p class="muted">As JSON: <a href="{api}">{api}</a>, <a href="{api}/history">history</a>,
<a href="{root}/api/alerts?target={query}">alerts</a>.</p>""",
        root=root,
        name=target.name,
        badge=badge(observation),
        facts=_facts(target, observation, now),
        latest=latest,
        history=_history(runs),
        alerts=_alerts(alerts),
        full=full,
        api=api,
        query=quote(target.name, safe=""),
    )
    return _layout(f"{target.name} · tlsdoctor watch", body, now, root=root)


def error_page(status: int, title: str, message: str, now: dt.datetime, *, root: str = "") -> str:
    body = render(
        """<h1>{status} {title}</h1>
<p>{message}</p>
<p><a href="{root}/">← all endpoints</a></p>""",
        status=status,
        title=title,
        message=message,
        root=root,
    )
    return _layout(f"{status} {title} · tlsdoctor watch", body, now, root=root)
