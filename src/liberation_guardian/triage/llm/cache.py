"""Answers already given, so a repeated problem never costs a second request.

The key is what makes two events the same problem for a model: the source, the title
and the exception type, normalized so that ids, numbers, addresses and case do not make
every repeat look new. The cache is in memory, bounded, and forgets the least recently
used answer first.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from liberation_guardian.triage.base import Case

T = TypeVar("T")

_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b"  # addresses, hashes
    r"|\d+",  # counts, ports, ids, timestamps
    re.I,
)


def cache_key(case: Case) -> str:
    """The case's source, title and exception type, lower-cased with volatile parts replaced by `#`."""
    parts = (case.source, case.title, case.exception_type or "")
    return "\x1f".join(" ".join(_VOLATILE.sub("#", part.lower()).split()) for part in parts)


class LruCache(Generic[T]):
    """A thread-safe mapping that keeps at most `size` entries, dropping the least recently used."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        """The value for `key` (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: T) -> None:
        """Store `value`, evicting the least recently used entry when full."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
