"""Where a registrable domain begins: the public suffix list, asked through
``publicsuffixlist`` (its bundled copy, never downloaded at run time).

``co.uk``, ``com`` and ``github.io`` are suffixes under which anyone can register, so no
certificate, wildcard or CA constraint may cover one whole: ``example.co.uk`` is the apex
a ``www.`` partner belongs to, not ``co.uk``. Names under a top-level domain the list does
not know (``acme.test``, ``corp.internal``) follow its default rule: the last label is the
suffix.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList


@functools.cache
def _list(icann_only: bool) -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(only_icann=icann_only)


def is_public_suffix(name: str, *, icann_only: bool = False) -> bool:
    """Whether ``name`` (A-labels, no trailing dot) is itself a public suffix (``co.uk``;
    ``github.io`` too unless ``icann_only``: the list's private section, suffixes that
    companies run, whose owner may hold a certificate for the suffix itself)."""
    return bool(_list(icann_only).is_public(name.lower()))


def registrable_domain(name: str, *, icann_only: bool = True) -> str | None:
    """The domain someone registered that ``name`` lies under (``example.co.uk`` for
    ``www.example.co.uk``); None when ``name`` is a public suffix or above one."""
    found = _list(icann_only).privatesuffix(name.lower())
    return None if found is None else str(found)
