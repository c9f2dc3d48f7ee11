"""The last link of the chain: anything no other decider claimed is investigated."""

from __future__ import annotations

from liberation_guardian.events import Severity
from liberation_guardian.triage.base import Action, Case, Verdict


class Investigate:
    """Always answers: investigate at the event's own severity, or acknowledge an informational event."""

    name = "fallback"

    def decide(self, case: Case) -> Verdict:
        """Investigate the case; confidence is low because nothing recognized it.

        An informational event (a deploy finished, a build passed) that nothing claimed is
        acknowledged instead: there is nothing for a person to do, and it stays on record.
        """
        if case.severity == Severity.info:
            return Verdict(
                action=Action.auto_acknowledge,
                severity=case.severity,
                category=case.category,
                confidence=0.7,
                decided_by=self.name,
                matched="severity == info",
                rationale=(
                    f"{case.source} reported this as informational and no rule or known pattern says otherwise, "
                    "so it is recorded and acknowledged without disturbing anyone."
                ),
            )
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
