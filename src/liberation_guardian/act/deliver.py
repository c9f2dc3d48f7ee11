"""The delivery stage around every channel: claim, send, retry with backoff, give up loudly.

Each channel has its own loop, so a channel that is slow or failing delays only its
own messages. A delivery is marked `sending` before the attempt and `delivered`
after; if the process dies in between, the delivery goes back to `pending` at the
next start and is sent again with the same idempotency key (at-least-once for that
one message in flight; the key lets a receiver drop the repeat).

A channel's `rate_limit_per_minute` holds messages beyond the limit as pending until
the window has room; they are not attempts and never fail for it. A message given up
(dead after its last retry, or refused for good) is logged as an error, counted, and
announced through `delivery.fallback_channel` (the log by default).
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from limits import RateLimitItemPerMinute, storage, strategies
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.act.notify.base import Channel, Notification
from liberation_guardian.config.schema import DeliveryConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity
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
        per_minute = channel.config.rate_limit_per_minute
        self._limit = RateLimitItemPerMinute(per_minute) if per_minute else None
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

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
            claimed = []
            for delivery in due:
                if self._limit is not None and not self._limiter.hit(self._limit, self.channel_name):
                    # Over the channel's rate: wait for room in the window, without counting an attempt.
                    reset = self._limiter.get_window_stats(self._limit, self.channel_name).reset_time
                    delivery.next_attempt_at = max(utcnow(), datetime.fromtimestamp(reset, UTC))
                    continue
                delivery.status = SENDING
                claimed.append((delivery.id, delivery.attempts, delivery.notification))
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
            self._announce(session, delivery, notification, error)
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

    def _announce(self, session: Session, delivery: Delivery, lost: Notification, error: DeliveryFailed) -> None:
        """Queue a notice of the lost message to the fallback channel (unless that is the one failing)."""
        fallback = self.config.fallback_channel
        if fallback == self.channel_name:
            return
        key = f"dead-letter-{delivery.id}/{fallback}"
        notice = Notification(
            idempotency_key=key,
            incident_id=lost.incident_id,
            transition="delivery_failed",
            action="escalate",
            severity=Severity.high,
            title=f"Could not deliver to {self.channel_name}: {lost.title}",
            summary=f"After {delivery.attempts} attempt(s) the {self.channel_name} channel gave up: {error.reason}",
            rationale="A message that cannot be delivered is announced here so that no failure is silent.",
            source=lost.source,
            service=lost.service,
            environment=lost.environment,
            incident_url=lost.incident_url,
            instance=lost.instance,
        )
        session.add(
            Delivery(
                incident_id=delivery.incident_id,
                channel=fallback,
                idempotency_key=key,
                transition="delivery_failed",
                notification=notice.model_dump(mode="json"),
            )
        )
