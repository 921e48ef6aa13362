"""Text from outside, made safe to show: the one place that decides how.

Certificate fields, server headers, URLs, target names and pasted text are chosen by
whoever wrote them. Printed raw, an ESC or a C1 CSI (0x9b) drives the reader's terminal
(clear the screen, rewrite earlier lines, set the title, OSC 8 links), a right-to-left
override makes ``moc.elgoog`` read as ``google.com``, and a zero-width space hides a
difference between two names. :func:`safe_text` shows each such character as a visible
escape (``\\x1b``, ``\\u202e``) and bounds the length with a visible ellipsis, on a
terminal and in a pipe alike. :func:`safe_host` shows a name that is not plain ASCII with
its A-label and says why, so ``аpple.com`` (a Cyrillic а) never passes for ``apple.com``.
"""

from __future__ import annotations

import unicodedata

DEFAULT_LIMIT = 300
ELLIPSIS = "…"
# Categories that draw nothing, or steer the terminal or the text direction: controls
# (C0, DEL, C1), format characters (bidi embeddings, overrides and isolates, zero-width
# joiners and spaces, the BOM, soft hyphen), line and paragraph separators, and the lone
# surrogates that undecodable bytes become (errors="surrogateescape").
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
# Spaces other than the ordinary one look like it (U+00A0, U+2007, U+3000...).
_ODD_SPACES = frozenset({"Zs"})


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _needs_escape(char: str, keep: str) -> bool:
    if char in keep:
        return False
    if " " <= char <= "~":
        return False
    category = unicodedata.category(char)
    return category in _INVISIBLE_CATEGORIES or (category in _ODD_SPACES and char != " ")


def make_visible(text: str, keep: str = "") -> str:
    """``text`` with every control, format and invisible character written as an escape;
    the characters in ``keep`` (e.g. a newline in our own multi-line output) stay."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_visible(c) if _needs_escape(c, keep) else c for c in text)


def safe_text(value: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """``value`` as one line to show: invisible characters made visible, at most about
    ``limit`` characters (then an ellipsis and how much was left out)."""
    text = value if isinstance(value, str) else str(value)
    extra = ""
    if limit is not None and len(text) > limit:
        extra = f"{ELLIPSIS} (+{len(text) - limit} characters)"
        text = text[:limit]
    return make_visible(text) + extra


def safe_bytes(data: bytes, limit: int = 80) -> str:
    """A short, escaped prefix of bytes a user gave (a line of a file, a header)."""
    return safe_text(data[: limit + 1].decode("utf-8", "backslashreplace"), limit)


def _scripts(label: str) -> set[str]:
    """The scripts of the letters in ``label`` (LATIN, CYRILLIC, GREEK, ...)."""
    found: set[str] = set()
    for char in label:
        if char.isalpha():
            name = unicodedata.name(char, "")
            if name:
                found.add(name.split()[0])
    return found


def host_warning(name: str) -> str | None:
    """Why a host name is not what it seems, or None for a plain ASCII name."""
    if name.isascii():
        return None
    scripts = set().union(*(_scripts(label) for label in name.split(".")))
    mixed = any(len(_scripts(label)) > 1 for label in name.split("."))
    if mixed:
        return f"mixes {' and '.join(sorted(scripts))} letters: a look-alike name"
    return "not plain ASCII: compare its A-label"


def a_label(name: str) -> str | None:
    """The ASCII (punycode) form of ``name``, or None when it has none."""
    try:
        import idna

        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        try:
            return name.encode("idna").decode("ascii")
        except UnicodeError:
            return None


def _flag(name: str) -> str | None:
    """``[A-label; why]`` for a host name that is not plain ASCII, else None."""
    warning = host_warning(name)
    if warning is None:
        return None
    ascii_form = a_label(name) if len(name) <= 253 else None
    label = f"{ascii_form}; " if ascii_form and ascii_form != name else ""
    return f"[{label}{warning}]"


def safe_host(name: str, limit: int = 253) -> str:
    """A host name to show: escaped, and when not plain ASCII, with its A-label and a
    warning, e.g. ``аpple.com [xn--pple-43d.com; mixes CYRILLIC and LATIN letters...]``."""
    flag = _flag(name)
    shown = safe_text(name, limit)
    return shown if flag is None else f"{shown} {flag}"


def safe_dn(name: str, limit: int = DEFAULT_LIMIT) -> str:
    """A distinguished name to show (``CN=аpple.com,O=...``): escaped and bounded, and
    flagged like :func:`safe_host` when its CN is a host name that is not plain ASCII."""
    shown = safe_text(name, limit)
    for part in name.split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "CN" and "." in value and " " not in value.strip():
            flag = _flag(value.strip())
            if flag is not None:
                return f"{shown} {flag}"
    return shown


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part: a secret never ends up in a report."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{path}"


def safe_url(url: str, limit: int = DEFAULT_LIMIT) -> str:
    """A URL to show: no credentials, invisible characters visible, length bounded."""
    return safe_text(without_credentials(url), limit)


def echo(message: str, *, err: bool = False) -> None:
    """``click.echo`` for lines that quote outside text (target names, alert titles,
    errors of notifiers): every invisible character made visible, newlines kept."""
    import click

    click.echo(make_visible(message, keep="\n"), err=err)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_visible(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL, C1, bidi,
    zero-width and other invisible characters written as ``\\u`` escapes: readable names
    stay readable, and a JSON report piped to a terminal cannot drive it. Such characters
    only ever occur inside JSON strings, where the escape means the same character."""
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(_json_escape(c) if ord(c) >= 0x7F and _needs_escape(c, "") else c for c in text)
