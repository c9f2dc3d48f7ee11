"""The knowledge base over HTTP: list and read patterns, and review the proposed ones.

- `GET /api/patterns?status=proposed&origin=learned&category=database&limit=50&offset=0`:
  patterns, most recently changed first, each with its evidence, confidence and provenance.
- `GET /api/patterns/{id}`: one pattern.
- `POST /api/patterns/{id}/review` with `{"decision": "accept" | "reject", "by": "ana",
  "comment": "..."}`: a proposed pattern becomes active (the acceptance counts as a
  confirmation) or rejected. 409 when the pattern is not proposed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from liberation_guardian.api.auth import require_admin
from liberation_guardian.learn.patterns import ORIGINS, STATUSES, ReviewRefused, describe, review
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Pattern, utcnow
from liberation_guardian.triage.category import TAXONOMY

router = APIRouter(prefix="/api/patterns", dependencies=[Depends(require_admin)], tags=["patterns"])


class ReviewIn(BaseModel):
    """The body of a review."""

    model_config = ConfigDict(extra="forbid")

    decision: str = Field(description="accept or reject")
    by: str = Field(default="api", min_length=1, max_length=255)
    comment: str = Field(default="", max_length=4000)


@router.get("")
def list_patterns(
    request: Request,
    status: str | None = None,
    origin: str | None = None,
    category: str | None = None,
    limit: int = Query(50, ge=1, le=500, description="Items per page."),
    offset: int = Query(0, ge=0, description="Items to skip."),
) -> dict[str, Any]:
    """Patterns, most recently changed first, filtered by status, origin or category (400 for an unknown value)."""
    query = select(Pattern).order_by(Pattern.updated_at.desc(), Pattern.id)
    for name, value, allowed, column in (
        ("status", status, STATUSES, Pattern.status),
        ("origin", origin, ORIGINS, Pattern.origin),
        ("category", category, TAXONOMY, Pattern.category),
    ):
        if value is None:
            continue
        if value not in allowed:
            raise HTTPException(400, f"{name}: {value!r} is not one of {', '.join(allowed)}")
        query = query.where(column == value)
    with request.app.state.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = session.scalars(query.limit(limit).offset(offset)).all()
        return {"items": [describe(row) for row in rows], "total": int(total), "limit": limit, "offset": offset}


@router.get("/{pattern_id}")
def get_pattern(request: Request, pattern_id: str) -> dict[str, Any]:
    """One pattern (404 when there is none with that id)."""
    with request.app.state.sessions() as session:
        row = session.get(Pattern, pattern_id)
        if row is None:
            raise HTTPException(404, f"no pattern {pattern_id}")
        return describe(row)


@router.post("/{pattern_id}/review")
def review_pattern(request: Request, pattern_id: str, body: ReviewIn) -> dict[str, Any]:
    """Accept or reject a proposed pattern (400 for another decision, 404 unknown, 409 not proposed)."""
    if body.decision not in ("accept", "reject"):
        raise HTTPException(400, f"decision: {body.decision!r} is not one of accept, reject")
    with transaction(request.app.state.sessions) as session:
        row = session.get(Pattern, pattern_id, with_for_update=True)
        if row is None:
            raise HTTPException(404, f"no pattern {pattern_id}")
        try:
            review(
                row,
                accept=body.decision == "accept",
                by=f"api:{body.by}",
                comment=body.comment,
                learning=request.app.state.config.settings.learning,
                now=utcnow(),
            )
        except ReviewRefused as exc:
            raise HTTPException(409, str(exc)) from None
        return describe(row)
