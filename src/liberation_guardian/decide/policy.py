"""Who hears about a decision: the routing policy from action to channels.

- escalate: the enabled channels named in `decision_rules.escalate.conditions.
  notification_channels`, and always the console log, so an escalation is never silent;
- auto_fix and investigate: Slack and the outgoing webhook when enabled, else the log;
  informational (`info`) ones only the log;
- auto_acknowledge: nobody; the decision is the record;
- resolved: every channel that was told about the incident.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.config import LoadedConfig
from liberation_guardian.events import Link, Severity
from liberation_guardian.group.incidents import Transition
from liberation_guardian.store.models import Decision, Delivery, Event, Incident
from liberation_guardian.triage.base import Action, Verdict

ALWAYS = "console"
ROUTINE_CHANNELS = ("slack", "webhook")


class Policy:
    """Chooses channels for a decision and queues one delivery per channel."""

    def __init__(self, config: LoadedConfig) -> None:
        self.config = config
        enabled = set(config.channels) | {ALWAYS}
        named = config.settings.decision_rules.escalate.conditions.notification_channels
        self.escalate_to = [name for name in named if name in enabled and name != ALWAYS] + [ALWAYS]
        self.routine_to = [name for name in ROUTINE_CHANNELS if name in enabled] or [ALWAYS]

    def channels_for(self, action: Action, severity: Severity = Severity.medium) -> list[str]:
        """The channels a decision with this action (and severity) is sent to."""
        if action == Action.escalate:
            return self.escalate_to
        if action == Action.auto_acknowledge:
            return []
        if severity == Severity.info:
            return [ALWAYS]  # informational: on record and in the log, nobody is disturbed
        return self.routine_to

    def record(
        self, session: Session, incident: Incident, event: Event, transition: Transition, verdict: Verdict
    ) -> Decision:
        """Store the decision and queue its deliveries, all in the caller's transaction."""
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
        if verdict.action == Action.auto_fix:
            incident.fix_attempts += 1
        channels = self.channels_for(verdict.action, verdict.severity)
        note = self._notification(incident, event, transition, verdict)
        self._queue(session, incident, decision.id, transition, note, channels)
        return decision

    def record_resolution(self, session: Session, incident: Incident, event: Event | None) -> None:
        """Queue a resolution message to every channel that was told about this incident."""
        told = session.scalars(
            select(Delivery.channel)
            .where(Delivery.incident_id == incident.id, Delivery.transition != Transition.resolved.value)
            .distinct()
        ).all()
        if not told:
            return
        note = Notification(
            idempotency_key="",
            incident_id=incident.id,
            transition=Transition.resolved.value,
            action="resolved",
            severity=Severity(incident.severity),
            title=incident.title,
            summary=f"Resolved by {incident.resolved_by or 'its source'}.",
            source=incident.source,
            service=incident.service,
            environment=incident.environment,
            occurrences=incident.occurrences,
            links=_links(event) if event is not None else [],
            incident_url=self._incident_url(incident),
            instance=self.config.settings.core.name,
        )
        self._queue(session, incident, None, Transition.resolved, note, sorted(told))

    def _queue(
        self,
        session: Session,
        incident: Incident,
        decision_id: int | None,
        transition: Transition,
        note: Notification,
        channels: list[str],
    ) -> None:
        for channel in channels:
            key = f"incident-{incident.id}/t{incident.transition_seq}-{transition.value}/{channel}"
            session.add(
                Delivery(
                    incident_id=incident.id,
                    decision_id=decision_id,
                    channel=channel,
                    idempotency_key=key,
                    transition=transition.value,
                    notification=note.model_copy(update={"idempotency_key": key}).model_dump(mode="json"),
                )
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
