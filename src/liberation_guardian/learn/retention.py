"""The retention purge: history older than `learning.knowledge_base.retention_days` is deleted.

An incident resolved longer ago than that goes with everything that belongs to it: its
events and the payloads nothing else refers to, its decisions, deliveries, feedback,
resolution history and any other row that points at it (found from the table
definitions, so a table added later is not forgotten). Incidents that are open or
acknowledged are never touched, however old; only their resolution history from before
the window goes. Events that never belonged to an incident go once they are out of the
window too.

Patterns are kept while they are useful: every active pattern, every shipped one, and
any other whose evidence changed within the window. Proposals nobody reviewed older than
that are deleted (the template may be proposed again if it comes back). Rejected patterns
are kept, however old: a person's "no" must not be asked again.

Each batch is its own short transaction, so a large first purge does not hold the
database for long. The service runs `purge` at most once an hour; `liberation-guardian
kb purge` runs it now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Delete, Table, delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.group.incidents import IncidentStatus
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Base, Decision, Event, Incident, Pattern, Payload, Resolution, utcnow

BATCH = 500


def purge(
    factory: sessionmaker[Session], retention_days: int, *, now: datetime | None = None, batch: int = BATCH
) -> Counter[str]:
    """Delete what is older than the retention window; returns how many rows went, by table."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    deleted: Counter[str] = Counter()
    while True:
        with transaction(factory) as session:
            ids = list(
                session.scalars(
                    select(Incident.id)
                    .where(
                        Incident.status == IncidentStatus.resolved.value,
                        # A resolved incident's last event is no later than its resolution: the index narrows.
                        Incident.last_seen < cutoff,
                        Incident.resolved_at < cutoff,
                    )
                    .limit(batch)
                )
            )
            if not ids:
                break
            _delete_incidents(session, ids, deleted)
    while True:
        with transaction(factory) as session:
            stray = list(
                session.scalars(
                    select(Event.id)
                    .where(Event.incident_id.is_(None), Event.processed_at.is_not(None), Event.received_at < cutoff)
                    .limit(batch)
                )
            )
            if not stray:
                break
            payloads = set(session.scalars(select(Event.payload_id).where(Event.id.in_(stray))))
            _delete(session, deleted, "events", delete(Event).where(Event.id.in_(stray)))
            _delete_orphan_payloads(session, payloads, deleted)
    with transaction(factory) as session:
        _delete(session, deleted, "resolutions", delete(Resolution).where(Resolution.resolved_at < cutoff))
        stale = delete(Pattern).where(
            Pattern.origin != "builtin", Pattern.status == "proposed", Pattern.updated_at < cutoff
        )
        _delete(session, deleted, "patterns", stale)
    return deleted


def _delete_incidents(session: Session, ids: list[int], deleted: Counter[str]) -> None:
    """Delete incidents and every row that refers to them, children first."""
    payloads = set(session.scalars(select(Event.payload_id).where(Event.incident_id.in_(ids))))
    incidents: Table = Incident.__table__  # type: ignore[assignment]
    owned: dict[Table, Any] = {
        Decision.__table__: select(Decision.id).where(Decision.incident_id.in_(ids)),  # type: ignore[dict-item]
        Event.__table__: select(Event.id).where(Event.incident_id.in_(ids)),  # type: ignore[dict-item]
    }
    for table in reversed(Base.metadata.sorted_tables):
        if table is incidents:
            continue
        condition = _belongs(table, incidents, ids, owned)
        if condition is not None:
            _delete(session, deleted, table.name, delete(table).where(condition))
    _delete_orphan_payloads(session, payloads, deleted)
    _delete(session, deleted, "incidents", delete(Incident).where(Incident.id.in_(ids)))


def _belongs(table: Table, incidents: Table, ids: list[int], owned: dict[Table, Any]) -> ColumnElement[bool] | None:
    """The rows of `table` that belong to the incidents, or None when the table does not refer to them.

    A row pointing at an incident is found by that (indexed) column alone; only a table that
    points at an incident's decisions or events without naming the incident is searched by those.
    """
    direct = [fk.parent for fk in table.foreign_keys if fk.column.table is incidents]
    if direct:
        return or_(*(column.in_(ids) for column in direct))
    indirect = [fk.parent.in_(owned[fk.column.table]) for fk in table.foreign_keys if fk.column.table in owned]
    return or_(*indirect) if indirect else None


def _delete_orphan_payloads(session: Session, candidates: set[int], deleted: Counter[str]) -> None:
    """Delete the payloads among `candidates` that no remaining event was parsed from."""
    if not candidates:
        return
    still = set(session.scalars(select(Event.payload_id).where(Event.payload_id.in_(candidates))))
    gone = sorted(candidates - still)
    if gone:
        _delete(session, deleted, "payloads", delete(Payload).where(Payload.id.in_(gone)))


def _delete(session: Session, deleted: Counter[str], table: str, statement: Delete) -> None:
    result = cast(CursorResult[Any], session.execute(statement))
    if result.rowcount:
        deleted[table] += result.rowcount
