"""Rows to JSON-ready dicts, one function per table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liberation_guardian.store.models import Decision, Delivery, Event, Feedback, Incident, Recommendation


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event(row: Event, *, with_payload: bool = False) -> dict[str, Any]:
    """An event as the API shows it."""
    data: dict[str, Any] = {
        "id": row.id,
        "source": row.source,
        "kind": row.kind,
        "status": row.status,
        "severity": row.severity,
        "title": row.title,
        "message": row.message,
        "service": row.service,
        "environment": row.environment,
        "fingerprint": row.fingerprint,
        "grouping_key": row.grouping_key,
        "exception_type": row.exception_type,
        "labels": row.labels,
        "stack_frames": row.stack_frames,
        "user_impact": row.user_impact,
        "links": row.links,
        "occurred_at": _time(row.occurred_at),
        "received_at": _time(row.received_at),
        "processed_at": _time(row.processed_at),
        "incident_id": row.incident_id,
        "payload_id": row.payload_id,
    }
    if row.extra:
        data["extra"] = row.extra
    if with_payload:
        data["payload"] = _payload(row.payload.body)
    return data


def incident(row: Incident, latest: Recommendation | None = None) -> dict[str, Any]:
    """An incident as the API shows it, with the summary of its latest finished recommendation when given."""
    shown = {
        "id": row.id,
        "fingerprint": row.fingerprint,
        "status": row.status,
        "severity": row.severity,
        "source": row.source,
        "kind": row.kind,
        "title": row.title,
        "service": row.service,
        "environment": row.environment,
        "user_impact": row.user_impact,
        "occurrences": row.occurrences,
        "frequency": row.frequency,
        "first_seen": _time(row.first_seen),
        "last_seen": _time(row.last_seen),
        "acknowledged_at": _time(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": _time(row.resolved_at),
        "resolved_by": row.resolved_by,
    }
    if latest is not None:
        shown["recommendation"] = {
            "id": latest.id,
            "agent": latest.agent,
            "kind": latest.kind,
            "summary": latest.summary,
            "produced_by": latest.produced_by,
        }
    return shown


def decision(row: Decision) -> dict[str, Any]:
    """A decision as the API shows it."""
    return {
        "id": row.id,
        "incident_id": row.incident_id,
        "event_id": row.event_id,
        "transition": row.transition,
        "action": row.action,
        "severity": row.severity,
        "category": row.category,
        "confidence": row.confidence,
        "decided_by": row.decided_by,
        "matched": row.matched,
        "rationale": row.rationale,
        "details": row.details,
        "created_at": _time(row.created_at),
    }


def delivery(row: Delivery) -> dict[str, Any]:
    """A delivery as the API shows it."""
    return {
        "id": row.id,
        "channel": row.channel,
        "transition": row.transition,
        "idempotency_key": row.idempotency_key,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": _time(row.created_at),
        "delivered_at": _time(row.delivered_at),
    }


def _payload(body: str) -> Any:
    """The payload as JSON when it parses (it did when it was accepted), else the text."""
    try:
        return json.loads(body)
    except ValueError:
        return body


def feedback(row: Feedback) -> dict[str, Any]:
    """A piece of feedback as the API shows it."""
    return {
        "id": row.id,
        "incident_id": row.incident_id,
        "decision_id": row.decision_id,
        "verdict": "correct" if row.correct else "wrong",
        "action": row.action,
        "severity": row.severity,
        "category": row.category,
        "comment": row.comment,
        "by": row.author,
        "created_at": _time(row.created_at),
    }


def recommendation(row: Recommendation) -> dict[str, Any]:
    """A recommendation as the API shows it."""
    return {
        "id": row.id,
        "incident_id": row.incident_id,
        "decision_id": row.decision_id,
        "agent": row.agent,
        "kind": row.kind,
        "status": row.status,
        "summary": row.summary,
        "hypotheses": row.hypotheses,
        "impact": row.impact,
        "plan": row.plan,
        "prevention": row.prevention,
        "evidence": row.evidence,
        "details": row.details,
        "produced_by": row.produced_by,
        "error": row.error,
        "created_at": _time(row.created_at),
        "completed_at": _time(row.completed_at),
    }
