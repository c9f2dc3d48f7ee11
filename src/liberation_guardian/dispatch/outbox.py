"""Queue one message for a receiver: one delivery row per channel, keyed so it is queued once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify import registry
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.config.routing import ReceiverConfig
from liberation_guardian.dispatch.defaults import LOG_CHANNEL
from liberation_guardian.store.models import Delivery


def queue(
    session: Session,
    receiver: ReceiverConfig | None,
    note: Notification,
    key: str,
    *,
    now: datetime,
    decision_id: int | None = None,
    never_silent: bool = False,
    members: Sequence[Notification] = (),
) -> list[str]:
    """Queue `note` to every channel of `receiver`; returns the channels.

    With `never_silent` (escalations) the log channel is added, so no escalation goes
    unrecorded, whatever the receiver holds; once per decision, when several routes carry it.
    """
    channels = list(receiver.channels) if receiver else []
    if never_silent and LOG_CHANNEL not in channels and not _logged(session, decision_id):
        channels.append(LOG_CHANNEL)
    for channel in channels:
        recipients = receiver.to.get(channel) if receiver else None
        cls = registry().get(channel)
        if members and cls is not None and cls.per_incident:
            # One alert per incident on the other side: each member goes as itself.
            for member in members:
                _add(session, channel, member, f"{key}/{channel}/{member.incident_id}", None, recipients, now)
        else:
            _add(session, channel, note, f"{key}/{channel}", decision_id, recipients, now)
    return channels


def _logged(session: Session, decision_id: int | None) -> bool:
    """Whether this decision already went to the log (through another route)."""
    if decision_id is None:
        return False
    found = select(Delivery.id).where(Delivery.decision_id == decision_id, Delivery.channel == LOG_CHANNEL)
    return session.scalar(found.limit(1)) is not None


def _add(
    session: Session,
    channel: str,
    note: Notification,
    idempotency_key: str,
    decision_id: int | None,
    recipients: list[str] | None,
    now: datetime,
) -> None:
    message = note.model_copy(update={"idempotency_key": idempotency_key, "recipients": recipients})
    session.add(
        Delivery(
            incident_id=note.incident_id,
            decision_id=decision_id,
            channel=channel,
            idempotency_key=idempotency_key,
            transition="grouped" if note.incidents else note.transition,
            notification=message.model_dump(mode="json"),
            created_at=now,
            next_attempt_at=now,
        )
    )
