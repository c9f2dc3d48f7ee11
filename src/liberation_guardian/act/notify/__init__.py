"""Channels: one module per way of reaching people, found by scanning this package.

Outside packages add channels through the entry-point group `liberation_guardian.channels`.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import cast

from liberation_guardian._registry import scan
from liberation_guardian.act.notify.base import Channel


@cache
def registry() -> dict[str, type[Channel]]:
    """Every known channel class by name."""
    return cast(dict[str, type[Channel]], scan(sys.modules[__name__], Channel, "liberation_guardian.channels"))
