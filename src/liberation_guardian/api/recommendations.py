"""GET /api/incidents/{id}/recommendations: what the agents recommend for an incident.

Oldest first; filter with `?agent=analysis|infrastructure|security|performance|triage` and
`?status=pending|done|failed`. Each item has the summary, ranked hypotheses, impact, plan,
prevention, the evidence read, and who produced it (`offline` or `<provider>:<model>`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liberation_guardian.api import serialize
from liberation_guardian.api.auth import require_admin
from liberation_guardian.store.models import Incident, Recommendation

router = APIRouter(prefix="/api/incidents", dependencies=[Depends(require_admin)], tags=["recommendations"])

Agent = Literal["analysis", "infrastructure", "security", "performance", "triage"]
Status = Literal["pending", "done", "failed"]


@router.get("/{incident_id}/recommendations")
def list_recommendations(
    request: Request,
    incident_id: int,
    agent: Agent | None = Query(None, description="Only this agent's recommendations."),
    status: Status | None = Query(None, description="Only recommendations in this state."),
) -> list[dict[str, Any]]:
    """The incident's recommendations, oldest first (404 for an unknown incident)."""
    query = select(Recommendation).where(Recommendation.incident_id == incident_id).order_by(Recommendation.id)
    if agent is not None:
        query = query.where(Recommendation.agent == agent)
    if status is not None:
        query = query.where(Recommendation.status == status)
    with request.app.state.sessions() as session:
        if session.get(Incident, incident_id) is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return [serialize.recommendation(row) for row in session.scalars(query)]


def latest_analyses(session: Session, incident_ids: Iterable[int]) -> dict[int, Recommendation]:
    """The latest finished analysis of each incident (a model's once it answered, else the offline one)."""
    ids = list(incident_ids)
    if not ids:
        return {}
    newest = (
        select(func.max(Recommendation.id))
        .where(Recommendation.incident_id.in_(ids), Recommendation.agent == "analysis", Recommendation.status == "done")
        .group_by(Recommendation.incident_id)
    )
    rows = session.scalars(select(Recommendation).where(Recommendation.id.in_(newest))).all()
    return {row.incident_id: row for row in rows}
