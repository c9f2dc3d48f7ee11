"""One notification to several targets, where a retry must not repeat the targets already reached.

Channels such as `sms` (one request per phone number) and `apprise` (one call per
service URL) fan a notification out. The delivery stage retries a notification as a
whole, so without help a retry after "3 of 4 sent, the 4th got a 429" would text the
first three people again. `fan_out` tries every target that has not been reached yet,
remembers the ones that were (per idempotency key, in `Reached`), and only then decides:

- every target reached: delivered, and the memory of that key is dropped;
- some target failed in a way worth retrying: `DeliveryFailed(retryable=True)` naming the
  targets not reached; the retry tries those alone;
- the remaining failures are all permanent: delivered if at least one target was reached
  (the failures are logged at WARNING, as the email channel does for refused recipients),
  otherwise `DeliveryFailed(retryable=False)`.

The memory lives in the process and holds the most recent keys only: after a restart, or
for a notification retried after thousands of others, a retry reaches every target again
(at least once, never silently dropped). It is not a general outbox.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from liberation_guardian.errors import DeliveryFailed

log = logging.getLogger(__name__)

_REMEMBERED_KEYS = 1024


@dataclass(frozen=True)
class Target:
    """One destination of a fan-out: `key` identifies it between attempts, `label` names it in reasons."""

    key: str
    label: str


class Reached:
    """The targets already reached, per idempotency key, for the most recent keys.

    Usage::

        reached = Reached()
        pending = reached.pending("incident-42/t1-opened/sms", targets)
        reached.add("incident-42/t1-opened/sms", pending[0])
    """

    def __init__(self, capacity: int = _REMEMBERED_KEYS) -> None:
        self.capacity = capacity
        self._reached: OrderedDict[str, set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def pending(self, key: str, targets: Sequence[Target]) -> list[Target]:
        """The targets of `key` not reached by an earlier attempt, in their configured order."""
        with self._lock:
            done = self._reached.get(key, set())
            return [target for target in targets if target.key not in done]

    def add(self, key: str, target: Target) -> None:
        """Remember that `target` got the notification `key`."""
        with self._lock:
            self._reached.setdefault(key, set()).add(target.key)
            self._reached.move_to_end(key)
            while len(self._reached) > self.capacity:
                self._reached.popitem(last=False)

    def count(self, key: str) -> int:
        """How many targets of `key` have been reached so far."""
        with self._lock:
            return len(self._reached.get(key, ()))

    def forget(self, key: str) -> None:
        """Drop what is known about `key` (its delivery is settled)."""
        with self._lock:
            self._reached.pop(key, None)


def fan_out(
    channel: str,
    key: str,
    targets: Sequence[Target],
    send_one: Callable[[Target], None],
    reached: Reached,
) -> None:
    """Send to every target of `key` not reached yet; see the module docstring for the outcome.

    `send_one` delivers to one target or raises `DeliveryFailed` whose reason names that
    target's failure without a secret (and without the channel prefix, added here).
    """
    failures: list[tuple[Target, DeliveryFailed]] = []
    for target in reached.pending(key, targets):
        try:
            send_one(target)
        except DeliveryFailed as failure:
            failures.append((target, failure))
        else:
            reached.add(key, target)
    if not failures:
        reached.forget(key)
        return
    detail = "; ".join(f"{target.label}: {failure.reason}" for target, failure in failures)
    summary = f"{channel}: {len(failures)} of {len(targets)} not reached: {detail}"
    retryable = [failure for _, failure in failures if failure.retryable]
    if retryable:
        waits = [failure.retry_after for failure in retryable if failure.retry_after is not None]
        raise DeliveryFailed(summary, retryable=True, retry_after=max(waits) if waits else None)
    if reached.count(key):
        # Failing the whole delivery now would lose nothing but would record the targets
        # already reached as failed; the permanent refusals are for the operator to fix.
        log.warning("notification reached only some targets", extra={"channel": channel, "reason": summary})
        reached.forget(key)
        return
    reached.forget(key)
    raise DeliveryFailed(summary, retryable=False)
