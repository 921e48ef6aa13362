"""``explain`` output: text for people, and the JSON of the spec."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from tlsdoctor.explain import Explanation
from tlsdoctor.render.json_report import report_to_dict
from tlsdoctor.render.safe import safe_text


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    entry = explanation.entry
    return {
        "recognised": explanation.recognised,
        "id": entry.id if entry else None,
        "client": entry.client if entry else None,
        "matched": explanation.matched,
        "meaning": entry.meaning
        if entry
        else "tlsdoctor does not know this message; a check of the host will tell what is wrong",
        "causes": [{"code": c.code, "why": c.why} for c in explanation.causes],
        "tell_apart": entry.tell_apart if entry else None,
        "next": explanation.next_step,
        "host": explanation.host,
        "diagnosis": None
        if explanation.diagnosis is None
        else {"code": explanation.diagnosis.code.value, "message": explanation.diagnosis.message},
        "report": None if explanation.report is None else report_to_dict(explanation.report),
    }


def render_explanation(explanation: Explanation, console: Console) -> None:
    entry = explanation.entry
    if entry is None:
        console.print("[bold yellow]? tlsdoctor does not recognise this message.[/]")
        console.print(f"Check the host it came from: [bold]{escape(explanation.next_step)}[/]")
        return
    matched = safe_text(explanation.matched or "")  # pasted text: escaped and bounded
    console.print(f"[bold]{escape(entry.client)}[/] says: [dim]{escape(matched)}[/]")
    console.print(f"It means: {escape(entry.meaning)}")
    console.print("\nLikely causes, most likely first:")
    for number, cause in enumerate(entry.causes, start=1):
        console.print(f"  {number}. [bold]{cause.code}[/]: {escape(cause.why)}")
    if entry.tell_apart:
        console.print(f"\nTelling them apart: {escape(entry.tell_apart)}")
    if explanation.report is not None:
        console.print()
        if explanation.diagnosis is not None:
            console.print(
                f"[bold]The check of {escape(explanation.host or '')} says it is "
                f"{explanation.diagnosis.code.value}:[/] {escape(explanation.diagnosis.message)}"
            )
            for step in explanation.diagnosis.fix:
                console.print(f"  [green]fix:[/] {escape(step)}")
        else:
            found = ", ".join(c.value for c in explanation.report.codes) or "no problem"
            console.print(
                f"[bold]The check of {escape(explanation.host or '')} finds {escape(found)}[/], "
                "none of the causes above: the message may come from another network (a proxy), "
                "another time, or another client's trust store."
            )
    else:
        console.print(f"\nNext: [bold]{escape(explanation.next_step)}[/]")
