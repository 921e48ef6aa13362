"""Opening the history's database: the URL (SQLite file or PostgreSQL), the engine
and its settings, and the one error every failure of the database becomes."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Row

from tlsdoctor.errors import InputError

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

_CHUNK = 500
_SQLITE_BUSY_SECONDS = 30.0
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_PG_CONNECT_TIMEOUT = 10


class HistoryError(InputError):
    """The history database cannot be opened or used; the message says which and why."""


def default_url() -> str:
    """Where ``watch`` keeps its history unless ``--db`` says otherwise.

    ``$TLSDOCTOR_DB`` (a URL) wins; else ``watch.db`` in tlsdoctor's data directory,
    where the local CA and the ACME accounts live too (``$TLSDOCTOR_HOME/.local/share/
    tlsdoctor`` in a sandbox, ``~/.local/share/tlsdoctor`` on Linux, the platform's
    place elsewhere).
    """
    url = os.environ.get("TLSDOCTOR_DB")
    if url:
        return url
    if os.environ.get("TLSDOCTOR_HOME") or sys.platform.startswith("linux"):
        from tlsdoctor.stores.system import tlsdoctor_data_dir

        folder = tlsdoctor_data_dir()
    else:
        folder = Path(platformdirs.user_data_dir("tlsdoctor", False))
    return f"sqlite:///{folder / 'watch.db'}"


# -- the database -----------------------------------------------------------------------


def _engine_url(url: str) -> sa.URL:
    if "://" not in url:
        # A bare path is the friendliest spelling of an SQLite file for --db; but a value
        # that looks like neither a path nor a URL ("not a url", a mistyped
        # "postgresql:/host") is a mistake, not the name of a new file.
        path = Path(url).expanduser()
        looks_like_a_path = (
            os.sep in url or path.suffix.lower() in _SQLITE_SUFFIXES or path.is_file()
        )
        if not looks_like_a_path or re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", url):
            raise HistoryError(
                f"{url!r} is not a database URL: give sqlite:///path/to/watch.db, a file"
                " path (./watch.db) or postgresql://host/db"
            )
        return sa.URL.create("sqlite", database=str(path))
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise HistoryError(f"{url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif backend == "postgres":
            parsed = parsed.set(drivername="postgresql+" + parsed.get_driver_name())
        return parsed
    if backend == "sqlite":
        return parsed
    raise HistoryError(
        f"{parsed.render_as_string(hide_password=True)}: the history database must be "
        "SQLite (sqlite:///path) or PostgreSQL (postgresql://...)"
    )


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


class _UsageError(HistoryError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: the watch history failed ({reason})")
        self.reason = reason


def _sqlite_engine(url: sa.URL) -> tuple[Engine, str]:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file:")
    if not in_memory:
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise HistoryError(
                f"{path}: cannot create the folder of the watch history ({reason})"
            ) from exc
        url = url.set(database=str(path))
    where = database or ":memory:"
    # timeout is SQLite's busy timeout: a second watch process waits for the write lock
    # instead of failing at once.
    engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module's own transaction handling begins late and never for DDL;
        # off, so that _on_begin decides (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads, then
        # writes, fails with SQLITE_BUSY when another writer got in between, and the
        # busy timeout cannot help it. Readers stay deferred and never block in WAL.
        write = conn.get_execution_options().get("tlsdoctor_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine, where


class Connected:
    """A history's engine, and transactions on it that turn a database failure into a
    HistoryError naming the database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self.where = where  # the file or the URL without its password, for messages

    @contextmanager
    def _begin(self, write: bool) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(tlsdoctor_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as exc:
            raise _UsageError(self.where, _reason(exc)) from exc
