"""The real TLS clients of this machine, run against an endpoint beside tlsdoctor's
predictions (``tlsdoctor check HOST --try-clients``), and the facts of their local builds.

- ``runners``: how each client (curl, wget, openssl s_client, gnutls-cli, Python ssl,
  requests, httpx, node, java, go) is pointed at an endpoint and what of its output a
  user reads; ``process``: bounded, process-group-killed execution.
- ``builds``: what each local build really allows (OpenSSL version and security level,
  minimum protocol, CN fallback), read once and only when asked.
- ``predict``: the report's per-client verdict adjusted for those builds (pure).
- ``session``: all of it for one endpoint, concurrently; the JSON form.

The names below are imported on first use, so that ``check`` (which only declares the
options) does not pay for the analysis modules the predictions need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlsdoctor.tryclients.runners import CLIENTS, PROFILE_OF, Dial, Outcome, Unavailable
    from tlsdoctor.tryclients.session import (
        Trial,
        Trials,
        parse_clients,
        trials_to_dict,
        try_clients,
    )

_WHERE = {
    "CLIENTS": "runners",
    "PROFILE_OF": "runners",
    "Dial": "runners",
    "Outcome": "runners",
    "Unavailable": "runners",
    "Trial": "session",
    "Trials": "session",
    "parse_clients": "session",
    "trials_to_dict": "session",
    "try_clients": "session",
}

__all__ = [
    "CLIENTS",
    "PROFILE_OF",
    "Dial",
    "Outcome",
    "Trial",
    "Trials",
    "Unavailable",
    "parse_clients",
    "trials_to_dict",
    "try_clients",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tlsdoctor.tryclients' has no attribute '{name}'")
    return getattr(importlib.import_module(f"tlsdoctor.tryclients.{module}"), name)
