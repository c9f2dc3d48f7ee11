"""Human feedback on decisions: right, or wrong and what it should have been.

Feedback is kept against the incident's latest decision. A `wrong` verdict must say at
least one of the right action, severity or category. Each value is checked against the
vocabulary, so a typo is refused with a reason instead of teaching the system nonsense.
When a pattern made the decision, the verdict also confirms or rejects that pattern
(`learn/outcomes.py`), in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.events import Severity
from liberation_guardian.learn import outcomes
from liberation_guardian.store.models import Decision, Feedback, Incident
from liberation_guardian.triage.base import Action
from liberation_guardian.triage.category import TAXONOMY


def record_feedback(
    session: Session,
    incident: Incident,
    *,
    correct: bool,
    action: str | None = None,
    severity: str | None = None,
    category: str | None = None,
    comment: str = "",
    author: str,
    now: datetime,
    learning: LearningConfig | None = None,
) -> Feedback:
    """Store one piece of feedback; ValueError names the field that is not acceptable."""
    _check("action", action, [a.value for a in Action])
    _check("severity", severity, [s.value for s in Severity])
    _check("category", category, TAXONOMY)
    if not correct and not (action or severity or category):
        raise ValueError("a wrong verdict needs the right action, severity or category")
    decision = session.scalar(
        select(Decision).where(Decision.incident_id == incident.id).order_by(Decision.id.desc()).limit(1)
    )
    feedback = Feedback(
        incident_id=incident.id,
        decision_id=decision.id if decision else None,
        correct=correct,
        action=action,
        severity=severity,
        category=category,
        comment=comment,
        author=author,
        created_at=now,
    )
    session.add(feedback)
    session.flush()
    outcomes.judged(session, feedback, decision, learning or LearningConfig(), now)
    return feedback


def _check(field: str, value: str | None, allowed: tuple[str, ...] | list[str]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
