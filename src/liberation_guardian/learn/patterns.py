"""The patterns table: the shipped pack seeded into it, confidence kept current, and people's reviews.

Every pattern that may decide has a row, so the evidence for it has somewhere to land:
`seed_shipped` copies the shipped pack in at start-up (origin `builtin`), updating the
definitions of known rows and never their evidence, and brings every row's confidence in
line with the configuration (a changed `human_feedback_weight` applies to past feedback
too). Learned patterns arrive as `proposed` rows; `review` accepts or rejects them.

The playbooks table sits beside it: `seed_playbooks` copies the shipped playbooks in at the
same moment. They are definitions with no evidence, so a release that drops one drops its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.knowledge.pack import Pattern as PackPattern
from liberation_guardian.knowledge.pack import shipped_pack
from liberation_guardian.knowledge.playbooks import Playbook as PlaybookDefinition
from liberation_guardian.knowledge.playbooks import shipped_playbooks
from liberation_guardian.learn.confidence import Evidence, calibrate
from liberation_guardian.store.models import Pattern, Playbook

ORIGINS = ("builtin", "learned", "community", "human")
STATUSES = ("active", "proposed", "rejected")
_DEFINITION = ("title", "match", "category", "severity", "action", "runbook", "fix_template", "tags")


class ReviewRefused(Exception):
    """The pattern is not waiting for review (it is active or rejected already)."""


def definition(pattern: PackPattern) -> dict[str, Any]:
    """A pack pattern as the columns of its row that describe it (not its evidence)."""
    return {
        "title": pattern.title,
        "match": pattern.match.model_dump(mode="json"),
        "category": pattern.category,
        "severity": pattern.severity.value,
        "action": pattern.action.value,
        "runbook": "\n".join(pattern.runbook),
        "fix_template": pattern.fix_template,
        "tags": list(pattern.tags),
    }


def evidence(row: Pattern) -> Evidence:
    """The evidence columns of a row (a row not yet flushed may still lack them: none is zero)."""
    return Evidence(row.successes or 0, row.failures or 0, row.confirmations or 0, row.rejections or 0)


def recalibrate(row: Pattern, learning: LearningConfig) -> bool:
    """Set the row's confidence from its evidence; True when it changed."""
    value = calibrate(evidence(row), row.origin, learning.feedback_loop)
    if row.confidence == value:
        return False
    row.confidence = value
    return True


def seed_shipped(session: Session, learning: LearningConfig, now: datetime) -> int:
    """Upsert the shipped pack as `builtin` rows and recalibrate every row; returns how many rows changed."""
    pack = shipped_pack()
    rows = {row.id: row for row in session.scalars(select(Pattern))}
    changed: set[str] = set()
    for pattern in pack:
        wanted = definition(pattern)
        row = rows.get(pattern.id)
        if row is None:
            row = _shipped_row(pattern, wanted, pack.origin[pattern.id], pack.versions, now)
            session.add(row)
            rows[row.id] = row
            changed.add(row.id)
            continue
        if row.origin != "builtin":
            continue  # an import never takes a shipped id (`kb import` refuses it), so this row is not ours
        stale = {name: value for name, value in wanted.items() if getattr(row, name) != value}
        if stale:
            for name, value in stale.items():
                setattr(row, name, value)
            row.updated_at = now
            changed.add(row.id)
    for row in rows.values():
        if recalibrate(row, learning):
            row.updated_at = now
            changed.add(row.id)
    session.flush()
    return len(changed)


def shipped_row(session: Session, pattern_id: str, learning: LearningConfig, now: datetime) -> Pattern | None:
    """The row of a shipped pattern, created on first use when the table was not seeded; None if not shipped."""
    pack = shipped_pack()
    try:
        pattern = pack.get(pattern_id)
    except KeyError:
        return None
    row = _shipped_row(pattern, definition(pattern), pack.origin[pattern_id], pack.versions, now)
    recalibrate(row, learning)
    session.add(row)
    session.flush()
    return row


