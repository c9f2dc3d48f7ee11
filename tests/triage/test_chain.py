"""The decision tree: critical escalates at once, then the escalate, auto_fix and auto_acknowledge rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from liberation_guardian.config import load_text
from liberation_guardian.events import Frequency, Severity, UserImpact
from liberation_guardian.pipeline.build import build_chain
from liberation_guardian.triage.base import Action, Case, TriageChain
from tests.fixtures.spec import spec_example_config


@pytest.fixture(scope="module")
def chain() -> TriageChain:
    return build_chain(load_text(spec_example_config(), {}, base_dir=Path(".")))


def case(title: str, message: str = "", **fields: object) -> Case:
    values: dict[str, object] = {
        "source": "sentry",
        "kind": "error",
        "title": title,
        "message": message,
        "severity": Severity.high,
        "category": "application",
        "transition": "opened",
        "frequency": Frequency.first_time,
        "user_impact": None,
        "occurrences": 1,
        "fix_attempts": 0,
    }
    values.update(fields)
    return Case(**values)  # type: ignore[arg-type]


def test_critical_escalates_before_any_rule(chain: TriageChain) -> None:
    # Even text an auto_acknowledge pattern matches cannot silence a critical event.
    verdict = chain.decide(case("TypeError: Cannot read property 'x' of null", severity=Severity.critical))
    assert verdict.action == Action.escalate
    assert verdict.decided_by == "severity"
    assert verdict.confidence == 1.0
    assert "critical" in verdict.rationale


def test_escalate_patterns_always_escalate(chain: TriageChain) -> None:
    verdict = chain.decide(case("Database connection failed: too many clients", severity=Severity.low))
    assert verdict.action == Action.escalate
    assert verdict.matched == "decision_rules.escalate: Database connection failed"
    assert verdict.decided_by == "rules"


def test_auto_fix_records_its_conditions(chain: TriageChain) -> None:
    verdict = chain.decide(case("Missing environment variable STRIPE_KEY", severity=Severity.medium))
    assert verdict.action == Action.auto_fix
    assert verdict.confidence >= 0.9
    assert verdict.details == {
        "confidence_threshold": 0.9,
        "max_fix_attempts": 3,
        "require_tests": True,
        "fix_attempts": 0,
    }
    assert "fix is proposed" in verdict.rationale


def test_an_auto_fix_rule_below_its_confidence_threshold_does_not_decide(chain: TriageChain) -> None:
    # Matching only in the message body gives 0.85, under the rule's 0.9 threshold: the rule passes, and
    # the later deciders answer under their own threshold (learning.knowledge_base.pattern_confidence_threshold).
    worker = case("Worker crashed", "Missing environment variable STRIPE_KEY")
    [rules] = [decider for decider in chain.deciders if decider.name == "rules"]
    assert rules.decide(worker) is None
    verdict = chain.decide(worker)
    assert verdict.decided_by != "rules"
    assert verdict.action != Action.auto_fix or verdict.confidence >= 0.7


def test_auto_fix_gives_way_to_a_human_after_max_attempts(chain: TriageChain) -> None:
    verdict = chain.decide(case("Missing environment variable STRIPE_KEY", fix_attempts=3))
    assert verdict.action == Action.escalate
    assert "max_fix_attempts" in verdict.rationale


@pytest.mark.parametrize(
    ("frequency", "impact", "expected"),
    [
        (Frequency.first_time, None, Action.auto_acknowledge),
        (Frequency.occasional, UserImpact.single_user, Action.auto_acknowledge),
        (Frequency.occasional, UserImpact.none, Action.auto_acknowledge),
        (Frequency.frequent, UserImpact.single_user, Action.investigate),
        (Frequency.occasional, UserImpact.multiple_users, Action.investigate),
    ],
)
def test_auto_acknowledge_respects_frequency_and_user_impact(
    chain: TriageChain, frequency: Frequency, impact: UserImpact | None, expected: Action
) -> None:
    verdict = chain.decide(
        case("TypeError: Cannot read property 'name' of null", frequency=frequency, user_impact=impact)
    )
    assert verdict.action == expected


def test_a_new_bug_is_investigated_at_its_severity(chain: TriageChain) -> None:
    verdict = chain.decide(case("ZeroDivisionError: division by zero", severity=Severity.medium))
    assert verdict.action == Action.investigate
    assert verdict.severity == Severity.medium
    assert verdict.decided_by == "classifier"
    assert verdict.rationale


def test_what_nothing_recognizes_is_investigated_by_the_fallback(chain: TriageChain) -> None:
    verdict = chain.deciders[-1].decide(case("qwzx frobnicator vexed", severity=Severity.low))
    assert verdict is not None and verdict.action == Action.investigate and verdict.decided_by == "fallback"
    assert verdict.severity == Severity.low


def test_an_informational_event_is_acknowledged_quietly(chain: TriageChain) -> None:
    verdict = chain.decide(case("Deployment 2026.11.27-1 finished", severity=Severity.info))
    assert (verdict.action, verdict.decided_by) == (Action.auto_acknowledge, "informational")


def test_patterns_match_case_insensitively(chain: TriageChain) -> None:
    assert chain.decide(case("SECURITY VIOLATION detected in upload")).action == Action.escalate


def test_a_chain_asks_deciders_in_order_and_new_deciders_plug_in() -> None:
    class Always:
        name = "always"

        def __init__(self, action: Action) -> None:
            self.action = action

        def decide(self, c: Case):  # type: ignore[no-untyped-def]
            from liberation_guardian.triage.base import Verdict

            return Verdict(self.action, c.severity, c.category, 0.7, self.name, "because")

    class Never:
        name = "never"

        def decide(self, c: Case) -> None:
            return None

    chain = TriageChain([Never(), Always(Action.auto_fix), Always(Action.escalate)])
    assert chain.decide(case("x")).action == Action.auto_fix
    with pytest.raises(RuntimeError, match="must always answer"):
        TriageChain([Never()]).decide(case("x"))
