"""Stored rows as a model sees them: the incident with its evidence as text, and the triage case.

The text is built from what the offline analysis stored (changes, related incidents,
runbook, hypotheses) so the model is shown the same evidence; it is masked and wrapped
by `llm.analysis_prompt`, never sent as it is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from liberation_guardian.pipeline.stages import case_of as stored_case
from liberation_guardian.store.models import Decision, Event, Incident, Recommendation
from liberation_guardian.triage.base import Case

MAX_MESSAGE_CHARS = 4000


def describe(
    incident: Incident, event: Event, decision: Decision, request: Recommendation, others: Sequence[Recommendation]
) -> str:
    """The incident, its decision and the evidence gathered about it, one fact a line."""
    lines = [
        f"incident #{incident.id} ({decision.transition}), source: {event.source}, kind: {event.kind}",
        f"title: {event.title}",
        f"reported severity: {incident.severity}; category: {decision.category}",
        f"decision so far: {decision.action} by {decision.decided_by} (confidence {decision.confidence:.2f})",
        f"occurrences: {incident.occurrences} ({incident.frequency})",
    ]
    for label, value in (
        ("service", event.service or incident.service),
        ("environment", event.environment or incident.environment),
        ("user impact", incident.user_impact),
        ("exception type", event.exception_type),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines += [f"label {key}: {value}" for key, value in sorted((event.labels or {}).items())]
    message = event.message if event.message and event.message != event.title else ""
    if message:
        cut = message[:MAX_MESSAGE_CHARS] + (" [truncated]" if len(message) > MAX_MESSAGE_CHARS else "")
        lines += ["message:", cut]
    lines += _evidence(request.evidence or {})
    lines += [f"specialist {o.agent} ({o.kind}): {o.summary}" for o in others if o.agent not in ("analysis", "triage")]
    return "\n".join(lines)


def _evidence(evidence: dict[str, Any]) -> list[str]:
    window = evidence.get("window_minutes", 30)
    changes = evidence.get("correlated_events") or []
    lines = [f"changes in the {window} min before: {'none found' if not changes else ''}".rstrip()]
    for change in changes:
        whose = f" of {change.get('service')}" if change.get("service") else ""
        lines.append(
            f"- {change.get('minutes_before')} min before, {change.get('change')}{whose} "
            f"({change.get('scope')}): {change.get('title')}"
        )
    related = evidence.get("related_incidents") or []
    if related:
        lines.append("other incidents of the same service:")
        lines += [
            f"- #{r.get('incident_id')} {r.get('status')} {r.get('severity')}, first seen "
            f"{r.get('minutes_before')} min before this one: {r.get('title')}"
            for r in related
        ]
    runbook = evidence.get("runbook") or []
    if runbook:
        lines.append(f"runbook of the matched pattern {evidence.get('pattern_id')}:")
        lines += [f"- {step}" for step in runbook]
    hypotheses = evidence.get("offline_hypotheses") or []
    if hypotheses:
        lines.append("offline first analysis (likelihood, cause):")
        lines += [f"- {h.get('likelihood')}: {h.get('cause')}" for h in hypotheses]
    return lines


def case_of(incident: Incident, event: Event, decision: Decision) -> Case:
    """The case the triage chain saw when it made `decision`, as well as the store still tells it."""
    return stored_case(event, incident, category=decision.category, transition=decision.transition)
