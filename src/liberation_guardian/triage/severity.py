"""The first link of the chain: critical severity escalates at once, whatever else is true."""

from __future__ import annotations

from liberation_guardian.events import Severity
from liberation_guardian.triage.base import Action, Case, Verdict


class CriticalEscalation:
    """Escalates every critical event before any rule or model is consulted."""

    name = "severity"

    def decide(self, case: Case) -> Verdict | None:
        """Escalate when the event is critical; otherwise pass."""
        if case.severity != Severity.critical:
            return None
        return Verdict(
            action=Action.escalate,
            severity=case.severity,
            category=case.category,
            confidence=1.0,
            decided_by=self.name,
            matched="severity == critical",
            rationale=(
                f"{case.source} reported this as critical, and critical problems always go to a human at "
                f"once without waiting on any rule or model. {_occurrence_phrase(case)}"
            ),
        )


def _occurrence_phrase(case: Case) -> str:
    where = f" in {case.service}" if case.service else ""
    return f"It is {case.transition}{where} after {case.occurrences} occurrence(s)."
