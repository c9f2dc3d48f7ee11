"""The knowledge-base decider gives a known problem its handling, and holds quiet handling back where unsafe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.events import Frequency, Severity
from liberation_guardian.learn.patterns import recalibrate, seed_shipped
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Pattern as PatternRow
from liberation_guardian.store.models import utcnow
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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'guardian.db'}")
    migrate(engine)
    factory = sessions(engine)
    with transaction(factory) as session:
        seed_shipped(session, LearningConfig(), utcnow())
    yield factory
    engine.dispose()


def _learned(status: str = "active", successes: int = 8) -> PatternRow:
    now = utcnow()
    row = PatternRow(
        id="learned.ledger-stalled",
        origin="learned",
        status=status,
        title="Ledger reconciliation stalls on a lock",
        match={"any": [r"\bReconciliation batch \d+ stalled on ledger"]},
        category="database",
        severity="medium",
        action="auto_acknowledge",
        runbook="Proposed from 3 incidents.\nCheck the lock holder.",
        tags=["learned"],
        successes=successes,
        provenance={},
        created_at=now,
        updated_at=now,
    )
    recalibrate(row, LearningConfig())
    return row


def _statements(factory: sessionmaker[Session]) -> list[str]:
    seen: list[str] = []
    event.listen(factory.kw["bind"], "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_sync_brings_in_learned_confidence_and_accepted_patterns(store: sessionmaker[Session]) -> None:
    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    stalled = case("Reconciliation batch 17 stalled on ledger-3", source="generic", kind="event")
    with transaction(store) as session:
        session.add(_learned())
        decider.sync(session)
    verdict = decider.decide(stalled)
    assert verdict is not None and verdict.action == Action.auto_acknowledge
    assert verdict.matched == "knowledge: learned.ledger-stalled" and verdict.confidence == pytest.approx(11 / 13, 1e-3)
    assert verdict.rationale.startswith("Known problem (learned pattern): Ledger reconciliation stalls on a lock")
    assert verdict.details["pattern_origin"] == "learned"

    index = decider.index
    with transaction(store) as session:
        row = session.get(PatternRow, "cloud.aws-throttling")
        assert row is not None
        row.rejections, row.updated_at = 3, utcnow()
        recalibrate(row, LearningConfig())
        decider.sync(session)
    assert decider.index is index  # only a confidence changed: the index stays
    throttled = decider.decide(case(THROTTLED))
    assert throttled is not None and throttled.action == Action.investigate
    assert throttled.confidence == pytest.approx(8 / 16)

    with transaction(store) as session:
        row = session.get(PatternRow, "learned.ledger-stalled")
        assert row is not None
        row.status, row.updated_at = "rejected", utcnow()
        decider.sync(session)
    assert decider.index is not index and decider.decide(stalled) is None


def test_a_proposal_does_not_decide_and_a_shipped_pattern_can_be_switched_off(store: sessionmaker[Session]) -> None:
    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    with transaction(store) as session:
        session.add(_learned(status="proposed"))
        row = session.get(PatternRow, "cloud.aws-throttling")
        assert row is not None
        row.status = "rejected"
        decider.sync(session)
    assert decider.decide(case("Reconciliation batch 17 stalled on ledger-3")) is None
    assert decider.decide(case(THROTTLED)) is None
    assert decider.decide(case(MISSING_ENV, exception_type="KeyError")) is not None


def test_sync_is_one_query_when_nothing_changed(store: sessionmaker[Session]) -> None:
    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    with store() as session:
        decider.sync(session)
        assert len(decider.confidence) == len(shipped_index().patterns)
        statements = _statements(store)
        decider.sync(session)
        decider.sync(session)
    assert len(statements) == 2 and all("max(patterns.updated_at)" in sql for sql in statements)


def test_a_stored_pattern_that_cannot_decide_is_left_out(store: sessionmaker[Session]) -> None:
    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    broken = _learned()
    broken.match = {"any": ["(unclosed"]}
    with transaction(store) as session:
        session.add(broken)
        decider.sync(session)
    assert decider.decide(case("(unclosed")) is None
    assert decider.index is decider.shipped