def _shipped_row(
    pattern: PackPattern, wanted: dict[str, Any], file: str, versions: dict[str, int], now: datetime
) -> Pattern:
    return Pattern(
        id=pattern.id,
        origin="builtin",
        status="active",
        **wanted,
        occurrences=0,
        successes=0,
        failures=0,
        confirmations=0,
        rejections=0,
        confidence=calibrate(Evidence(), "builtin", LearningConfig().feedback_loop),
        provenance={"pack": file, "version": versions.get(file, 1)},
        created_at=now,
        updated_at=now,
    )


def review(row: Pattern, *, accept: bool, by: str, comment: str, learning: LearningConfig, now: datetime) -> Pattern:
    """Accept a proposed pattern (it becomes active; the acceptance counts as a confirmation) or reject it."""
    if row.status != "proposed":
        raise ReviewRefused(f"pattern {row.id} is {row.status}, not proposed")
    row.status = "active" if accept else "rejected"
    if accept and learning.feedback_loop.enabled:
        row.confirmations += 1
    recalibrate(row, learning)
    reviewed = {"decision": "accept" if accept else "reject", "by": by, "comment": comment, "at": now.isoformat()}
    row.provenance = {**(row.provenance or {}), "review": reviewed}
    row.updated_at = now
    return row


def describe(row: Pattern) -> dict[str, Any]:
    """A row as JSON-ready data, for the API and the shell."""
    return {
        "id": row.id,
        "origin": row.origin,
        "status": row.status,
        "title": row.title,
        "match": row.match,
        "category": row.category,
        "severity": row.severity,
        "action": row.action,
        "runbook": [line for line in (row.runbook or "").splitlines() if line.strip()],
        "fix_template": row.fix_template,
        "tags": list(row.tags or []),
        "confidence": row.confidence,
        "evidence": {
            "occurrences": row.occurrences,
            "successes": row.successes,
            "failures": row.failures,
            "confirmations": row.confirmations,
            "rejections": row.rejections,
        },
        "provenance": row.provenance or {},
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def playbook_definition(playbook: PlaybookDefinition) -> dict[str, Any]:
    """A shipped playbook as the columns of its row."""
    return {
        "title": playbook.title,
        "category": playbook.category,
        "applies_to": playbook.selectors(),
        "steps": "\n".join(playbook.steps),
        "verify": "\n".join(playbook.verify),
    }


def seed_playbooks(session: Session, now: datetime) -> int:
    """Upsert the shipped playbooks as `builtin` rows and drop builtin rows no longer shipped; returns rows changed."""
    wanted = {playbook.id: playbook_definition(playbook) for playbook in shipped_playbooks()}
    changed = 0
    for row in session.scalars(select(Playbook)):
        if row.origin != "builtin":
            continue
        definition = wanted.pop(row.id, None)
        if definition is None:
            session.delete(row)
            changed += 1
            continue
        stale = {name: value for name, value in definition.items() if getattr(row, name) != value}
        if stale:
            for name, value in stale.items():
                setattr(row, name, value)
            row.updated_at = now
            changed += 1
    for playbook_id, definition in wanted.items():
        if session.get(Playbook, playbook_id) is None:  # a row of another origin keeps its id
            session.add(Playbook(id=playbook_id, origin="builtin", **definition, created_at=now, updated_at=now))
            changed += 1
    session.flush()
    return changed


def describe_playbook(row: Playbook) -> dict[str, Any]:
    """A playbook row as JSON-ready data, for the API and the shell."""
    return {
        "id": row.id,
        "origin": row.origin,
        "title": row.title,
        "category": row.category,
        "applies_to": list(row.applies_to or []),
        "steps": [line for line in (row.steps or "").splitlines() if line.strip()],
        "verify": [line for line in (row.verify or "").splitlines() if line.strip()],
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
