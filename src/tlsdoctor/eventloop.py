"""The event loop of a scan: uvloop's when it is installed, else asyncio's.

A scan's Python work per target is mostly the event loop's: uvloop (the ``fast`` extra,
``pip install 'tlsdoctor[fast]'``) does the same in C and leaves more of a core to the
diagnosis (measured by bench/bench_scale.py). ``TLSDOCTOR_EVENT_LOOP=asyncio`` keeps
asyncio's loop even with uvloop installed; ``uvloop`` insists on it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from tlsdoctor.errors import InputError

T = TypeVar("T")
CHOICE = "TLSDOCTOR_EVENT_LOOP"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop :envvar:`TLSDOCTOR_EVENT_LOOP` picks (default:
    uvloop's when importable)."""
    choice = os.environ.get(CHOICE, "auto").strip().lower() or "auto"
    if choice not in ("auto", "uvloop", "asyncio"):
        main.close()
        raise InputError(f"{CHOICE} must be auto, uvloop or asyncio, not {choice[:40]!r}")
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                main.close()
                raise InputError(
                    f"{CHOICE}=uvloop but uvloop is not installed: pip install 'tlsdoctor[fast]'"
                ) from None
        else:
            return uvloop.run(main)
    return asyncio.run(main)
