"""The knowledge-base decider gives a known problem its handling, and holds quiet handling back where unsafe."""

from __future__ import annotations

import pytest

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.triage.base import Action, Case
from liberation_guardian.triage.known import KnownPattern, shipped_index

THROTTLED = "botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling DescribeStacks"
MISSING_ENV = "KeyError: 'STRIPE_API_KEY'"


def case(title: str, **fields: object) -> Case:
    values: dict[str, object] = {
        "source": "sentry",
        "kind": "error",
        "title": title,
        "message": "",
        "severity": Severity.medium,
        "category": "other",
        "transition": "opened",
        "frequency": Frequency.first_time,
        "user_impact": None,
        "occurrences": 1,
        "fix_attempts": 0,
    }
    values.update(fields)
    return Case(**values)  # type: ignore[arg-type]


@pytest.fixture
def decider() -> KnownPattern:
    return KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)


def test_a_known_problem_gets_its_action_category_and_runbook(decider: KnownPattern) -> None:
    verdict = decider.decide(case(MISSING_ENV, exception_type="KeyError"))
    assert verdict is not None
    assert (verdict.action, verdict.category, verdict.decided_by) == (Action.auto_fix, "configuration", "knowledge")
    assert verdict.matched == "knowledge: python.env-var-missing"
    assert verdict.details["fix_template"] == "add-env-var" and len(verdict.details["runbook"]) >= 3
    assert verdict.rationale.startswith("Known problem: A required environment variable is not set")


def test_an_unknown_problem_is_passed_on(decider: KnownPattern) -> None:
    assert decider.decide(case("Something nobody has seen before happened")) is None


def test_a_pattern_never_lowers_the_tool_s_severity(decider: KnownPattern) -> None:
    verdict = decider.decide(case(THROTTLED, severity=Severity.high))
    assert verdict is not None and verdict.severity == Severity.high


def test_quiet_handling_is_held_back_where_unsafe() -> None:
    strict = KnownPattern(shipped_index(), threshold=0.9, max_fix_attempts=3)
    low = strict.decide(case(THROTTLED))
    assert low is not None and low.action == Action.investigate and "under the threshold" in low.rationale

    lenient = KnownPattern(shipped_index(), threshold=0.5, max_fix_attempts=3)
    assert (quiet := lenient.decide(case(THROTTLED))) is not None and quiet.action == Action.auto_acknowledge
    frequent = lenient.decide(case(THROTTLED, frequency=Frequency.frequent))
    assert frequent is not None and frequent.action == Action.investigate
    exhausted = lenient.decide(case(MISSING_ENV, exception_type="KeyError", fix_attempts=3))
    assert exhausted is not None and exhausted.action == Action.escalate
