"""A pattern's confidence is a Beta posterior mean: its prior, its outcomes and people's verdicts weighted."""

from __future__ import annotations

import pytest

from liberation_guardian.config.schema import FeedbackLoopConfig
from liberation_guardian.learn.confidence import BUILTIN, LEARNED, Evidence, Prior, calibrate, posterior_mean, prior_for
from liberation_guardian.triage.known import BUILTIN_CONFIDENCE


def test_without_evidence_a_pattern_has_its_prior() -> None:
    assert posterior_mean(Evidence(), BUILTIN, 2.0) == pytest.approx(0.8)
    assert BUILTIN_CONFIDENCE == pytest.approx(0.8)
    assert posterior_mean(Evidence(), LEARNED, 2.0) == pytest.approx(0.6)
    assert prior_for("builtin") is BUILTIN and prior_for("human") is BUILTIN
    assert prior_for("learned") is LEARNED and prior_for("community") is LEARNED and prior_for("other") is LEARNED


def test_the_posterior_mean_counts_outcomes_once_and_verdicts_by_their_weight() -> None:
    prior = Prior(mean=0.5, weight=2)  # one pseudo-success, one pseudo-failure
    assert (prior.alpha, prior.beta) == (1.0, 1.0)
    assert posterior_mean(Evidence(successes=3, failures=1), prior, 2.0) == pytest.approx(4 / 6)
    assert posterior_mean(Evidence(confirmations=1), prior, 2.0) == pytest.approx(3 / 4)
    assert posterior_mean(Evidence(rejections=1), prior, 3.0) == pytest.approx(1 / 5)
    assert posterior_mean(Evidence(confirmations=5, rejections=5), prior, 0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="cannot be negative"):
        posterior_mean(Evidence(), prior, -1.0)


def test_a_shipped_pattern_moves_slowly_and_a_learned_one_needs_a_confirmation() -> None:
    loop = FeedbackLoopConfig()
    assert calibrate(Evidence(rejections=1), "builtin", loop) < 0.7  # one person saying no holds it back
    assert calibrate(Evidence(successes=10, rejections=1), "builtin", loop) > 0.8
    assert calibrate(Evidence(), "learned", loop) < 0.7 < calibrate(Evidence(confirmations=1), "learned", loop)
    worked = Evidence(successes=8)
    assert calibrate(worked, "learned", loop) == pytest.approx(11 / 13, abs=1e-4)
    assert calibrate(Evidence(successes=8, rejections=2), "learned", loop) == pytest.approx(11 / 17, abs=1e-4)


def test_confidence_only_learns_from_what_the_configuration_allows() -> None:
    evidence = Evidence(successes=2, failures=6, confirmations=3, rejections=0)
    everything = calibrate(evidence, "builtin", FeedbackLoopConfig())
    no_outcomes = calibrate(evidence, "builtin", FeedbackLoopConfig(outcome_tracking_enabled=False))
    no_feedback = calibrate(evidence, "builtin", FeedbackLoopConfig(enabled=False))
    assert no_outcomes == pytest.approx((8 + 6) / (10 + 6), abs=1e-4)
    assert no_feedback == pytest.approx((8 + 2) / (10 + 8), abs=1e-4)
    assert everything == pytest.approx((8 + 2 + 6) / (10 + 8 + 6), abs=1e-4)
    heavier = calibrate(evidence, "builtin", FeedbackLoopConfig(human_feedback_weight=5.0))
    assert heavier > everything
