"""The options that choose where many checks run (``check -f``, ``watch once``/``run``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def execution_options(command: F) -> F:
    """``--workers N|auto`` and ``--cluster tcp://HOST:PORT`` (docs/scale.md)."""
    command = click.option(
        "--cluster",
        metavar="tcp://HOST:PORT",
        envvar="TLSDOCTOR_CLUSTER",
        help="Run the checks on the workers of this Dask scheduler (docs/scale.md).",
    )(command)
    return click.option(
        "--workers",
        "workers_text",
        metavar="N|auto",
        help="Spread the checks over N local processes (auto: one per core).",
    )(command)


def workers_count(text: str | None) -> int | None:
    from tlsdoctor.execute import parse_workers

    return None if text is None else parse_workers(text)
