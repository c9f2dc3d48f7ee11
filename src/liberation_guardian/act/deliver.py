"""The delivery stage around every channel: claim, send, retry with backoff, give up loudly.

Each channel has its own loop, so a channel that is slow or failing delays only its
own messages. A delivery is marked `sending` before the attempt and `delivered`
after; if the process dies in between, the delivery goes back to `pending` at the
next start and is sent again with the same idempotency key (at-least-once for that
one message in flight; the key lets a receiver drop the repeat).
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.act.notify.base import Channel, Notification
from liberation_guardian.config.schema import DeliveryConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.observe.metrics import Metrics
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Delivery, utcnow

log = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, FAILED, DEAD = "pending", "sending", "delivered", "failed", "dead"


def requeue_interrupted(sessions: sessionmaker[Session]) -> int:
    """Put deliveries left `sending` by a crashed process back to `pending`; returns how many."""
    with transaction(sessions) as session:
        result = session.execute(update(Delivery).where(Delivery.status == SENDING).values(status=PENDING))
        return int(getattr(result, "rowcount", 0) or 0)


def backoff(attempt: int, config: DeliveryConfig) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential with full jitter, capped."""
    ceiling = min(config.max_backoff_seconds, config.initial_backoff_seconds * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class Deliverer:
    """Sends the due deliveries of one channel."""

    def __init__(
        self,
        channel_name: str,
        channel: Channel,
        sessions: sessionmaker[Session],
        config: DeliveryConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.channel_name = channel_name
        self.channel = channel
        self.sessions = sessions
        self.config = config
        self.metrics = metrics

    def run_once(self, limit: int = 50) -> int:
        """Attempt every due delivery of this channel, up to `limit`; returns attempts made."""
        due_now = (
            Delivery.channel == self.channel_name,
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= utcnow(),
        )
        with self.sessions() as session:
            # Look before taking the write lock: most wake-ups find nothing for this channel.
            if session.scalars(select(Delivery.id).where(*due_now).limit(1)).first() is None:
                return 0
        with transaction(self.sessions) as session:
            due = session.scalars(select(Delivery).where(*due_now).order_by(Delivery.id).limit(limit)).all()
            for delivery in due:
                delivery.status = SENDING
            claimed = [(d.id, d.attempts, d.notification) for d in due]
        for delivery_id, attempts, payload in claimed:
            self._attempt(delivery_id, attempts + 1, Notification.model_validate(payload))
        return len(claimed)

    def next_due_in(self) -> float | None:
        """Seconds until this channel's next pending delivery is due, or None if there is none."""
        with self.sessions() as session:
            when = session.scalars(
                select(Delivery.next_attempt_at)
                .where(Delivery.channel == self.channel_name, Delivery.status == PENDING)
                .order_by(Delivery.next_attempt_at)
                .limit(1)
            ).first()
        return None if when is None else max((when - utcnow()).total_seconds(), 0.0)

    def _attempt(self, delivery_id: int, attempt: int, notification: Notification) -> None:
        error: DeliveryFailed | None = None
        try:
            self.channel.send(notification)
        except DeliveryFailed as exc:
            error = exc
        except Exception as exc:  # a channel bug must not stop the loop; it is recorded as a failure
            log.exception("channel raised unexpectedly", extra={"channel": self.channel_name})
            error = DeliveryFailed(f"unexpected error: {exc!r}", retryable=True)
        with transaction(self.sessions) as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts = attempt
            if error is None:
                delivery.status = DELIVERED
                delivery.delivered_at = utcnow()
                delivery.last_error = None
                if self.metrics:
                    self.metrics.deliveries.labels(self.channel_name).inc()
                return
            delivery.last_error = error.reason
            if self.metrics:
                self.metrics.delivery_failures.labels(self.channel_name).inc()
            if error.retryable and attempt < self.config.max_attempts:
                delivery.status = PENDING
                wait = max(backoff(attempt, self.config), error.retry_after or 0.0)
                delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
                log.warning(
                    "delivery failed, will retry",
                    extra={
                        "channel": self.channel_name,
                        "delivery_id": delivery_id,
                        "attempt": attempt,
                        "reason": error.reason,
                    },
                )
                return
            delivery.status = DEAD if error.retryable else FAILED
            if self.metrics:
                self.metrics.deliveries_dead.labels(self.channel_name).inc()
            log.error(
                "delivery given up",
                extra={
                    "channel": self.channel_name,
                    "delivery_id": delivery_id,
                    "incident_id": notification.incident_id,
                    "attempts": attempt,
                    "reason": error.reason,
                },
            )
