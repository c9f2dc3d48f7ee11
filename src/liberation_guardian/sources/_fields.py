"""Field readers the source modules share: severity words, text, label maps, times, links, shapes.

Each reader takes whatever JSON value a payload holds and returns a clean value or
None, so a parser never raises on a field of the wrong type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from liberation_guardian.events import Link, Severity, Status

SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.critical,
    "page": Severity.critical,
    "emergency": Severity.critical,
    "error": Severity.high,
    "high": Severity.high,
    "major": Severity.high,
    "warning": Severity.medium,
    "warn": Severity.medium,
    "medium": Severity.medium,
    "low": Severity.low,
    "minor": Severity.low,
    "info": Severity.info,
    "informational": Severity.info,
    "none": Severity.info,
}

_DATETIME = TypeAdapter(datetime)


def severity_word(value: object) -> Severity | None:
    """Map a severity word such as `critical` or `warn` (any case) to a Severity, or None."""
    if not isinstance(value, str):
        return None
    return SEVERITY_WORDS.get(value.strip().lower())


def parse_status(value: object) -> Status | None:
    """`firing` or `resolved` (any case) as a Status, anything else as None."""
    if isinstance(value, str):
        try:
            return Status(value.strip().lower())
        except ValueError:
            return None
    return None


def text(value: object) -> str | None:
    """`value` if it is a non-blank string, else None."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def first_line(value: object) -> str | None:
    """The first line of a non-blank string, stripped; None for anything else."""
    found = text(value)
    return found.strip().splitlines()[0] if found else None


def identifier(value: object) -> str | None:
    """An id or number sent as a string or a 64-bit integer, as stripped text; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    found = text(value)
    return found.strip() if found else None


def as_object(value: object) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one, so nested reads need no checks."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def first_text(*values: object) -> str | None:
    """The first of `values` that is a non-blank string."""
    for value in values:
        if found := text(value):
            return found
    return None


def string_map(value: object) -> dict[str, str]:
    """The string-keyed scalar entries of a JSON object, values as strings; {} for anything else."""
    if not isinstance(value, dict):
        return {}
    result: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            # Integers beyond Python's digit limit cannot be shown; they are not label-like anyway.
            try:
                result[key] = str(item)
            except ValueError:
                continue
    return result


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string or Unix time as an aware datetime; None for Go's zero time or anything unparsable."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        parsed = _DATETIME.validate_python(value)
    except (ValidationError, ValueError, OverflowError):
        return None
    # Alertmanager and Grafana send 0001-01-01T00:00:00Z (Go's zero time) for "not set".
    if parsed.year <= 1:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def http_link(title: str, value: object) -> Link | None:
    """A Link when `value` is an http(s) URL; other schemes are dropped so no UI renders them as links."""
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        return Link(title=title, url=value.strip())
    return None


def unique_links(*candidates: tuple[str, object]) -> list[Link]:
    """Links for the candidate URLs that are http(s), each URL once."""
    links: list[Link] = []
    for title, url in candidates:
        link = http_link(title, url)
        if link is not None and all(existing.url != link.url for existing in links):
            links.append(link)
    return links


def json_scalars(**values: object) -> dict[str, Any]:
    """The values that are non-empty strings, booleans or numbers every JSON store holds."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            if value.strip():
                kept[key] = value
        elif isinstance(value, bool) or (isinstance(value, int) and -(2**63) <= value < 2**63):
            kept[key] = value
        elif isinstance(value, float) and math.isfinite(value):
            kept[key] = value
    return kept


def label_strings(**values: object) -> dict[str, str]:
    """`json_scalars` as strings, booleans as `true`/`false`."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in json_scalars(**values).items()
    }
