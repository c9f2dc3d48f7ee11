"""What became of a pattern's decisions, and what people said of them, as evidence on the pattern.

Each function runs in the transaction of the thing that produced the evidence (the
decision, the resolution, the acknowledgement, the feedback), so evidence is never
counted for something that was rolled back. A decision belongs to a pattern when its
`details` name a `pattern_id` that has a row.

- occurrence: a pattern decided (always counted; it does not move the confidence);
- success: an incident the pattern acknowledged quietly or fixed is resolved (the episode's
  `Resolution.outcome` becomes `succeeded`), or a person acknowledges the notification the
  pattern escalated or asked to investigate;
- failure: a succeeded episode comes back (the incident reopens: the success becomes a
  failure and the outcome `recurred`), or an auto-fixed incident worsens before it is
  resolved (the fix did not hold);
- confirmation / rejection: a person says the pattern's decision was right or wrong
  (`learn/feedback.py`); saying it again changes nothing, changing one's mind moves the
  earlier verdict over. A person who corrects an auto-acknowledgement to `escalate` is
  such a rejection.

Outcomes are only counted with `learning.feedback_loop.outcome_tracking_enabled`, verdicts
only with `learning.feedback_loop.enabled`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.learn.patterns import recalibrate, shipped_row
from liberation_guardian.store.models import Decision, Feedback, Incident, Pattern, Resolution
from liberation_guardian.triage.base import Action

SUCCEEDED = "succeeded"
RECURRED = "recurred"
_QUIET = (Action.auto_acknowledge.value, Action.auto_fix.value)
_NOTIFIED = (Action.escalate.value, Action.investigate.value)


def pattern_of(decision: Decision | None) -> str | None:
    """The id of the pattern that made a decision, if a pattern did."""
    if decision is None:
        return None
    found = (decision.details or {}).get("pattern_id")
    return found if isinstance(found, str) else None


def decided(
    session: Session, incident: Incident, decision: Decision, transition: str, learning: LearningConfig, now: datetime
) -> None:
    """A decision was stored: count the pattern's occurrence, and what the transition says of earlier ones."""
    pattern_id = pattern_of(decision)
    if pattern_id is not None:
        _add(session, pattern_id, learning, now, occurrences=1)
    if not learning.feedback_loop.outcome_tracking_enabled:
        return
    if transition == "reopened":
        last = session.scalar(
            select(Resolution)
            .where(Resolution.incident_id == incident.id, Resolution.transition_seq < incident.transition_seq)
            .order_by(Resolution.id.desc())
            .limit(1)
        )
        if last is not None and last.outcome == SUCCEEDED and last.pattern_id:
            last.outcome = RECURRED
            _add(session, last.pattern_id, learning, now, successes=-1, failures=1)
    elif transition == "severity_raised":
        previous = session.scalar(
            select(Decision)
            .where(Decision.incident_id == incident.id, Decision.id < decision.id)
            .order_by(Decision.id.desc())
            .limit(1)
        )
        fixed_by = pattern_of(previous)
        if previous is not None and fixed_by and previous.action == Action.auto_fix.value:
            _add(session, fixed_by, learning, now, failures=1)


def resolved(
    session: Session, resolution: Resolution, last: Decision | None, learning: LearningConfig, now: datetime
) -> None:
    """An episode was resolved: a success for the pattern that handled it quietly."""
    pattern_id = pattern_of(last)
    if last is None or pattern_id is None or last.action not in _QUIET:
        return
    if not learning.feedback_loop.outcome_tracking_enabled:
        return
    resolution.outcome = SUCCEEDED
    _add(session, pattern_id, learning, now, successes=1)


def acknowledged(session: Session, incident: Incident, learning: LearningConfig, now: datetime) -> None:
    """A person acknowledged the incident: a success for the pattern whose notification they answered."""
    if not learning.feedback_loop.outcome_tracking_enabled:
        return
    last = session.scalar(
        select(Decision).where(Decision.incident_id == incident.id).order_by(Decision.id.desc()).limit(1)
    )
    pattern_id = pattern_of(last)
    if last is not None and pattern_id is not None and last.action in _NOTIFIED:
        _add(session, pattern_id, learning, now, successes=1)


def judged(
    session: Session, feedback: Feedback, decision: Decision | None, learning: LearningConfig, now: datetime
) -> None:
    """A person said a decision was right or wrong: a confirmation or rejection of its pattern."""
    pattern_id = pattern_of(decision)
    if decision is None or pattern_id is None or not learning.feedback_loop.enabled:
        return
    earlier = session.scalar(
        select(Feedback)
        .where(
            Feedback.incident_id == feedback.incident_id,
            Feedback.decision_id == decision.id,
            Feedback.author == feedback.author,
            Feedback.id != feedback.id,
        )
        .order_by(Feedback.id.desc())
        .limit(1)
    )
    if earlier is not None and earlier.correct == feedback.correct:
        return  # the same person saying the same thing again is not more evidence
    delta = {"confirmations": 1} if feedback.correct else {"rejections": 1}
    if earlier is not None:
        delta.update({"rejections": -1} if feedback.correct else {"confirmations": -1})
    _add(session, pattern_id, learning, now, **delta)


def _add(session: Session, pattern_id: str, learning: LearningConfig, now: datetime, **deltas: int) -> None:
    """Add to a pattern's evidence columns and recompute its confidence, with the row locked."""
    row = session.scalar(
        select(Pattern).where(Pattern.id == pattern_id).with_for_update().execution_options(populate_existing=True)
    )
    if row is None:
        row = shipped_row(session, pattern_id, learning, now)
        if row is None:
            return  # a pattern that no longer exists (purged, or renamed in the pack)
    for column, delta in deltas.items():
        setattr(row, column, max(0, getattr(row, column) + delta))
    recalibrate(row, learning)
    row.updated_at = now
