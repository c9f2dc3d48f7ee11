"""Removing the secrets a tool puts in its own payloads, before the payload is stored or parsed.

Some payloads carry a credential: GitHub's secret scanning alert can carry the leaked secret
itself, an SNS subscription message the token that confirms it, a Rollbar occurrence the
access token it was reported with. The stored payload is served by the API and kept for
replays, so such values are replaced by `REDACTED` wherever they occur in the body, and the
body is parsed only after that, so no event can carry them either.

A source names the secrets of one payload with a finder; `redact_json` does the rest. A body
with nothing to redact is returned as received, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[redacted]"
# Shorter values are replaced only where they are a whole value: as substrings they would
# also match ordinary text.
_MIN_SUBSTRING = 8


def redact_json(body: bytes, find: Callable[[Any], Iterable[str]]) -> bytes:
    """`body` with every secret `find` names in the decoded JSON replaced by `REDACTED`, in any string."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body  # parse refuses it with a reason, and a refused payload is not stored
    secrets = {secret for secret in find(document) if secret and secret != REDACTED}
    if not secrets:
        return body
    # Longest first, so a secret that contains another is replaced whole.
    ordered = sorted(secrets, key=len, reverse=True)
    return json.dumps(_scrub(document, ordered), ensure_ascii=False).encode()


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {_scrub_text(key, secrets): _scrub(item, secrets) for key, item in value.items()}
    return value


def _scrub_text(text: str, secrets: list[str]) -> str:
    if text in secrets:
        return REDACTED
    for secret in secrets:
        if len(secret) >= _MIN_SUBSTRING:
            text = text.replace(secret, REDACTED)
    return text
