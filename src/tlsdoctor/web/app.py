"""The dashboard as a Starlette application: HTML pages, the JSON API, metrics, calendar.

Everything is read-only (GET and HEAD; anything else is 405). The history calls are
blocking SQLAlchemy, so the endpoints are plain functions, which Starlette runs in its
thread pool; one :class:`~tlsdoctor.history.store.History` (one engine, whose pool is
thread-safe) serves every request.

Access, decided by one middleware before any route runs:

- with a token, every path but ``/healthz`` needs ``Authorization: Bearer TOKEN``, or the
  session cookie a browser gets by opening any page once with ``?token=TOKEN`` (the
  answer is a redirect to the same page without it, so the token does not stay in the
  address bar, the history or a Referer). The cookie holds an HMAC of the token, not the
  token, and is HttpOnly and SameSite=Strict. Comparisons are constant-time.
- ``allowed_hosts`` (what ``serve`` sets on loopback without a token) refuses any other
  Host header: a web page the user visits cannot rebind its own name to 127.0.0.1 and
  read the dashboard through the browser.
- every answer carries a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tlsdoctor.check import utc_now
from tlsdoctor.history.store import History, HistoryError
from tlsdoctor.monitor.calendar import expiry_calendar
from tlsdoctor.monitor.metrics import MetricsCache, history_exposition
from tlsdoctor.web import _pages, _views
from tlsdoctor.web._openapi import openapi_document

__all__ = ["COOKIE", "SECURITY_HEADERS", "create_app"]

COOKIE = "tlsdoctor_session"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_LIMIT = 1000
SECURITY_HEADERS: Mapping[str, str] = {
    # No script may run, whatever a page holds; styles are inline (one file, no CDN);
    # data: only for the empty icon that spares browsers a /favicon.ico request; forms
    # (the overview's search, a GET) only to the dashboard itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_COOKIE_CONTEXT = b"tlsdoctor watch serve: browser session"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tlsdoctor")
    except PackageNotFoundError:  # a source checkout on sys.path, not installed
        return "0"


class _HistorySource:
    """The History the routes read: given, or made once by a factory on first use (and
    then closed with the app)."""

    def __init__(self, source: Callable[[], History] | History) -> None:
        self._given = source if isinstance(source, History) else None
        self._factory = None if isinstance(source, History) else source
        self._made: History | None = None
        self._lock = threading.Lock()

    def get(self) -> History:
        if self._given is not None:
            return self._given
        with self._lock:
            if self._made is None:
                assert self._factory is not None
                self._made = self._factory()
            return self._made

    def close(self) -> None:
        with self._lock:
            if self._made is not None:
                self._made.close()
                self._made = None


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _host_of(header: str) -> str:
    """The host of a Host header, without its port; brackets kept on IPv6."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _route_path(scope: Scope) -> str:
    """The decoded path the routes see: ``path`` holds ``root_path`` too (ASGI), when a
    proxy mounts the dashboard under a prefix."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _wants_json(scope: Scope) -> bool:
    path = _route_path(scope)
    return path.startswith("/api/") or path in ("/api", "/openapi.json", "/healthz")


class _Guard:
    """Host check, token check and security headers, around the whole app."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        allowed_hosts: Collection[str] | None,
        https: bool = False,
    ) -> None:
        self.app = app
        self.https = https
        self.token = token or None
        self.cookie = _cookie_value(token) if token else ""
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        if self.allowed_hosts is not None:
            host = _host_of(request.headers.get("host", ""))
            if host not in self.allowed_hosts:
                return _error(
                    request,
                    421,
                    "Misdirected Request",
                    f"This dashboard answers to {', '.join(sorted(self.allowed_hosts))} only,"
                    f" not to {host or 'a request without a Host header'}.",
                )
        if self.token is None or _route_path(request.scope) == "/healthz":
            return None
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self.token):
            return None
        if _same(request.cookies.get(COOKIE, ""), self.cookie):
            return None
        offered = request.query_params.get("token")
        if offered is not None and _same(offered, self.token):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            # The path is decoded: a "?" or "#" of a target name must be encoded again.
            location = quote(str(request.scope["path"]), safe="/:@")
            if rest:
                location += "?" + urlencode(rest)
            response = RedirectResponse(location, status_code=303)
            # Secure when the server speaks HTTPS itself; over plain HTTP (TLS at a proxy
            # in front, or none on loopback) a Secure cookie would never come back.
            response.set_cookie(
                COOKIE,
                self.cookie,
                httponly=True,
                samesite="strict",
                path="/",
                secure=self.https,
            )
            return response
        refused = _error(
            request,
            401,
            "Unauthorized",
            "This dashboard needs its token: send 'Authorization: Bearer TOKEN', or open"
            " the page once as ?token=TOKEN in a browser.",
        )
        refused.headers["WWW-Authenticate"] = 'Bearer realm="tlsdoctor"'
        return refused


