"""The incident lifecycle: open, acknowledged, resolved, suppressed, and the transitions between.

`observe` folds one stored event into its incident and says which transition, if
any, it caused. Only transitions are triaged and notified; a repeat of an open
incident only updates its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import GroupingConfig
from liberation_guardian.events import Frequency, Severity, Status, UserImpact
from liberation_guardian.store.models import Event, Incident


class IncidentStatus(StrEnum):
    """Where an incident is in its lifecycle."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"
    suppressed = "suppressed"


class Transition(StrEnum):
    """A change in an incident that deserves a decision or a message."""

    opened = "opened"
    reopened = "reopened"
    severity_raised = "severity_raised"
    # An incident acknowledged automatically that now recurs more often than when it was: decide again.
    recurred = "recurred"
    resolved = "resolved"


@dataclass(frozen=True)
class Observed:
    """The incident an event belongs to and the transition the event caused (or None)."""

    incident: Incident
    transition: Transition | None


_PRELOADED = "incidents_by_fingerprint"
# `acknowledged_by` of incidents Liberation Guardian acknowledged itself starts with this.
AUTOMATIC = "guardian:"
_FREQUENCY_ORDER = list(Frequency)


def preload_incidents(session: Session, fingerprints: set[str]) -> None:
    """Load the incidents of a batch's fingerprints in one query, so `observe` needs none per event."""
    found = session.scalars(select(Incident).where(Incident.fingerprint.in_(fingerprints))).all()
    known = {incident.fingerprint: incident for incident in found}
    # Fingerprints with no incident yet are left out so that `observe` creates them.
    session.info[_PRELOADED] = known


def observe(session: Session, event: Event, grouping: GroupingConfig) -> Observed:
    """Attach `event` to the incident of its fingerprint, creating or moving the incident as needed."""
    known: dict[str, Incident] | None = session.info.get(_PRELOADED)
    if known is not None and event.fingerprint in known:
        incident: Incident | None = known[event.fingerprint]
    else:
        incident = session.scalars(select(Incident).where(Incident.fingerprint == event.fingerprint)).one_or_none()
    firing = event.status == Status.firing
    if incident is None:
        incident = _new_incident(event)
        session.add(incident)
        session.flush()
        if known is not None:
            known[event.fingerprint] = incident
        event.incident_id = incident.id
        if firing:
            _count(incident, event, grouping)
            return Observed(incident, _advance(incident, Transition.opened))
        incident.resolved_at = event.received_at
        incident.resolved_by = f"source:{event.source}"
        return Observed(incident, None)

    event.incident_id = incident.id
    if not firing:
        if incident.status == IncidentStatus.resolved:
            return Observed(incident, None)
        incident.status = IncidentStatus.resolved
        incident.resolved_at = event.received_at
        incident.resolved_by = f"source:{event.source}"
        incident.last_seen = max(incident.last_seen, event.received_at)
        return Observed(incident, _advance(incident, Transition.resolved))

    was = Frequency(incident.frequency)
    _count(incident, event, grouping)
    if incident.status == IncidentStatus.acknowledged and (incident.acknowledged_by or "").startswith(AUTOMATIC):
        if _FREQUENCY_ORDER.index(Frequency(incident.frequency)) > _FREQUENCY_ORDER.index(was):
            incident.status = IncidentStatus.open
            incident.acknowledged_at = None
            incident.acknowledged_by = None
            if Severity(event.severity).rank > Severity(incident.severity).rank:
                incident.severity = event.severity
            return Observed(incident, _advance(incident, Transition.recurred))
    if incident.status == IncidentStatus.resolved:
        incident.status = IncidentStatus.open
        incident.severity = event.severity
        incident.resolved_at = None
        incident.resolved_by = None
        incident.acknowledged_at = None
        incident.acknowledged_by = None
        return Observed(incident, _advance(incident, Transition.reopened))
    if Severity(event.severity).rank > Severity(incident.severity).rank:
        incident.severity = event.severity
        return Observed(incident, _advance(incident, Transition.severity_raised))
    return Observed(incident, None)


def _new_incident(event: Event) -> Incident:
    return Incident(
        fingerprint=event.fingerprint,
        status=IncidentStatus.open if event.status == Status.firing else IncidentStatus.resolved,
        severity=event.severity,
        source=event.source,
        kind=event.kind,
        title=event.title,
        service=event.service,
        environment=event.environment,
        user_impact=event.user_impact,
        occurrences=0,
        window_start=event.received_at,
        window_count=0,
        first_seen=event.received_at,
        last_seen=event.received_at,
        transition_seq=0,
        fix_attempts=0,
    )


def _advance(incident: Incident, transition: Transition) -> Transition:
    incident.transition_seq += 1
    return transition


def _count(incident: Incident, event: Event, grouping: GroupingConfig) -> None:
    """Count a firing event and re-derive the frequency class over a tumbling window.

    An event that repeats the latest occurrence (same time of occurrence, as a tool's
    reminder of a still-firing alert carries) only moves `last_seen`.
    """
    now = event.received_at
    if event.occurred_at is not None and event.occurred_at == incident.last_occurred_at:
        incident.last_seen = max(incident.last_seen, now)
        return
    incident.last_occurred_at = event.occurred_at
    incident.occurrences += 1
    incident.last_seen = max(incident.last_seen, now)
    if now - incident.window_start > timedelta(minutes=grouping.window_minutes):
        incident.window_start = now
        incident.window_count = 0
    incident.window_count += 1
    incident.frequency = frequency_class(incident.occurrences, incident.window_count, grouping)
    if event.user_impact and (
        incident.user_impact is None or UserImpact(event.user_impact).rank > UserImpact(incident.user_impact).rank
    ):
        incident.user_impact = event.user_impact


def frequency_class(occurrences: int, in_window: int, grouping: GroupingConfig) -> Frequency:
    """first_time for the first occurrence, frequent at the window threshold, else occasional."""
    if occurrences <= 1:
        return Frequency.first_time
    if in_window >= grouping.frequent_threshold:
        return Frequency.frequent
    return Frequency.occasional


def acknowledge(incident: Incident, who: str, at: datetime) -> bool:
    """Mark an open incident acknowledged; False when it was not open."""
    if incident.status != IncidentStatus.open:
        return False
    incident.status = IncidentStatus.acknowledged
    incident.acknowledged_at = at
    incident.acknowledged_by = who
    return True


def resolve(incident: Incident, who: str, at: datetime) -> Transition | None:
    """Mark an incident resolved by a person; returns the transition, or None if it already was."""
    if incident.status == IncidentStatus.resolved:
        return None
    incident.status = IncidentStatus.resolved
    incident.resolved_at = at
    incident.resolved_by = who
    return _advance(incident, Transition.resolved)
