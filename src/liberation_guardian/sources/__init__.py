"""Sources: one module per tool that sends webhooks, found by scanning this package.

Outside packages add sources through the entry-point group `liberation_guardian.sources`.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import cast

from liberation_guardian._registry import scan
from liberation_guardian.sources.base import Source


@cache
def registry() -> dict[str, type[Source]]:
    """Every known source class by name."""
    return cast(dict[str, type[Source]], scan(sys.modules[__name__], Source, "liberation_guardian.sources"))


def config_keys() -> dict[str, type[Source]]:
    """Every configuration key a source answers to (its name and its aliases)."""
    keys: dict[str, type[Source]] = {}
    for cls in registry().values():
        for key in (cls.name, *cls.aliases):
            keys[key] = cls
    return keys
