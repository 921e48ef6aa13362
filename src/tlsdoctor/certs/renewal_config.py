"""What a certificate is renewed with, stored at first issuance (certbot's renewal/*.conf).

One TOML file per certificate in a registry folder (tlsdoctor's data directory, or
``/etc/tlsdoctor`` as root): the CA, the names, how the challenge is answered, the key
type, the hooks. ``cert renew -o DIR`` and ``cert renew --all`` take everything from it,
so a timer runs one line. Secrets are never stored: the EAB HMAC key is needed only to
create the account, and a DNS provider's credentials stay in the environment or the file
the owner keeps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlsdoctor.certs.inputs import read_bounded
from tlsdoctor.errors import InputError
from tlsdoctor.remedy.files import write_atomically

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CHALLENGES = ("webroot", "standalone", "dns")
MAX_CONFIG_BYTES = 64 * 1024


@dataclass(frozen=True)
class RenewalConfig:
    """Everything ``cert renew`` needs to renew one certificate unattended."""

    folder: str  # absolute: the lineage (DIR/live, DIR/versions)
    directory: str  # ACME directory URL or a known name
    names: tuple[str, ...]
    challenge: str = "webroot"  # one of CHALLENGES
    webroot: str | None = None
    http_address: str = ""
    http_port: int = 80
    dns_hook: str | None = None  # DNS-01: a command that sets/removes the TXT record
    dns_rfc2136: str | None = None  # DNS-01: the primary server for RFC 2136 updates
    dns_tsig_key: str | None = None  # its TSIG key file (the path; the key stays there)
    dns_lexicon: str | None = None  # DNS-01: a dns-lexicon provider name
    dns_timeout: float = 120.0  # how long to wait for the record at every server
    email: str | None = None
    key_type: str = "ec-p256"
    reuse_key: bool = False
    renew_before_days: int | None = None
    pre_hook: str | None = None
    post_hook: str | None = None
    deploy_hook: str | None = None
    directory_ca: str | None = None
    ca_files: tuple[str, ...] = ()
    eab_kid: str | None = None
    timeout: float = 90.0
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys of later versions, kept

    def __post_init__(self) -> None:
        if self.challenge not in CHALLENGES:
            raise InputError(f"challenge '{self.challenge}': one of {', '.join(CHALLENGES)}")
        if self.challenge == "webroot" and not self.webroot:
            raise InputError("the webroot challenge needs --webroot DIR")
        ways = [w for w in (self.dns_hook, self.dns_rfc2136, self.dns_lexicon) if w]
        if self.challenge == "dns" and len(ways) != 1:
            raise InputError(
                "DNS-01 needs one way to set the record: --dns-rfc2136 SERVER, "
                "--dns-lexicon PROVIDER or --dns-hook CMD"
            )

    def to_toml(self) -> str:
        import tomli_w

        data = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()
            if v is not None and k != "extra"
        }
        return "# written by tlsdoctor cert renew; edit with care\n" + tomli_w.dumps(
            {**self.extra, **data}
        )

    @classmethod
    def from_toml(cls, text: str, source: str) -> RenewalConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{source}: not valid TOML ({exc})") from exc
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known or key == "extra":
                extra[key] = value
            elif isinstance(value, list):
                values[key] = tuple(str(v) for v in value)
            else:
                values[key] = value
        missing = [k for k in ("folder", "directory", "names") if k not in values]
        if missing:
            raise InputError(f"{source}: lacks {', '.join(missing)}")
        try:
            return cls(**values, extra=extra)
        except TypeError as exc:
            raise InputError(f"{source}: a value of the wrong type ({exc})") from exc

    def with_changes(self, **changes: Any) -> RenewalConfig:
        """A copy with the values given on the command line (None: keep the stored one)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


class Registry:
    """The folder of renewal configurations: one ``NAME-HASH.toml`` per certificate."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, lineage: str | Path) -> Path:
        absolute = os.path.abspath(lineage)
        readable = re.sub(r"[^A-Za-z0-9.-]+", "_", Path(absolute).name)[:60] or "root"
        digest = hashlib.sha256(absolute.encode()).hexdigest()[:10]
        return self.folder / f"{readable}-{digest}.toml"

    def load(self, lineage: str | Path) -> RenewalConfig | None:
        path = self.path_for(lineage)
        return _read(path) if path.exists() else None

    def save(self, config: RenewalConfig) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path_for(config.folder)
        return write_atomically(path, config.to_toml().encode(), force=True, mode=0o600)

    def remove(self, lineage: str | Path) -> None:
        self.path_for(lineage).unlink(missing_ok=True)

    def all(self) -> Iterator[tuple[Path, RenewalConfig | InputError]]:
        """Every stored configuration, by file name; a broken file is returned as its
        error, so one bad file never stops the others from renewing."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.toml")):
            try:
                yield path, _read(path)
            except InputError as exc:
                yield path, exc


def _read(path: Path) -> RenewalConfig:
    data = read_bounded(path, MAX_CONFIG_BYTES, "a renewal configuration")
    return RenewalConfig.from_toml(data.decode("utf-8", errors="replace"), str(path))
