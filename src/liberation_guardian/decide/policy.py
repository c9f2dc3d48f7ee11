"""The decision record and the message about it, handed to the dispatcher.

Who hears about a decision, when, and in what company is the routing tree's answer
(`dispatch/`); with no `routing` section that is: escalations to the channels in
`decision_rules.escalate.conditions.notification_channels` and the log at once; auto_fix
and investigate to Slack and the outgoing webhook (else the log); informational ones to
the log only; auto-acknowledged ones to nobody. Resolutions go to whoever heard.
An acknowledgement, automatic or by a person, is also passed on to the tool the incident
came from when that source is configured to hear it (`act/upstream/`).
What each decision, resolution and acknowledgement says about the pattern that decided is
recorded on it in the same transaction (`learn/outcomes.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.upstream import Upstream
from liberation_guardian.config import LoadedConfig
from liberation_guardian.dispatch.dispatcher import Dispatcher
from liberation_guardian.dispatch.labels import incident_labels
from liberation_guardian.events import Link, Severity
from liberation_guardian.group.incidents import AUTOMATIC, IncidentStatus, Transition
from liberation_guardian.learn import outcomes
from liberation_guardian.store.models import Decision, Event, Incident, Resolution, utcnow
from liberation_guardian.triage.base import Action, Verdict


class Policy:
    """Stores decisions and passes the message about each to the dispatcher."""

    def __init__(
        self, config: LoadedConfig, dispatcher: Dispatcher | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.config = config
        self.dispatcher = dispatcher or Dispatcher(config)
        self.upstream = Upstream(config)
        self.clock = clock

    def record(
        self, session: Session, incident: Incident, event: Event, transition: Transition, verdict: Verdict
    ) -> Decision:
        """Store the decision and route the message about it, all in the caller's transaction."""
        decision = Decision(
            incident_id=incident.id,
            event_id=event.id,
            transition=transition.value,
            transition_seq=incident.transition_seq,
            action=verdict.action.value,
            severity=verdict.severity.value,
            category=verdict.category,
            confidence=round(verdict.confidence, 4),
            decided_by=verdict.decided_by,
            matched=verdict.matched,
            rationale=verdict.rationale,
            details=verdict.details,
        )
        session.add(decision)
        session.flush()
        outcomes.decided(session, incident, decision, transition.value, self.config.settings.learning, self.clock())
        if verdict.action == Action.auto_fix:
            incident.fix_attempts += 1
        acknowledging = verdict.action == Action.auto_acknowledge and incident.status == IncidentStatus.open
        if acknowledging:
            # Who: the decider; why: the decision's rationale. Recurring more often re-opens it (`recurred`).
            incident.status = IncidentStatus.acknowledged
            incident.acknowledged_at = self.clock()
            incident.acknowledged_by = f"{AUTOMATIC}{verdict.decided_by}"
        incident.labels = incident_labels(
            incident,
            event.labels or {},
            category=verdict.category,
            action=verdict.action.value,
            services=self.config.settings.routing.services,
        )
        note = self._notification(incident, event, transition, verdict)
        self.dispatcher.enqueue(session, incident, note, decision_id=decision.id, now=self.clock())
        if acknowledging:
            self._tell_source(session, incident, verdict.rationale)
        return decision

    def record_resolution(self, session: Session, incident: Incident, event: Event | None) -> None:
        """Keep the episode in the resolution history and tell whoever heard about it that it is resolved."""
        last = session.scalar(
            select(Decision).where(Decision.incident_id == incident.id).order_by(Decision.id.desc()).limit(1)
        )
        resolution = Resolution(
            incident_id=incident.id,
            transition_seq=incident.transition_seq,
            resolved_at=incident.resolved_at or self.clock(),
            resolved_by=incident.resolved_by or "source",
            action=last.action if last else None,
            category=last.category if last else None,
            pattern_id=outcomes.pattern_of(last),
        )
        session.add(resolution)
        outcomes.resolved(session, resolution, last, self.config.settings.learning, self.clock())
        labels = dict(incident.labels or {})
        if labels:
            labels["status"] = incident.status
            incident.labels = labels
        note = self._plain(incident, Transition.resolved.value, f"Resolved by {incident.resolved_by or 'its source'}.")
        note.links = _links(event) if event is not None else []
        self.dispatcher.enqueue_resolution(session, incident, note, self.clock())

    def record_acknowledgement(self, session: Session, incident: Incident) -> list[str]:
        """Stop the incident's escalations and tell the channels that heard about it."""
        labels = dict(incident.labels or {})
        if labels:
            labels["status"] = incident.status
            incident.labels = labels
        outcomes.acknowledged(session, incident, self.config.settings.learning, self.clock())
        note = self._plain(incident, "acknowledged", f"Acknowledged by {incident.acknowledged_by}.")
        told = self.dispatcher.acknowledged(session, incident, note, self.clock())
        self._tell_source(session, incident)
        return told

    def _tell_source(self, session: Session, incident: Incident, why: str = "") -> None:
        """Queue telling the tool the incident came from that it is acknowledged, if it is configured to hear it."""
        note = self._plain(incident, "acknowledged", f"Acknowledged by {incident.acknowledged_by}.")
        note.rationale = why
        self.upstream.acknowledged(session, incident, note, self.clock())

    def _plain(self, incident: Incident, transition: str, summary: str) -> Notification:
        return Notification(
            idempotency_key="",
            incident_id=incident.id,
            transition=transition,
            action=transition,
            severity=Severity(incident.severity),
            title=incident.title,
            summary=summary,
            source=incident.source,
            service=incident.service,
            environment=incident.environment,
            occurrences=incident.occurrences,
            incident_url=self._incident_url(incident),
            instance=self.config.settings.core.name,
        )

    def _notification(self, incident: Incident, event: Event, transition: Transition, verdict: Verdict) -> Notification:
        return Notification(
            idempotency_key="",
            incident_id=incident.id,
            transition=transition.value,
            action=verdict.action.value,
            severity=verdict.severity,
            title=event.title,
            summary=event.message,
            rationale=verdict.rationale,
            category=verdict.category,
            source=event.source,
            service=event.service,
            environment=event.environment,
            occurrences=incident.occurrences,
            links=_links(event),
            incident_url=self._incident_url(incident),
            instance=self.config.settings.core.name,
        )

    def _incident_url(self, incident: Incident) -> str | None:
        base = self.config.settings.core.public_url
        return f"{base.rstrip('/')}/api/incidents/{incident.id}" if base else None


def _links(event: Event) -> list[Link]:
    return [Link.model_validate(link) for link in event.links or []]
