"""The dispatcher: puts decided incidents into notification groups and sends groups when due.

Alertmanager's timing, per route: a new group waits `group_wait` for more incidents
before its first message; after a message, news about the group (a new incident, a
worse severity, a resolution) waits until `group_interval` has passed since it; incidents
still open and unacknowledged are sent again every `repeat_interval`. A message about
one incident reads as that incident; about several, as a list.

Before anything is sent, silences and inhibition are checked; a muted incident stays
pending (with the reason recorded) and is looked at again when the silence ends or
after `group_interval`. Escalated incidents on a route with an escalation policy are
handed to the policy instead of the route's receiver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.config.routing import ReceiverConfig
from liberation_guardian.dispatch.defaults import build_tree
from liberation_guardian.dispatch.escalation import Escalations
from liberation_guardian.dispatch.inhibit import InhibitRule
from liberation_guardian.dispatch.mute import Mute
from liberation_guardian.dispatch.outbox import queue
from liberation_guardian.dispatch.routes import Route
from liberation_guardian.events import Severity
from liberation_guardian.group.incidents import IncidentStatus
from liberation_guardian.store.models import Delivery, Escalation, GroupMember, Incident, NotificationGroup

if TYPE_CHECKING:
    from liberation_guardian.config.load import LoadedConfig

FIRING = "firing"
RESOLVED = "resolved"
ESCALATED = "escalated"
ESCALATE = "escalate"
# The shortest wait before a muted incident is looked at again, even with a zero group_interval.
RECHECK_MUTED = timedelta(seconds=10)


class Dispatcher:
    """Routing, grouping, muting and escalation over the database."""

    def __init__(self, config: LoadedConfig) -> None:
        self.routing = config.settings.routing
        self.tree = build_tree(config)
        self.rules = [InhibitRule.compile(rule, i) for i, rule in enumerate(self.routing.inhibit_rules)]
        self.escalations = Escalations(self.tree, self.routing)

    # -- news about incidents -------------------------------------------------------------

    def enqueue(
        self, session: Session, incident: Incident, note: Notification, *, decision_id: int | None, now: datetime
    ) -> list[str]:
        """Put the incident's latest message into the groups its labels route to; returns the receivers."""
        labels = incident.labels or {}
        receivers = []
        for route, receiver in self.targets(labels, note.action):
            group = self._group(session, route, receiver, labels, now)
            member = session.scalar(
                select(GroupMember).where(GroupMember.group_id == group.id, GroupMember.incident_id == incident.id)
            )
            if member is None:
                member = GroupMember(group_id=group.id, incident_id=incident.id, notified_state="")
                session.add(member)
            member.notification = note.model_dump(mode="json")
            member.action = note.action
            member.decision_id = decision_id
            member.pending = True
            member.suppressed = None
            _schedule(group, route, now)
            receivers.append(receiver)
        return receivers

    def enqueue_resolution(self, session: Session, incident: Incident, note: Notification, now: datetime) -> None:
        """Tell whoever heard about the incident that it is resolved; drop news never sent."""
        self.escalations.stop(session, incident, "incident resolved")
        for run in self.escalations.unresolved(session, incident):
            told = self.escalations.told(session, run)
            queue(session, ReceiverConfig(channels=told), note, f"escalation-{run.id}/resolved", now=now)
        for member in session.scalars(select(GroupMember).where(GroupMember.incident_id == incident.id)).all():
            if member.notified_state == FIRING:
                member.notification = note.model_dump(mode="json")
                member.pending = True
                member.suppressed = None
                group = session.get(NotificationGroup, member.group_id)
                assert group is not None
                _schedule(group, self._route(group), now)
            elif member.pending:
                member.pending = False
                member.suppressed = "resolved before a message was due"

    def acknowledged(self, session: Session, incident: Incident, note: Notification, now: datetime) -> list[str]:
        """Stop escalations and tell every channel that heard about the incident; returns those channels."""
        self.escalations.stop(session, incident, f"acknowledged by {incident.acknowledged_by}")
        told = session.scalars(
            select(Delivery.channel)
            .where(Delivery.incident_id == incident.id, Delivery.transition.not_in(("resolved", "acknowledged")))
            .distinct()
        ).all()
        key = f"incident-{incident.id}/t{incident.transition_seq}-acknowledged"
        queue(session, ReceiverConfig(channels=sorted(told)), note, key, now=now)
        return sorted(told)

    def targets(self, labels: dict[str, str], action: str) -> list[tuple[Route, str]]:
        """(route, receiver) pairs an incident goes to, the owning team's receiver included."""
        found = [(route, route.receiver) for route in self.tree.match(labels)]
        owner = self.routing.services.get(labels.get("service", ""))
        if owner and owner.receiver and action != "auto_acknowledge":
            if all(receiver != owner.receiver for _, receiver in found):
                found.append((found[0][0], owner.receiver))
        # A receiver with no channel gets no group, except for escalations, which are never silent.
        return [(r, name) for r, name in found if self.tree.channels(name) or action == ESCALATE]

    # -- the timer --------------------------------------------------------------------------

    def next_due(self, session: Session) -> datetime | None:
        """The earliest group or escalation timer."""
        group = session.scalar(select(func.min(NotificationGroup.next_flush_at)))
        run = session.scalar(select(func.min(Escalation.next_at)))
        times = [t for t in (group, run) if t is not None]
        return min(times) if times else None

    def run_due(self, session: Session, now: datetime) -> int:
        """Send every group and escalation step that is due; returns the messages queued."""
        groups = session.scalars(
            select(NotificationGroup)
            .where(NotificationGroup.next_flush_at <= now)
            .order_by(NotificationGroup.next_flush_at)
            .limit(500)
        ).all()
        due_runs = session.scalar(select(func.count()).select_from(Escalation).where(Escalation.next_at <= now))
        if not groups and not due_runs:
            return 0
        mute = Mute(session, self.rules, now)
        sent = sum(self._flush(session, group, mute, now) for group in groups)
        return sent + self.escalations.fire_due(session, now, mute)

    # -- internals --------------------------------------------------------------------------

    def _group(
        self, session: Session, route: Route, receiver: str, labels: dict[str, str], now: datetime
    ) -> NotificationGroup:
        key = f"{receiver}:{route.group_key(labels)}"
        group = session.scalar(
            select(NotificationGroup).where(NotificationGroup.route_id == route.id, NotificationGroup.group_key == key)
        )
        if group is None:
            group = NotificationGroup(route_id=route.id, group_key=key, receiver=receiver, created_at=now)
            session.add(group)
            session.flush()
        return group

    def _route(self, group: NotificationGroup) -> Route:
        # A group whose route left the configuration keeps the root's timing.
        return self.tree.by_id.get(group.route_id, self.tree.root)

    def _flush(self, session: Session, group: NotificationGroup, mute: Mute, now: datetime) -> int:
        route = self._route(group)
        members = session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)).all()
        incidents = {
            i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_([m.incident_id for m in members])))
        }
        send: list[GroupMember] = []
        release: list[datetime] = []
        for member in members:
            if not member.pending:
                continue
            incident = incidents[member.incident_id]
            transition = member.notification.get("transition")
            if transition == RESOLVED:
                send.append(member)
            elif member.notified_state == FIRING and transition != "severity_raised":
                # Resolved and reopened before the resolution was sent: the receiver already knows it is open.
                member.pending = False
            elif incident.status == IncidentStatus.acknowledged:
                member.pending = False
                member.suppressed = f"acknowledged by {incident.acknowledged_by}"
            elif reason := mute.reason(incident.id, incident.labels or {}):
                member.suppressed = reason
                recheck = now + max(route.group_interval, RECHECK_MUTED)
                release.append(min(mute.release_at(incident.labels or {}) or recheck, recheck))
            else:
                send.append(member)
        repeat = False
        if not send and group.last_flushed_at and now >= group.last_flushed_at + route.repeat_interval:
            send = [m for m in members if self._repeatable(m, incidents[m.incident_id], mute)]
            repeat = bool(send)
        if send:
            self._send(session, group, route, send, incidents, repeat, now)
        still_open = [m for m in members if self._repeatable(m, incidents[m.incident_id], None)]
        timers = list(release)
        if still_open and group.last_flushed_at:
            repeat_at = group.last_flushed_at + route.repeat_interval
            if repeat_at <= now:
                # A repeat was due but every open incident is muted: look again later, never at once.
                repeat_at = now + max(route.group_interval, RECHECK_MUTED)
            timers.append(repeat_at)
        group.next_flush_at = min(timers) if timers else None
        return 1 if send else 0

    @staticmethod
    def _repeatable(member: GroupMember, incident: Incident, mute: Mute | None) -> bool:
        if member.notified_state != FIRING or incident.status != IncidentStatus.open:
            return False
        return mute is None or mute.reason(incident.id, incident.labels or {}) is None

    def _send(
        self,
        session: Session,
        group: NotificationGroup,
        route: Route,
        send: Sequence[GroupMember],
        incidents: dict[int, Incident],
        repeat: bool,
        now: datetime,
    ) -> None:
        plain: list[GroupMember] = []
        for member in send:
            resolved = member.notification.get("transition") == RESOLVED
            if member.action == ESCALATE and route.escalation_policy and not resolved and not repeat:
                incident = incidents[member.incident_id]
                self.escalations.start(session, incident, route.escalation_policy, member.notification, now)
                member.notified_state = ESCALATED
            else:
                plain.append(member)
                member.notified_state = RESOLVED if resolved else FIRING
            member.pending = False
            member.suppressed = None
            member.last_notified_at = now
        group.last_flushed_at = now
        group.flush_seq += 1
        if not plain:
            return
        note = _message(group, plain, repeat, route)
        members = [Notification.model_validate(m.notification) for m in plain] if len(plain) > 1 else []
        escalation = any(m.action == ESCALATE for m in plain)
        single = plain[0].decision_id if len(plain) == 1 else None
        receiver = self.tree.receivers.get(group.receiver)
        key = f"group-{group.id}/{group.flush_seq}"
        queue(session, receiver, note, key, now=now, decision_id=single, never_silent=escalation, members=members)


