"""An informational event that no rule or known pattern claimed is acknowledged quietly.

A deploy finished, a build passed, a note was added: the tool itself says nothing is
wrong, so there is nothing for a person to do, and the event stays on record. This runs
before the classifier, whose guesses are for problems, not for reports of success.
"""

from __future__ import annotations

from liberation_guardian.events import Severity
from liberation_guardian.triage.base import Action, Case, Verdict


class Informational:
    """Acknowledges `info` events; passes on everything else."""

    name = "informational"

    def decide(self, case: Case) -> Verdict | None:
        """Acknowledge an informational event at its own severity."""
        if case.severity != Severity.info:
            return None
        return Verdict(
            action=Action.auto_acknowledge,
            severity=case.severity,
            category=case.category,
            confidence=0.9,
            decided_by=self.name,
            matched="severity == info",
            rationale=(
                f"{case.source} reported this as informational and no rule or known pattern says otherwise, "
                "so it is recorded and acknowledged without disturbing anyone."
            ),
        )
