"""Config checks shared by the sources Liberation Guardian can answer back (Sentry, PagerDuty).

A source that is told when its incident is acknowledged (see `act/upstream/`) carries an
API base URL and a few required keys in its config model; the checks here keep those
keys' errors worded alike. Nothing here talks to a network.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def api_base_url(value: str) -> str:
    """`value` without a trailing `/` when it is an http(s) URL with a host and nothing a token could hide in."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; the token goes in api_token_env")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.strip().rstrip("/")


def require_for(switch: str, values: dict[str, str | None], why: str) -> None:
    """Raise ValueError naming every key of `values` that is unset, as needed because `switch` is true."""
    missing = [key for key, value in values.items() if not value]
    if missing:
        raise ValueError(
            f"{_and(missing)} {'is' if len(missing) == 1 else 'are'} required when {switch} is true: {why}"
        )


def _and(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
