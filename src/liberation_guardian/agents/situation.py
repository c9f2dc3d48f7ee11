"""Read what surrounds an incident transition from the store: changes before it, related incidents, runbook.

Two bounded, indexed queries (events by kind and time, incidents by service and time) and
at most one primary-key look-up (a stored pattern's runbook and tags), so the stage can run
it in the processing transaction. The playbook that applies is chosen from the shipped
playbooks in memory, by the decision's category and pattern (with its tags) and the event's
kind and words. Nothing here judges; `analysis.py` and the specialists do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.orm import Session

from liberation_guardian.agents._changes import CHANGE_KINDS, classify, names, scope
from liberation_guardian.agents.base import Change, Related, Situation
from liberation_guardian.events import Frequency, Severity, UserImpact
from liberation_guardian.knowledge.playbooks import Playbook, shipped_playbooks
from liberation_guardian.knowledge.playbooks import select as select_playbooks
from liberation_guardian.store.models import Decision, Event, Incident, Pattern
from liberation_guardian.triage.known import shipped_index

# Most change events a look-up reads, the newest first: of the incident's own service, and of any other.
MAX_OWN_CHANGES = 30
MAX_OTHER_CHANGES = 20
MAX_RELATED = 10


def gather(
    session: Session,
    incident: Incident,
    event: Event,
    decision: Decision,
    *,
    window_minutes: int = 30,
    related_hours: int = 24,
) -> Situation:
    """The situation of the incident's current transition, as its decision left it."""
    details = decision.details or {}
    at = event.received_at
    labels = {str(k): str(v) for k, v in (event.labels or {}).items()}
    pattern_id = details.get("pattern_id") if isinstance(details.get("pattern_id"), str) else None
    runbook, pattern_title = _runbook(session, pattern_id, details)
    text = f"{event.title}\n{event.message or ''}"
    playbook = playbook_for(decision.category, pattern_id, _tags(session, pattern_id), event.kind, text)
    return Situation(
        incident_id=incident.id,
        transition=decision.transition,
        transition_seq=incident.transition_seq,
        decision_id=decision.id,
        event_id=event.id,
        at=at,
        source=event.source,
        kind=event.kind,
        title=event.title,
        message=event.message or "",
        severity=Severity(decision.severity),
        category=decision.category,
        action=decision.action,
        decided_by=decision.decided_by,
        confidence=decision.confidence,
        frequency=Frequency(incident.frequency),
        occurrences=incident.occurrences,
        user_impact=UserImpact(incident.user_impact) if incident.user_impact else None,
        service=event.service or incident.service,
        environment=event.environment or incident.environment,
        exception_type=event.exception_type,
        labels=labels,
        pattern_id=pattern_id,
        pattern_title=pattern_title,
        runbook=runbook,
        fix_template=details.get("fix_template") if isinstance(details.get("fix_template"), str) else None,
        changes=tuple(changes_before(session, event, at, window_minutes)),
        related=tuple(related_to(session, incident, at, related_hours)),
        window_minutes=window_minutes,
        playbook=playbook,
    )


def playbook_for(category: str, pattern_id: str | None, tags: frozenset[str], kind: str, text: str) -> Playbook | None:
    """The most specific shipped playbook that applies, if any."""
    found = select_playbooks(
        shipped_playbooks(), category=category, pattern_id=pattern_id, kind=kind, tags=tags, text=text
    )
    return found[0] if found else None


