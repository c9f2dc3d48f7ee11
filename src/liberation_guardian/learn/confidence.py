"""How much a pattern is trusted: a calibrated estimate from what became of its decisions.

A pattern's confidence is the mean of a Beta posterior over "its handling is right".
The prior is worth a few outcomes: a shipped pattern starts at 0.8 as if it had been right
eight times in ten, a learned or imported one at 0.6 over five, so a little evidence moves a
new pattern and a lot is needed to move a shipped one. Each success (an auto-acknowledged
or fixed incident resolved and not back, a notification a person acknowledged) counts one
for it, each failure (a recurrence after resolution, a fix that did not hold) one against
it; a person's confirmation or rejection counts `learning.feedback_loop.
human_feedback_weight`. Nothing here touches the store: `learn/outcomes.py` gathers the
evidence and calls `calibrate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from liberation_guardian.config.schema import FeedbackLoopConfig


@dataclass(frozen=True)
class Prior:
    """What a pattern is believed to be worth before any evidence: a mean, and how many outcomes that is worth.

    Usage::

        Prior(mean=0.8, weight=10).alpha  # 8.0 pseudo-successes
    """

    mean: float
    weight: float

    @property
    def alpha(self) -> float:
        """Pseudo-successes."""
        return self.mean * self.weight

    @property
    def beta(self) -> float:
        """Pseudo-failures."""
        return (1 - self.mean) * self.weight


# A shipped pattern was written and checked against real examples; a person writing one knows their system.
BUILTIN = Prior(mean=0.8, weight=10)
# A learned or imported pattern has to earn trust: it starts under the default threshold (0.7), and one
# confirmation (a review that accepts it, at the default human weight 2) lifts it just over.
LEARNED = Prior(mean=0.6, weight=5)
PRIORS: dict[str, Prior] = {"builtin": BUILTIN, "human": BUILTIN, "learned": LEARNED, "community": LEARNED}


@dataclass(frozen=True)
class Evidence:
    """What is known of a pattern's decisions: outcomes, and people's verdicts on them."""

    successes: int = 0
    failures: int = 0
    confirmations: int = 0
    rejections: int = 0


def prior_for(origin: str) -> Prior:
    """The prior of a pattern of this origin; an unknown origin is treated as learned."""
    return PRIORS.get(origin, LEARNED)


def posterior_mean(evidence: Evidence, prior: Prior, human_weight: float) -> float:
    """The Beta posterior mean: (prior successes + evidence for) / (all prior and evidence)."""
    if human_weight < 0:
        raise ValueError("the human feedback weight cannot be negative")
    for_it = prior.alpha + evidence.successes + human_weight * evidence.confirmations
    against = prior.beta + evidence.failures + human_weight * evidence.rejections
    return for_it / (for_it + against)


def calibrate(evidence: Evidence, origin: str, feedback_loop: FeedbackLoopConfig) -> float:
    """The confidence of a pattern, counting only the kinds of evidence the configuration learns from."""
    if not feedback_loop.outcome_tracking_enabled:
        evidence = Evidence(confirmations=evidence.confirmations, rejections=evidence.rejections)
    weight = feedback_loop.human_feedback_weight if feedback_loop.enabled else 0.0
    return round(posterior_mean(evidence, prior_for(origin), weight), 4)
