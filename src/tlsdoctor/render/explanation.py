"""``explain`` output: text for people, and the JSON of the spec."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding

from tlsdoctor.explain import Explanation
from tlsdoctor.render.json_report import report_to_dict
from tlsdoctor.render.safe import DEFAULT_LIMIT, safe_text

_UNKNOWN = "tlsdoctor does not know this message; a check of the host will tell what is wrong"


def _shown(text: str, limit: int | None = None) -> str:
    """Pasted or catalogue text for rich: made visible (the one safe-text rule), then
    markup-escaped. Catalogue sentences are ours and long, so only pasted text is cut."""
    return escape(safe_text(text, limit=limit))


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    entry = explanation.entry
    return {
        "recognised": explanation.recognised,
        "id": entry.id if entry else None,
        "client": entry.client if entry else None,
        "matched": explanation.matched,
        "meaning": entry.meaning if entry else _meaning_without_entry(explanation),
        "causes": [{"code": c.code, "why": c.why} for c in explanation.causes],
        "tell_apart": explanation.tell_apart,
        "next": explanation.next_step,
        "host": explanation.host,
        "diagnosis": None
        if explanation.diagnosis is None
        else {"code": explanation.diagnosis.code.value, "message": explanation.diagnosis.message},
        "report": None if explanation.report is None else report_to_dict(explanation.report),
        "confidence": explanation.confidence,
        "port": explanation.port,
        "notes": list(explanation.notes),
        "source": entry.source if entry else None,
    }


def _meaning_without_entry(explanation: Explanation) -> str:
    if not explanation.recognised:
        return _UNKNOWN
    return (
        "tlsdoctor does not know this exact message, but its TLS words point to the causes "
        "below (lower confidence); the check below decides"
    )


def render_explanation(explanation: Explanation, console: Console) -> None:
    entry = explanation.entry
    if not explanation.recognised:
        console.print("[bold yellow]? tlsdoctor does not recognise this message.[/]")
        console.print(f"Check the host it came from: [bold]{_shown(explanation.next_step)}[/]")
        return
    matched = _shown(explanation.matched or "", DEFAULT_LIMIT)
    if entry is not None:
        console.print(f"[bold]{_shown(entry.client)}[/] says: [dim]{matched}[/]")
        console.print(f"It means: {_shown(entry.meaning)}")
    else:
        console.print(
            f"[bold yellow]Not a message tlsdoctor knows;[/] its TLS words: "
            f"[dim]{matched}[/] ({explanation.confidence} confidence)"
        )
    for note in explanation.notes:
        console.print(f"[cyan]note:[/] {_shown(note)}")
    console.print("\nLikely causes, most likely first:")
    for number, cause in enumerate(explanation.causes, start=1):
        # A hanging indent: a wrapped cause stays under its number.
        console.print(
            Padding(f"{number}. [bold]{cause.code}[/]: {_shown(cause.why)}", (0, 0, 0, 2)),
        )
    if explanation.tell_apart:
        console.print(f"\nTelling them apart: {_shown(explanation.tell_apart)}")
    if explanation.report is not None:
        console.print()
        host = _shown(explanation.host or "")
        if explanation.diagnosis is not None:
            console.print(
                f"[bold]The check of {host} says it is "
                f"{explanation.diagnosis.code.value}:[/] {_shown(explanation.diagnosis.message)}"
            )
            for step in explanation.diagnosis.fix:
                console.print(Padding(f"[green]fix:[/] {_shown(step)}", (0, 0, 0, 2)))
        else:
            found = ", ".join(c.value for c in explanation.report.codes) or "no problem"
            console.print(
                f"[bold]The check of {host} finds {_shown(found)}[/], "
                "none of the causes above: the message may come from another network (a proxy), "
                "another time, or another client's trust store."
            )
    else:
        console.print(f"\nNext: [bold]{_shown(explanation.next_step)}[/]")
