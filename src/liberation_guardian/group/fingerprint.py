"""Fingerprints: equal fingerprints mean the same problem.

When the tool says which events belong together (Sentry's issue id, Alertmanager's
alert fingerprint) its key is used. Otherwise the fingerprint is built from the
exception type, the message with its volatile parts replaced by placeholders, the
top in-app frames, and the service and environment, so "timeout after 3012 ms on
order 8812" and "timeout after 2998 ms on order 17" group together.
"""

from __future__ import annotations

import hashlib
import re

from liberation_guardian.events import NormalizedEvent

# Order matters: whole timestamps and ids go before the numbers inside them.
_VOLATILE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`"), "<str>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"[-+]?\b\d+(\.\d+)?\b"), "<n>"),
]
_SPACE = re.compile(r"\s+")
_TOP_FRAMES = 3


def normalize_message(text: str) -> str:
    """Replace numbers, ids, hex, UUIDs, timestamps and quoted values with placeholders."""
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip().lower()


def fingerprint(event: NormalizedEvent) -> str:
    """The grouping key of an event, as 32 hex characters."""
    if event.grouping_key:
        parts = [event.source, "key", event.grouping_key]
    else:
        in_app = [frame for frame in event.stack_frames if frame.in_app] or event.stack_frames
        frames = [f"{frame.module or frame.filename or ''}:{frame.function or ''}" for frame in in_app[-_TOP_FRAMES:]]
        text = event.message if event.exception_type and event.message else f"{event.title}\n{event.message}"
        parts = [
            event.source,
            event.exception_type or "",
            normalize_message(text),
            *frames,
            event.service or "",
            event.environment or "",
        ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
