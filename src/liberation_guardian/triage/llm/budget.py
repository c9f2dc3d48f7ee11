"""How much one `ai_providers` entry may spend: tokens, and optionally money, per rolling hour.

The budget is checked before a request and charged after it with the tokens the
provider reported, so one request can overshoot it; the next is refused until enough of
the last hour's spending has aged out. Cost is tokens times `cost_per_1k_tokens`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 3600.0


class HourlyBudget:
    """Tokens (and cost) spent over the last hour against optional limits.

    Usage::

        budget = HourlyBudget(max_tokens=50_000, cost_per_1k_tokens=0.003, max_cost=1.0)
        if budget.exceeded() is None:
            ...  # ask the model, then:
            budget.spend(1_234)
    """

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        cost_per_1k_tokens: float | None = None,
        max_cost: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_tokens = max_tokens
        self.cost_per_1k_tokens = cost_per_1k_tokens
        self.max_cost = max_cost
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def tokens_last_hour(self) -> int:
        """Tokens charged within the last hour."""
        with self._lock:
            self._expire()
            return sum(tokens for _, tokens in self._spent)

    def exceeded(self) -> str | None:
        """Why no further request may be made now, or None when one may."""
        tokens = self.tokens_last_hour()
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"{tokens} tokens used in the last hour (max_tokens_per_hour {self.max_tokens})"
        if self.max_cost is not None and self.cost_per_1k_tokens is not None:
            cost = tokens / 1000 * self.cost_per_1k_tokens
            if cost >= self.max_cost:
                return f"cost {cost:.4f} in the last hour (max_cost_per_hour {self.max_cost})"
        return None

    def spend(self, tokens: int) -> None:
        """Charge a finished request."""
        with self._lock:
            self._spent.append((self._clock(), tokens))

    def _expire(self) -> None:
        horizon = self._clock() - WINDOW_SECONDS
        while self._spent and self._spent[0][0] <= horizon:
            self._spent.popleft()
