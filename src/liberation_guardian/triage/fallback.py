"""The last link of the chain: anything no other decider claimed is investigated."""

from __future__ import annotations

from liberation_guardian.triage.base import Action, Case, Verdict


class Investigate:
    """Always answers: investigate at the event's own severity."""

    name = "fallback"

    def decide(self, case: Case) -> Verdict:
        """Investigate the case; confidence is low because nothing recognized it."""
        return Verdict(
            action=Action.investigate,
            severity=case.severity,
            category=case.category,
            confidence=0.5,
            decided_by=self.name,
            matched=None,
            rationale=(
                f"No rule or known pattern covers this {case.severity.value} {case.category} problem from "
                f"{case.source}, so it is left for a person to look into at its own severity rather than "
                "acknowledged or fixed automatically."
            ),
        )