def _schedule(group: NotificationGroup, route: Route, now: datetime) -> None:
    """Set the group's timer for pending news: group_wait for a new group, else group_interval."""
    if group.last_flushed_at is None:
        due = group.next_flush_at or now + route.group_wait
    else:
        due = max(now, group.last_flushed_at + route.group_interval)
    group.next_flush_at = due if group.next_flush_at is None else min(group.next_flush_at, due)


def _message(group: NotificationGroup, members: Sequence[GroupMember], repeat: bool, route: Route) -> Notification:
    notes = [Notification.model_validate(m.notification) for m in members]
    again = f"Still open; sent again every {_human(route.repeat_interval.total_seconds())}." if repeat else ""
    if len(notes) == 1:
        return notes[0].model_copy(update={"note": again})
    worst = max(notes, key=lambda n: (n.transition != RESOLVED, n.severity.rank))
    firing = sum(n.transition != RESOLVED for n in notes)
    label_text = group.group_key.split(":", 1)[1].strip("{}")
    title = label_text or "all incidents"
    summary = f"{firing} open, {len(notes) - firing} resolved." if firing < len(notes) else f"{firing} open."
    return worst.model_copy(
        update={
            "title": title,
            "summary": summary,
            "rationale": "",
            "links": [],
            "note": again,
            "severity": worst.severity if firing else Severity.info,
            "transition": worst.transition,
            "incidents": [
                GroupedIncident(
                    incident_id=n.incident_id,
                    title=n.title,
                    severity=n.severity,
                    transition=n.transition,
                    incident_url=n.incident_url,
                )
                for n in sorted(notes, key=lambda n: (-n.severity.rank, n.incident_id))
            ],
        }
    )


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
