"""Who may post to a source, and how often: the IP allowlist and the per-source rate limit.

Both are checked before the body is read, so a refused sender costs almost nothing.
The limit is a moving window kept in memory by the `limits` library, per source.
"""

from __future__ import annotations

import math
import time
from ipaddress import ip_address

from limits import RateLimitItemPerMinute, storage, strategies

from liberation_guardian.errors import Forbidden, RateLimited
from liberation_guardian.sources.base import Source


class Guard:
    """Checks a request's client address and the source's rate before anything else."""

    def __init__(self) -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def check(self, source_name: str, source: Source, client_host: str | None) -> None:
        """Raise `Forbidden` or `RateLimited`, or return when the request may go on."""
        allowed = source.config.allowed_ips
        if allowed:
            try:
                address = ip_address(client_host or "")
            except ValueError:
                raise Forbidden(f"the client address is unknown and {source_name} accepts only allowed_ips") from None
            if not any(address in network for network in allowed):
                raise Forbidden(f"{address} is not in the allowed_ips of {source_name}")
        limit = source.config.rate_limit_per_minute
        if limit:
            item = RateLimitItemPerMinute(limit)
            if not self._limiter.hit(item, source_name):
                reset = self._limiter.get_window_stats(item, source_name).reset_time
                retry_after = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"{source_name} is limited to {limit} requests per minute", retry_after)