def _error(request: Request, status: int, title: str, message: str) -> Response:
    if _wants_json(request.scope):
        return JSONResponse({"error": message}, status_code=status)
    root = request.scope.get("root_path", "")
    page = _pages.error_page(status, title, message, utc_now(), root=root)
    return HTMLResponse(page, status_code=status)


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", "100")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise HTTPException(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def _selection(request: Request, per_page: int) -> _views.Selection:
    """The search, state, label and page asked for in the query string."""
    params = request.query_params
    state = params.get("state") or None
    if state is not None and state not in _views.STATES:
        raise HTTPException(400, f"state must be one of {', '.join(_views.STATES)}")
    numbers = {}
    for name, default, top in (("page", 1, 1_000_000), ("per_page", per_page, MAX_LIMIT)):
        text = params.get(name, str(default))
        if not text.isdigit() or not 1 <= int(text) <= top:
            raise HTTPException(400, f"{name} must be a whole number from 1 to {top}")
        numbers[name] = int(text)
    return _views.Selection(
        search=(params.get("q") or "").strip().lower()[:200],
        state=state,
        label=params.get("label") or None,
        page=numbers["page"],
        per_page=numbers["per_page"],
    )


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def create_app(
    history_factory: Callable[[], History] | History,
    *,
    token: str | None,
    allowed_hosts: Collection[str] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    https: bool = False,
) -> Starlette:
    """The dashboard over a watch history.

    ``history_factory`` is a History the caller keeps (and closes), or a function that
    opens one, called on the first request; the app closes that one when it shuts down.
    ``token`` (None or empty: none) is required on every route but ``/healthz``.
    ``allowed_hosts`` limits the Host headers answered (None: any). ``clock`` gives the
    "now" that days left count from.
    """
    source = _HistorySource(history_factory)
    metrics_cache = MetricsCache()  # each check rendered once, not at every scrape
    document = openapi_document(token_required=bool(token), version=_version())

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def name_of(request: Request) -> str:
        return str(request.path_params["name"])

    def index(request: Request) -> Response:
        entries = source.get().latest_all()
        chosen = _selection(request, _views.PAGE_SIZE)
        page = _pages.index_page(entries, clock(), root=root(request), selection=chosen)
        return HTMLResponse(page)

    def target_page(request: Request) -> Response:
        name = name_of(request)
        history = source.get()
        target = history.target(name)
        if target is None:
            return _error(request, 404, "Not Found", f"{name} is not watched.")
        page = _pages.target_page(
            target,
            history.latest(name),
            history.history(name, limit=50, with_reports=False),
            history.alerts(name, limit=50),
            clock(),
            root=root(request),
        )
        return HTMLResponse(page)

    def api_targets(request: Request) -> Response:
        now = clock()
        entries = _views.worst_first(source.get().latest_all(), now)
        if request.query_params:  # without parameters: every target, as before
            entries, total = _selection(request, _views.MAX_PAGE_SIZE).pick(entries)
        else:
            total = len(entries)
        answer = [_views.target_json(t, o, now, root(request)) for t, o in entries]
        return JSONResponse(answer, headers={"X-Total-Count": str(total)})

    def api_target(request: Request) -> Response:
        name = name_of(request)
        history = source.get()
        target = history.target(name)
        if target is None:
            return _error(request, 404, "Not Found", f"{name} is not watched")
        data = _views.detail_json(target, history.latest(name), clock(), root(request))
        return JSONResponse(data)

    def api_history(request: Request) -> Response:
        name = name_of(request)
        limit = _limit(request)
        history = source.get()
        if history.target(name) is None:
            return _error(request, 404, "Not Found", f"{name} is not watched")
        reports = _flag(request, "reports")
        runs = history.history(name, limit=limit, with_reports=reports)
        return JSONResponse([_views.run_json(run, reports) for run in runs])

    def api_alerts(request: Request) -> Response:
        limit = _limit(request)
        target = request.query_params.get("target") or None
        records = source.get().alerts(target, limit=limit)
        return JSONResponse([_views.alert_json(record) for record in records])

    def openapi(request: Request) -> Response:
        return JSONResponse(document)

    def metrics(request: Request) -> Response:
        data = history_exposition(source.get(), clock(), metrics_cache)
        return Response(data, media_type=METRICS_TYPE)

    def calendar(request: Request) -> Response:
        entries = source.get().latest_all(with_reports=True)
        data = expiry_calendar([(t, o) for t, o in entries if o is not None], now=clock())
        return Response(
            data,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="tlsdoctor-expiry.ics"'},
        )

    def healthz(request: Request) -> Response:
        # Unhealthy when targets went unchecked for two of their intervals: the database
        # answers, but no watch is sweeping it (a stopped daemon, a dead cron job).
        health = source.get().health(clock())
        finished = health.last_sweep_finished
        body = {
            "status": "ok" if health.healthy else "unhealthy",
            "targets": health.targets,
            "overdue_targets": health.overdue,
            "last_sweep": None if finished is None else _views.when(finished),
            "outbox_pending": health.outbox_pending,
        }
        return JSONResponse(body, status_code=200 if health.healthy else 503)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        title = titles.get(exc.status_code, "Error")
        message = exc.detail if exc.status_code == 400 else f"{title}: {_route_path(request.scope)}"
        response = _error(request, exc.status_code, title, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def history_error(request: Request, exc: Exception) -> Response:
        return _error(request, 503, "Service Unavailable", str(exc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            source.close()

    # {name:path}: a name may hold "/" once decoded; the history route comes first so
    # that ".../history" is not read as part of a name.
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/target/{name:path}", target_page, methods=["GET"]),
        Route("/api/targets", api_targets, methods=["GET"]),
        Route("/api/targets/{name:path}/history", api_history, methods=["GET"]),
        Route("/api/targets/{name:path}", api_target, methods=["GET"]),
        Route("/api/alerts", api_alerts, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/calendar.ics", calendar, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, HistoryError: history_error},
        middleware=[Middleware(_Guard, token=token, allowed_hosts=allowed_hosts, https=https)],
        lifespan=lifespan,
    )
