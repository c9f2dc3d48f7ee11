"""Critical business impact in an event's own words escalates, whatever the tool called it.

Tools grade by their own measure: a CI job that failed is `high` to CircleCI even when its
log says the rollback failed and production answers 503 to everyone. The impact signatures
(`knowledge/impact/*.yml`, the pattern pack format) recognise such words: production down
for all, data destroyed, money stopped, a live credential taken. A match escalates at
critical severity right after the critical-severity link, before any rule that could quiet
it. The text is only matched, never followed, so a payload that also asks to be ignored is
escalated all the same.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from liberation_guardian.events import Severity
from liberation_guardian.knowledge.match import PatternIndex
from liberation_guardian.knowledge.pack import load_pack
from liberation_guardian.triage.base import Action, Case, Verdict

IMPACT_PACK = Path(__file__).resolve().parents[1] / "knowledge" / "impact"


@cache
def impact_index() -> PatternIndex:
    """The index of the impact signatures, built once per process."""
    return PatternIndex(load_pack(IMPACT_PACK))


class CriticalImpact:
    """Escalates an event whose text shows critical impact; passes on everything else."""

    name = "impact"

    def __init__(self, index: PatternIndex) -> None:
        self.index = index

    def decide(self, case: Case) -> Verdict | None:
        """Escalate at critical severity when an impact signature matches."""
        found = self.index.best(case.text, source=case.source, kind=case.kind, exception_type=case.exception_type)
        if found is None:
            return None
        pattern = found.pattern
        return Verdict(
            action=Action.escalate,
            severity=Severity.critical,
            category=pattern.category,
            confidence=0.95,
            decided_by=self.name,
            matched=f"impact: {pattern.id}",
            rationale=(
                f"{pattern.title}: the event's own text says so, although {case.source} graded it "
                f"{case.severity.value}. {pattern.runbook[0]}"
            ),
            details={"pattern_id": pattern.id, "regex": found.regex, "runbook": list(pattern.runbook)},
        )