def changes_before(session: Session, event: Event, at: datetime, window_minutes: int) -> list[Change]:
    """Changes stored in the window before `at`, the incident's own service first, then the nearest."""
    since = at - timedelta(minutes=window_minutes)
    # Plain rows, not ORM objects: this runs for every incident opened, in the processing transaction.
    window = (
        select(
            Event.id, Event.kind, Event.status, Event.title, Event.source, Event.service, Event.environment,
            Event.labels, Event.received_at, Event.occurred_at,
        )
        .where(Event.kind.in_(CHANGE_KINDS), Event.received_at >= since, Event.received_at <= at, Event.id != event.id)
        .order_by(Event.received_at.desc())
    )  # fmt: skip
    own = names(event.service, event.labels or {})
    mine: list[Row[Any]] = []
    if own:
        # The service itself, or a repository named after it (`acme/checkout` for `checkout`).
        spelled = own | ({event.service} if event.service else set())
        alike = [Event.service.in_(spelled), *(Event.service.like(f"%/{name}") for name in own if "/" not in name)]
        mine = list(session.execute(window.where(or_(*alike)).limit(MAX_OWN_CHANGES)).all())
    elsewhere = window.where(Event.id.not_in([row.id for row in mine])) if mine else window
    rows = mine + list(session.execute(elsewhere.limit(MAX_OTHER_CHANGES)).all())
    found = []
    for row in rows:
        change = classify(row.kind, row.status, row.title)
        if change is None or (row.occurred_at is not None and row.occurred_at < since):
            continue  # not a change, or an old change delivered late: it did not happen in the window
        late = row.occurred_at is None or row.occurred_at > row.received_at
        when = row.received_at if late else row.occurred_at
        found.append(
            Change(
                event_id=row.id,
                change=change,
                title=row.title,
                source=row.source,
                service=row.service,
                environment=row.environment,
                at=when,
                minutes_before=max((at - when).total_seconds() / 60, 0.0),
                scope=scope(event.service, own, row.service, names(row.service, row.labels or {})),
            )
        )
    order = {"service": 0, "repository": 1, "global": 2}
    found.sort(key=lambda c: (order[c.scope], c.minutes_before))
    return found


def related_to(session: Session, incident: Incident, at: datetime, hours: int) -> list[Related]:
    """Other incidents of the same service seen within `hours` before `at`, the most recent first."""
    if not incident.service:
        return []
    rows = session.execute(
        select(Incident.id, Incident.title, Incident.status, Incident.severity, Incident.labels, Incident.first_seen)
        .where(
            Incident.service == incident.service,
            Incident.last_seen >= at - timedelta(hours=hours),
            Incident.id != incident.id,
            # Records (a push, a passing build) open an incident that is resolved at once; they relate to nothing.
            Incident.severity != "info",
        )
        .order_by(Incident.last_seen.desc())
        .limit(MAX_RELATED)
    ).all()
    return [
        Related(
            incident_id=row.id,
            title=row.title,
            status=row.status,
            severity=row.severity,
            category=(row.labels or {}).get("category"),
            minutes_before=(at - row.first_seen).total_seconds() / 60,
        )
        for row in rows
    ]


def _runbook(
    session: Session, pattern_id: str | None, details: dict[str, object]
) -> tuple[tuple[str, ...], str | None]:
    """The runbook and title of the decision's pattern: the shipped pack's, else the stored pattern's."""
    carried = details.get("runbook")
    steps = tuple(str(step) for step in carried) if isinstance(carried, list) else ()
    if pattern_id is None:
        return steps, None
    shipped = _shipped_titles().get(pattern_id)
    if shipped is not None and steps:
        return steps, shipped
    pattern = session.get(Pattern, pattern_id)
    if pattern is None:
        return steps, shipped
    # Learned and community patterns keep their runbook as text, one step a line.
    stored = tuple(line.strip(" -*\t") for line in pattern.runbook.splitlines() if line.strip(" -*\t"))
    return steps or stored, pattern.title


def _tags(session: Session, pattern_id: str | None) -> frozenset[str]:
    """The tags of the decision's pattern: the shipped pack's, else the stored pattern's."""
    if pattern_id is None:
        return frozenset()
    shipped = _shipped_tags().get(pattern_id)
    if shipped is not None:
        return shipped
    pattern = session.get(Pattern, pattern_id)  # already in the session when `_runbook` read it
    return frozenset(str(tag) for tag in (pattern.tags or [])) if pattern is not None else frozenset()


@cache
def _shipped_titles() -> dict[str, str]:
    return {pattern.id: pattern.title for pattern in shipped_index().patterns}


@cache
def _shipped_tags() -> dict[str, frozenset[str]]:
    return {pattern.id: frozenset(pattern.tags) for pattern in shipped_index().patterns}
