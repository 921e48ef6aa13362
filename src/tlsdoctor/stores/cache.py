"""What a store held when its files were last read, kept until a file changes.

Reading a Java keystore costs a JVM start (keytool, ~0.7 s), an NSS database one certutil
run per nickname: ``trust find`` and ``trust list`` would take seconds. Each store is read
once and its contents kept twice: in this process (``contains`` and ``info`` ask again),
and in a JSON file under the user's cache directory, keyed by the identity of the files
the store lives in (device, inode, size, modification and change times, in ns). Any
write by keytool, certutil or update-ca-certificates changes at least one of them, so a
stale answer needs a file rewritten in place within the same nanosecond with the same size.
A cache that cannot be read or written is only a slower path, never an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tlsdoctor.errors import TlsDoctorError
from tlsdoctor.models import JsonValue

_VERSION = 1
_memory: dict[str, JsonValue] = {}


def cache_dir() -> Path:
    """``$TLSDOCTOR_HOME/.cache/tlsdoctor/stores`` (sandboxes), ``$XDG_CACHE_HOME/...``,
    else ``~/.cache/tlsdoctor/stores``."""
    from tlsdoctor.stores.system import user_dir

    return user_dir("XDG_CACHE_HOME", ".cache") / "stores"


def identity(paths: Sequence[Path]) -> str | None:
    """A key that changes whenever one of ``paths`` changes (None: one cannot be stat'ed)."""
    parts: list[str] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            return None
        parts.append(
            f"{path.resolve()}|{info.st_dev}|{info.st_ino}|{info.st_size}|"
            f"{info.st_mtime_ns}|{info.st_ctime_ns}"
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def remembered(
    kind: str, paths: Sequence[Path], read: Callable[[], JsonValue], *, disk: bool = True
) -> JsonValue:
    """``read()``, or what it returned last time none of ``paths`` had changed."""
    key = identity(paths)
    if key is None:
        return read()
    slot = f"{kind}-{hashlib.sha256(str(paths[0].resolve()).encode()).hexdigest()[:12]}"
    key = f"{slot}-{key}"
    if key in _memory:
        return _memory[key]
    file = cache_dir() / f"{key}.json"
    if disk:
        try:
            stored = json.loads(file.read_text(encoding="utf-8"))
            if isinstance(stored, dict) and stored.get("version") == _VERSION:
                value: JsonValue = stored["value"]
                _memory[key] = value
                return value
        except (OSError, ValueError, KeyError):
            pass
    value = read()
    _memory[key] = value
    if disk:
        _store(file, slot, value)
    return value


def rows(value: JsonValue, width: int) -> list[list[str]]:
    """``value`` as a list of ``width`` strings per row (what the stores remember); rows of
    another shape (a damaged cache file) are dropped."""
    if not isinstance(value, list):
        return []
    return [
        [str(cell) for cell in row] for row in value if isinstance(row, list) and len(row) == width
    ]


def forget() -> None:
    """Drop what this process remembers (the files on disk check themselves)."""
    _memory.clear()


def _store(file: Path, slot: str, value: JsonValue) -> None:
    from tlsdoctor.remedy.files import write_atomically

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        for old in file.parent.glob(f"{slot}-*.json"):  # one entry per store is plenty
            if old != file:
                old.unlink(missing_ok=True)
        text = json.dumps({"version": _VERSION, "value": value})
        write_atomically(file, text.encode(), force=True)
    except (OSError, TlsDoctorError):  # a cache that cannot be written is only slower
        return
