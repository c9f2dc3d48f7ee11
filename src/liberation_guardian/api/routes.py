"""The /api/* routes: list and filter what was received and decided; acknowledge and resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from liberation_guardian.api import serialize
from liberation_guardian.api.auth import require_admin
from liberation_guardian.api.recommendations import latest_analyses
from liberation_guardian.group.incidents import acknowledge, resolve
from liberation_guardian.sources._catalog import catalog, event_counts
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Decision, Delivery, Event, Incident, utcnow

router = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], tags=["api"])

Limit = Query(50, ge=1, le=500, description="Items per page.")
Offset = Query(0, ge=0, description="Items to skip.")


def _page(session: Session, query: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.limit(limit).offset(offset)).all()), int(total)


def _session(request: Request) -> Session:
    session: Session = request.app.state.sessions()
    return session


@router.get("/events")
def list_events(
    request: Request,
    source: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    incident_id: int | None = None,
    since: datetime | None = Query(None, description="Only events received at or after this time."),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    """Events, newest first, filtered by source, status, severity, incident or time."""
    query = select(Event).order_by(Event.id.desc())
    for column, value in ((Event.source, source), (Event.status, status), (Event.severity, severity)):
        if value is not None:
            query = query.where(column == value)
    if incident_id is not None:
        query = query.where(Event.incident_id == incident_id)
    if since is not None:
        query = query.where(Event.received_at >= since)
    with _session(request) as session:
        rows, total = _page(session, query, limit, offset)
        return {
            "items": [serialize.event(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }


@router.get("/incidents")
def list_incidents(
    request: Request,
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    service: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    """Incidents, most recently seen first, filtered by status, severity, source or service."""
    query = select(Incident).order_by(Incident.last_seen.desc(), Incident.id.desc())
    for column, value in (
        (Incident.status, status),
        (Incident.severity, severity),
        (Incident.source, source),
        (Incident.service, service),
    ):
        if value is not None:
            query = query.where(column == value)
    with _session(request) as session:
        rows, total = _page(session, query, limit, offset)
        latest = latest_analyses(session, (row.id for row in rows))
        return {
            "items": [serialize.incident(row, latest.get(row.id)) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }


@router.get("/incidents/{incident_id}")
def get_incident(request: Request, incident_id: int) -> dict[str, Any]:
    """One incident with its latest events, its decisions and its deliveries."""
    with _session(request) as session:
        incident = _incident(session, incident_id)
        events = session.scalars(
            select(Event)
            .options(selectinload(Event.payload))
            .where(Event.incident_id == incident_id)
            .order_by(Event.id.desc())
            .limit(100)
        ).all()
        decisions = session.scalars(
            select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.id)
        ).all()
        deliveries = session.scalars(
            select(Delivery).where(Delivery.incident_id == incident_id).order_by(Delivery.id)
        ).all()
        return {
            **serialize.incident(incident, latest_analyses(session, [incident_id]).get(incident_id)),
            "events": [serialize.event(row, with_payload=True) for row in events],
            "decisions": [serialize.decision(row) for row in decisions],
            "deliveries": [serialize.delivery(row) for row in deliveries],
        }


@router.get("/decisions")
def list_decisions(
    request: Request,
    action: str | None = None,
    incident_id: int | None = None,
    decided_by: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    """Decisions, newest first, filtered by action, incident or decider."""
    query = select(Decision).order_by(Decision.id.desc())
    for column, value in (
        (Decision.action, action),
        (Decision.incident_id, incident_id),
        (Decision.decided_by, decided_by),
    ):
        if value is not None:
            query = query.where(column == value)
    with _session(request) as session:
        rows, total = _page(session, query, limit, offset)
        return {
            "items": [serialize.decision(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }


@router.post("/incidents/{incident_id}/acknowledge")
def acknowledge_incident(
    request: Request, incident_id: int, by: str = Body("api", embed=True, max_length=255)
) -> dict[str, Any]:
    """Acknowledge an open incident (409 when it is not open)."""
    with transaction(request.app.state.sessions) as session:
        incident = _incident(session, incident_id)
        if not acknowledge(incident, f"api:{by}", utcnow()):
            raise HTTPException(409, f"incident {incident_id} is {incident.status}, not open")
        request.app.state.policy.record_acknowledgement(session, incident)
        result = serialize.incident(incident)
    request.app.state.runner_wake()
    return result


@router.post("/incidents/{incident_id}/resolve")
def resolve_incident(
    request: Request, incident_id: int, by: str = Body("api", embed=True, max_length=255)
) -> dict[str, Any]:
    """Resolve an incident and tell the channels that heard about it (409 when already resolved)."""
    with transaction(request.app.state.sessions) as session:
        incident = _incident(session, incident_id)
        if resolve(incident, f"api:{by}", utcnow()) is None:
            raise HTTPException(409, f"incident {incident_id} is already resolved")
        request.app.state.policy.record_resolution(session, incident, None)
        result = serialize.incident(incident)
    request.app.state.runner_wake()
    return result


@router.get("/sources")
def list_sources(request: Request) -> dict[str, Any]:
    """Every source: its URL, authentication, whether it is enabled and configured, events received."""
    counts = event_counts(request.app.state.engine)
    return {"items": catalog(request.app.state.config, counts)}


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return incident
