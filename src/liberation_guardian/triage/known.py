"""The knowledge-base decider: a problem the shipped pattern pack recognizes gets its known handling.

It runs after critical severity and the configured rules. A match gives the pattern's
action, category and runbook; the severity is the worse of the pattern's and the tool's,
so a known pattern never talks an alert down. Quiet handling is held back where it would
be unsafe: a pattern whose confidence is under `learning.knowledge_base.
pattern_confidence_threshold` does not auto-act, an auto-acknowledge pattern that has become
`frequent` is investigated, and an auto-fix that already used `max_fix_attempts` goes to a
person.
"""

from __future__ import annotations

from functools import cache

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge.match import PatternIndex
from liberation_guardian.knowledge.pack import load_pack
from liberation_guardian.triage.base import Action, Case, Verdict

# Confidence of a shipped pattern before any outcome or feedback has been seen for it.
BUILTIN_CONFIDENCE = 0.8


@cache
def shipped_index() -> PatternIndex:
    """The index of the shipped pack, built once per process."""
    return PatternIndex(load_pack())


class KnownPattern:
    """Answers for events a known pattern matches; passes on everything else."""

    name = "knowledge"

    def __init__(self, index: PatternIndex, *, threshold: float, max_fix_attempts: int) -> None:
        self.index = index
        self.threshold = threshold
        self.max_fix_attempts = max_fix_attempts

    def decide(self, case: Case) -> Verdict | None:
        """The pattern's handling, or None when no pattern matches."""
        found = self.index.best(case.text, source=case.source, kind=case.kind, exception_type=case.exception_type)
        if found is None:
            return None
        pattern = found.pattern
        action, why = Action(pattern.action), ""
        confidence = BUILTIN_CONFIDENCE
        if action in (Action.auto_fix, Action.auto_acknowledge) and confidence < self.threshold:
            action, why = Action.investigate, f" Its confidence {confidence:.2f} is under the threshold."
        elif action == Action.auto_acknowledge and case.frequency == Frequency.frequent:
            action, why = Action.investigate, " It has become frequent, so a person should look."
        elif action == Action.auto_fix and case.fix_attempts >= self.max_fix_attempts:
            action, why = Action.escalate, f" {case.fix_attempts} fix attempts did not solve it."
        severity = max(Severity(pattern.severity), case.severity, key=lambda s: s.rank)
        return Verdict(
            action=action,
            severity=severity,
            category=pattern.category,
            confidence=confidence,
            decided_by=self.name,
            matched=f"knowledge: {pattern.id}",
            rationale=f"Known problem: {pattern.title} ({pattern.id}). {pattern.runbook[0]}{why}",
            details={
                "pattern_id": pattern.id,
                "regex": found.regex,
                "runbook": list(pattern.runbook),
                "fix_template": pattern.fix_template,
            },
        )
