"""Silences and maintenance windows: matchers plus a time range, honoured before anything is sent.

Stored in the database so every process sees them and they outlive restarts. A silence
is `pending` before `starts_at`, `active` until `ends_at`, then `expired`; deleting one
expires it at once (it stays listed, as in Alertmanager).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.dispatch.matchers import Matcher, all_match
from liberation_guardian.store.models import Silence


@dataclass(frozen=True)
class ActiveSilence:
    """A silence in force, its matchers compiled."""

    id: str
    matchers: tuple[Matcher, ...]
    ends_at: datetime

    def mutes(self, labels: Mapping[str, str]) -> bool:
        """Whether this silence covers an incident with these labels."""
        return all_match(self.matchers, labels)


def state(silence: Silence, now: datetime) -> str:
    """`pending`, `active` or `expired` at `now`."""
    if now < silence.starts_at:
        return "pending"
    return "active" if now < silence.ends_at else "expired"


def matchers_of(silence: Silence) -> tuple[Matcher, ...]:
    """The stored matchers, compiled."""
    return tuple(
        Matcher.build(m["name"], m["value"], is_regex=m.get("isRegex", False), is_equal=m.get("isEqual", True))
        for m in silence.matchers
    )


def check(matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """Refuse a silence that cannot be meant: no matcher, one that mutes everything, or a past end."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    if all(m.matches({}) for m in matchers):
        raise ValueError("at least one matcher must not match the empty string, or the silence would mute everything")
    if ends_at <= now:
        raise ValueError("endsAt is in the past")
    if ends_at <= starts_at:
        raise ValueError("endsAt must be after startsAt")


def create(
    session: Session,
    matchers: Sequence[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    """Store a new silence (the caller has validated the times and matchers)."""
    silence = Silence(
        id=str(uuid.uuid4()),
        matchers=[m.as_api() for m in matchers],
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
        updated_at=now,
    )
    session.add(silence)
    return silence


def expire(silence: Silence, now: datetime) -> bool:
    """End a silence now; False when it had already expired."""
    if state(silence, now) == "expired":
        return False
    silence.ends_at = max(now, silence.starts_at)
    silence.updated_at = now
    return True


def active(session: Session, now: datetime) -> list[ActiveSilence]:
    """Every silence in force at `now`."""
    rows = session.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now)).all()
    return [ActiveSilence(row.id, matchers_of(row), row.ends_at) for row in rows]


def muting(silences: Iterable[ActiveSilence], labels: Mapping[str, str]) -> ActiveSilence | None:
    """The first silence that covers these labels, if any."""
    return next((s for s in silences if s.mutes(labels)), None)


def as_api(silence: Silence, now: datetime) -> dict[str, Any]:
    """A silence in the shape of Alertmanager's API (v2)."""
    return {
        "id": silence.id,
        "status": {"state": state(silence, now)},
        "matchers": silence.matchers,
        "startsAt": silence.starts_at.isoformat(),
        "endsAt": silence.ends_at.isoformat(),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "updatedAt": silence.updated_at.isoformat(),
    }
