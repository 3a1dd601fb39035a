"""The one check for addresses taken from a request (`next`, `back`): same-site paths only.

A `next` or `back` value ends up in a Location header or an href, so anything a browser could read as
another origin or as script must go: schemes (javascript:, data:, https:), //host and the spellings
browsers turn into it. Browsers drop tabs and newlines anywhere in a URL, strip leading spaces and
control characters, and read a backslash as a slash, so "/\\evil.org", "/\\t/evil.org" and
" //evil.org" all mean //evil.org to them. Percent-encoded forms of these are refused too, so that
a value decoded once more on its way (by a proxy, or a later request's query parsing) is still safe.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# C0 controls, DEL and the backslash: nothing a same-site path of ours ever holds.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_LENGTH = 2048
_DECODE_ROUNDS = 3


def _path_is_safe(path: str) -> bool:
    return (path.startswith("/") and not path.startswith("//")
            and not _FORBIDDEN.search(path))


def same_site_path(value: str | None) -> str | None:
    """`value` if it is a path on this site ("/ct/?page=2"), else None."""
    if not isinstance(value, str) or not value or len(value) > _MAX_LENGTH:
        return None
    if not _path_is_safe(value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    # The path decoded, and decoded again: "/%2F%2Fevil.org" or "/%09/evil.org" must not become
    # another origin if anything on the way decodes it.
    path = parts.path
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path)
        if not _path_is_safe(decoded):
            return None
        if decoded == path:
            break
        path = decoded
    return value


def same_site_or(value: str | None, default: str) -> str:
    """`value` if it is a same-site path, else `default` (an address we built ourselves)."""
    return same_site_path(value) or default
