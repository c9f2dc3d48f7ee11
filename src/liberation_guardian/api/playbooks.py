"""The playbooks of the knowledge base over HTTP: list them and read one.

- `GET /api/playbooks?category=database`: every playbook (of that category), ordered by
  category and id, each with its selection rules, steps and checks.
- `GET /api/playbooks/{id}`: one playbook; 404 when there is none with that id.

Playbooks are definitions copied in from the shipped files at start-up, so there is nothing
to write here; the agents put the one that applies into their recommendations.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select

from liberation_guardian.api.auth import require_admin
from liberation_guardian.learn.patterns import describe_playbook
from liberation_guardian.store.models import Playbook
from liberation_guardian.triage.category import TAXONOMY

router = APIRouter(prefix="/api/playbooks", dependencies=[Depends(require_admin)], tags=["playbooks"])


@router.get("")
def list_playbooks(request: Request, category: str | None = None) -> dict[str, Any]:
    """Playbooks ordered by category and id, optionally of one category (400 for one outside the taxonomy)."""
    query = select(Playbook).order_by(Playbook.category, Playbook.id)
    if category is not None:
        if category not in TAXONOMY:
            raise HTTPException(400, f"category: {category!r} is not one of {', '.join(TAXONOMY)}")
        query = query.where(Playbook.category == category)
    with request.app.state.sessions() as session:
        items = [describe_playbook(row) for row in session.scalars(query)]
    return {"items": items, "total": len(items)}


@router.get("/{playbook_id}")
def get_playbook(request: Request, playbook_id: str) -> dict[str, Any]:
    """One playbook (404 when there is none with that id)."""
    with request.app.state.sessions() as session:
        row = session.get(Playbook, playbook_id)
        if row is None:
            raise HTTPException(404, f"no playbook {playbook_id}")
        return describe_playbook(row)
