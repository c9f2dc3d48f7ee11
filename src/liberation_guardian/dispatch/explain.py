"""What the dispatcher did with each incident, read back from the database, for `replay --explain`.

For every incident: its decisions, every message queued about it (when, on which channel,
to which receiver and addresses, with the note that says why it was sent then), and
every time it was held back or dropped, with the reason (a silence, an inhibiting
incident, an acknowledgement, a resolution before anything was due, a receiver with no
channel). Times are offsets from `start`, the moment the replay began.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.store.models import (
    Decision,
    Delivery,
    Escalation,
    GroupMember,
    Incident,
    NotificationGroup,
)


@dataclass
class Story:
    """One incident's account."""

    incident: Incident
    decisions: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The account as printable lines."""
        i = self.incident
        where = ", ".join(p for p in (i.source, f"service {i.service}" if i.service else "") if p)
        out = [f"#{i.id} [{i.severity}] {i.title} ({where}; {i.occurrences} events, {i.status})"]
        out += [f"  decided {d}" for d in self.decisions]
        out += [f"  {s}" for s in self.sent] or ["  sent nothing"]
        out += [f"  {s}" if s.startswith("escalation ") else f"  held: {s}" for s in self.suppressed]
        return out


def explain(session: Session, start: datetime) -> list[Story]:
    """Every incident's story, in incident order."""
    incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
    stories = {i.id: Story(i) for i in incidents}
    for decision in session.scalars(select(Decision).order_by(Decision.id)):
        story = stories.get(decision.incident_id)
        if story is not None:
            story.decisions.append(
                f"{decision.action} ({decision.severity}, {decision.category}) by {decision.decided_by}: "
                f"{decision.rationale.splitlines()[0] if decision.rationale else ''}"
            )
            if decision.action == "auto_acknowledge":
                story.suppressed.append("auto-acknowledged: nobody is told")
    receivers = {g.id: g.receiver for g in session.scalars(select(NotificationGroup))}
    for delivery in session.scalars(select(Delivery).order_by(Delivery.created_at, Delivery.id)):
        note = Notification.model_validate(delivery.notification)
        offset = _offset(delivery.created_at - start)
        receiver = _receiver(delivery.idempotency_key, receivers)
        to = f" {', '.join(note.recipients)}" if note.recipients else ""
        why = f" ({note.note})" if note.note else ""
        line = f"+{offset:<7} {delivery.channel} -> {receiver}{to}: {note.headline()}{why}"
        for incident_id in [item.incident_id for item in note.incidents] or [note.incident_id]:
            if incident_id in stories:
                stories[incident_id].sent.append(line)
    for member in session.scalars(select(GroupMember).where(GroupMember.suppressed.is_not(None))):
        story = stories.get(member.incident_id)
        if story is not None:
            state = "still held" if member.pending else "dropped"
            story.suppressed.append(f"{state} for {receivers.get(member.group_id, '?')}: {member.suppressed}")
    for run in session.scalars(select(Escalation).order_by(Escalation.id)):
        story = stories.get(run.incident_id)
        if story is not None and run.status != "active":
            story.suppressed.append(f"escalation {run.policy} {run.status}: {run.reason}")
    for story in stories.values():
        if not story.sent and not story.suppressed and any(not d.startswith("auto_") for d in story.decisions):
            story.suppressed.append("every receiver it routes to has no channel")
    return list(stories.values())


def _receiver(key: str, groups: dict[int, str]) -> str:
    """The receiver named by an idempotency key (`group-<id>/...`, `escalation-<id>/<r>.<s>/<receiver>/...`)."""
    head, _, rest = key.partition("/")
    if head.startswith("group-") and head[6:].isdigit():
        return groups.get(int(head[6:]), "?")
    if head.startswith("escalation-"):
        parts = rest.split("/")
        return f"{parts[1]} (escalation)" if len(parts) > 2 else "whoever the escalation reached"
    return "whoever heard"


def _offset(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds % 60 else f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
