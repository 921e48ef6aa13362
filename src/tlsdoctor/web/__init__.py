"""The dashboard of ``tlsdoctor watch`` (the ``tlsdoctor[web]`` extra).

::

    serve(db_url, host="127.0.0.1", port=8765, token_env=None)   # what `watch serve` runs
    create_app(history, token=None)                               # the ASGI app itself

Server-rendered HTML (no JavaScript, nothing fetched from elsewhere), a read-only JSON
API described by ``/openapi.json``, ``/metrics`` for Prometheus and ``/calendar.ics``.
:mod:`tlsdoctor.web.app` holds the routes and the access rules, :mod:`tlsdoctor.web.serve`
the socket and the token policy; the pages and JSON shapes are pure functions in
``_pages`` and ``_views``.

``create_app`` is imported on first use, so that ``serve`` (and with it ``watch serve``)
can say which package is missing instead of failing with an ImportError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tlsdoctor.web.serve import serve

if TYPE_CHECKING:
    from tlsdoctor.web.app import create_app

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tlsdoctor.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
