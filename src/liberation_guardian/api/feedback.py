"""POST /api/incidents/{id}/feedback: tell Liberation Guardian whether a decision was right.

Body: `{"verdict": "correct"}` or `{"verdict": "wrong", "action": "escalate", "severity":
"high", "category": "database", "comment": "this takes checkout down", "by": "ana"}`.
`GET` on the same path lists the incident's feedback, oldest first.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from liberation_guardian.api import serialize
from liberation_guardian.api.auth import require_admin
from liberation_guardian.learn.feedback import record_feedback
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Feedback, Incident, utcnow

router = APIRouter(prefix="/api/incidents", dependencies=[Depends(require_admin)], tags=["feedback"])


class FeedbackIn(BaseModel):
    """The body of a feedback request."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["correct", "wrong"]
    action: str | None = None
    severity: str | None = None
    category: str | None = None
    comment: str = Field(default="", max_length=4000)
    by: str = Field(default="api", min_length=1, max_length=255)


@router.post("/{incident_id}/feedback")
def give_feedback(request: Request, incident_id: int, body: FeedbackIn) -> dict[str, Any]:
    """Store feedback on the incident's latest decision (400 naming a value that is not in the vocabulary)."""
    with transaction(request.app.state.sessions) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise HTTPException(404, f"no incident {incident_id}")
        try:
            row = record_feedback(
                session,
                incident,
                correct=body.verdict == "correct",
                action=body.action,
                severity=body.severity,
                category=body.category,
                comment=body.comment,
                author=f"api:{body.by}",
                now=utcnow(),
                learning=request.app.state.config.settings.learning,
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return serialize.feedback(row)


@router.get("/{incident_id}/feedback")
def list_feedback(request: Request, incident_id: int) -> list[dict[str, Any]]:
    """The incident's feedback, oldest first."""
    with request.app.state.sessions() as session:
        if session.get(Incident, incident_id) is None:
            raise HTTPException(404, f"no incident {incident_id}")
        rows = session.scalars(select(Feedback).where(Feedback.incident_id == incident_id).order_by(Feedback.id))
        return [serialize.feedback(row) for row in rows]
