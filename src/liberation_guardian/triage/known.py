"""The knowledge-base decider: a problem a known pattern recognizes gets its known handling.

It runs after critical severity and the configured rules. A match gives the pattern's
action, category and runbook; the severity is the worse of the pattern's and the tool's,
so a known pattern never talks an alert down. Quiet handling is held back where it would
be unsafe: a pattern whose confidence is under `learning.knowledge_base.
pattern_confidence_threshold` does not auto-act, an auto-acknowledge pattern that has become
`frequent` is investigated, and an auto-fix that already used `max_fix_attempts` goes to a
person.

The patterns are the shipped pack plus the active patterns of the store that people
accepted or imported (origin learned, community, human). `sync` keeps both current from
the patterns table: the confidence each pattern has earned (`learn/confidence.py`) and
which stored patterns may decide. It reads only rows changed since its last call, and
rebuilds the index only when the set of active patterns changed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge.match import PatternIndex
from liberation_guardian.knowledge.pack import MatchSpec, Pattern, shipped_pack
from liberation_guardian.learn.confidence import BUILTIN, prior_for
from liberation_guardian.store.models import Pattern as PatternRow
from liberation_guardian.triage.base import Action, Case, Verdict
from liberation_guardian.triage.category import TAXONOMY

log = logging.getLogger(__name__)

# Confidence of a shipped pattern before any outcome or feedback has been seen for it.
BUILTIN_CONFIDENCE = BUILTIN.mean
# Rows changed this long before the newest change seen are read again: a transaction on PostgreSQL may
# commit a little after one that stamped a later time.
OVERLAP = timedelta(seconds=5)

_STATE = (PatternRow.id, PatternRow.origin, PatternRow.status, PatternRow.confidence)
_DEFINITION = (
    PatternRow.id,
    PatternRow.title,
    PatternRow.match,
    PatternRow.category,
    PatternRow.severity,
    PatternRow.action,
    PatternRow.runbook,
    PatternRow.fix_template,
)


@cache
def shipped_index() -> PatternIndex:
    """The index of the shipped pack, built once per process."""
    return PatternIndex(shipped_pack())


class KnownPattern:
    """Answers for events a known pattern matches; passes on everything else.

    Usage::

        decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
        decider.sync(session)  # learned confidences and accepted patterns; cheap when nothing changed
        verdict = decider.decide(case)
    """

    name = "knowledge"

    def __init__(self, index: PatternIndex, *, threshold: float, max_fix_attempts: int) -> None:
        self.shipped = index
        self.index = index
        self.threshold = threshold
        self.max_fix_attempts = max_fix_attempts
        self.confidence: dict[str, float] = {}
        self.origin: dict[str, str] = {}
        self._stored: dict[str, tuple[str, Pattern]] = {}  # active non-shipped patterns: (definition, pattern)
        self._disabled: set[str] = set()  # shipped patterns a person switched off
        self._seen: datetime | None = None

    def sync(self, session: Session) -> None:
        """Read the patterns changed since the last call; rebuild the index when the active set changed."""
        latest = session.scalar(select(func.max(PatternRow.updated_at)))
        if latest is None or (self._seen is not None and latest <= self._seen):
            return
        query = select(*_STATE)
        if self._seen is not None:
            query = query.where(PatternRow.updated_at > self._seen - OVERLAP)
        # Proposals and rejected patterns never decide: only one that was in use has news (it left).
        wanted = [PatternRow.origin == "builtin", PatternRow.status == "active"]
        if self._stored:
            wanted.append(PatternRow.id.in_(list(self._stored)))
        rows = session.execute(query.where(or_(*wanted))).all()
        # Only stored patterns need their definition read; the shipped ones are in the pack.
        active = [row.id for row in rows if row.origin != "builtin" and row.status == "active"]
        definitions = (
            {row.id: row for row in session.execute(select(*_DEFINITION).where(PatternRow.id.in_(active)))}
            if active
            else {}
        )
        changed = False
        for row in rows:
            self.confidence[row.id] = row.confidence
            self.origin[row.id] = row.origin
            if row.origin == "builtin":
                changed |= _toggle(self._disabled, row.id, row.status != "active")
            else:
                changed |= self._keep(row.id, definitions.get(row.id))
        if changed:
            shipped = [pattern for pattern in self.shipped.patterns if pattern.id not in self._disabled]
            stored = [self._stored[key][1] for key in sorted(self._stored)]
            self.index = PatternIndex([*shipped, *stored])
        self._seen = latest

    def decide(self, case: Case) -> Verdict | None:
        """The pattern's handling, or None when no pattern matches."""
        found = self.index.best(case.text, source=case.source, kind=case.kind, exception_type=case.exception_type)
        if found is None:
            return None
        pattern = found.pattern
        origin = self.origin.get(pattern.id, "builtin")
        action, why = Action(pattern.action), ""
        confidence = self.confidence.get(pattern.id, prior_for(origin).mean)
        if action in (Action.auto_fix, Action.auto_acknowledge) and confidence < self.threshold:
            action, why = Action.investigate, f" Its confidence {confidence:.2f} is under the threshold."
        elif action == Action.auto_acknowledge and case.frequency == Frequency.frequent:
            action, why = Action.investigate, " It has become frequent, so a person should look."
        elif action == Action.auto_fix and case.fix_attempts >= self.max_fix_attempts:
            action, why = Action.escalate, f" {case.fix_attempts} fix attempts did not solve it."
        severity = max(Severity(pattern.severity), case.severity, key=lambda s: s.rank)
        known = "Known problem" if origin == "builtin" else f"Known problem ({origin} pattern)"
        first_step = f" {pattern.runbook[0]}" if pattern.runbook else ""
        return Verdict(
            action=action,
            severity=severity,
            category=pattern.category,
            confidence=confidence,
            decided_by=self.name,
            matched=f"knowledge: {pattern.id}",
            rationale=f"{known}: {pattern.title} ({pattern.id}).{first_step}{why}",
            details={
                "pattern_id": pattern.id,
                "pattern_origin": origin,
                "regex": found.regex,
                "runbook": list(pattern.runbook),
                "fix_template": pattern.fix_template,
            },
        )

    def _keep(self, pattern_id: str, definition: Any) -> bool:
        """Track one stored pattern (its definition when active, else None); True when the active set changed."""
        if definition is None:
            return self._stored.pop(pattern_id, None) is not None
        key = json.dumps(list(definition), sort_keys=True, default=str)
        held = self._stored.get(pattern_id)
        if held is not None and held[0] == key:
            return False
        pattern = _matchable(definition)
        if pattern is None:
            return self._stored.pop(pattern_id, None) is not None
        self._stored[pattern_id] = (key, pattern)
        return True


def _toggle(members: set[str], item: str, present: bool) -> bool:
    if present == (item in members):
        return False
    if present:
        members.add(item)
    else:
        members.discard(item)
    return True


def _matchable(row: Any) -> Pattern | None:
    """A stored pattern as one the index can file; None (and a warning) when it cannot decide anything."""
    try:
        spec = MatchSpec.model_validate(row.match or {})
        severity, action = Severity(row.severity), Action(row.action)
        if row.category not in TAXONOMY:
            raise ValueError(f"unknown category {row.category!r}")
    except (ValidationError, ValueError) as exc:
        log.warning("stored pattern cannot be used", extra={"pattern_id": row.id, "reason": str(exc)})
        return None
    runbook = [line for line in (row.runbook or "").splitlines() if line.strip()]
    # Stored patterns were checked when they were written (discovery, import); only what matching needs is re-read.
    return Pattern.model_construct(
        id=row.id,
        title=row.title,
        match=spec,
        category=row.category,
        severity=severity,
        action=action,
        runbook=runbook,
        fix_template=row.fix_template,
        tags=[],
        keywords=[],
        shadowed_by=[],
        examples=[],
        provenance={},
    )
