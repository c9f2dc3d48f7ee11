"""What became of a pattern's decisions, and what people said of them, lands on the pattern as evidence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config import load_text
from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.group.incidents import acknowledge
from liberation_guardian.knowledge.pack import shipped_pack
from liberation_guardian.learn.confidence import Evidence, calibrate
from liberation_guardian.learn.feedback import record_feedback
from liberation_guardian.learn.patterns import seed_shipped
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Event, Incident, Pattern, Resolution, utcnow

THROTTLED = "botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling DescribeStacks"
MISSING_SCRIPT = 'npm ERR! Missing script: "build"'
MISSING_ENV = "KeyError: 'STRIPE_API_KEY'"


@dataclass
class Store:
    """The pipeline's stages over a real SQLite file, fed generic events one at a time."""

    engine: Engine
    sessions: sessionmaker[Session]
    policy: Policy
    processor: Processor
    learning: LearningConfig

    def send(
        self,
        title: str,
        *,
        key: str,
        status: Status = Status.firing,
        received_at: datetime | None = None,
        **fields: Any,
    ) -> int:
        """Store one event, run the stages, and return its incident's id."""
        event = NormalizedEvent(source="generic", kind="event", title=title, status=status, grouping_key=key, **fields)
        submission = Submission("generic", "application/json", "{}", [event], received_at=received_at or utcnow())
        with transaction(self.sessions) as session:
            [[event_id]] = store(session, [submission])
        while self.processor.run_once().processed:
            pass
        with self.sessions() as session:
            stored = session.get(Event, event_id)
            assert stored is not None and stored.incident_id is not None
            return stored.incident_id

    def acknowledge(self, incident_id: int, who: str = "api:ana") -> None:
        with transaction(self.sessions) as session:
            incident = session.get(Incident, incident_id)
            assert incident is not None and acknowledge(incident, who, utcnow())
            self.policy.record_acknowledgement(session, incident)

    def feedback(self, incident_id: int, *, correct: bool, author: str = "api:ana", **fields: str) -> None:
        with transaction(self.sessions) as session:
            incident = session.get(Incident, incident_id)
            assert incident is not None
            record_feedback(
                session, incident, correct=correct, author=author, now=utcnow(), learning=self.learning, **fields
            )

    def pattern(self, pattern_id: str) -> Pattern:
        with self.sessions() as session:
            row = session.get(Pattern, pattern_id)
            assert row is not None
            return row

    def decisions(self, incident_id: int) -> list[Decision]:
        with self.sessions() as session:
            return list(
                session.scalars(select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.id))
            )

    def resolutions(self, incident_id: int) -> list[Resolution]:
        with self.sessions() as session:
            return list(
                session.scalars(select(Resolution).where(Resolution.incident_id == incident_id).order_by(Resolution.id))
            )


def open_store(tmp_path: Path, yaml: str = "") -> Store:
    """A migrated, seeded database and the stages of a configuration."""
    config = load_text(yaml, {}, base_dir=tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'guardian.db'}")
    migrate(engine)
    factory = sessions(engine)
    with transaction(factory) as session:
        seed_shipped(session, config.settings.learning, utcnow())
    policy = Policy(config)
    processor = Processor(factory, build_stages(config, policy), dispatcher=policy.dispatcher)
    return Store(engine, factory, policy, processor, config.settings.learning)


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator[Store]:
    built = open_store(tmp_path)
    yield built
    built.engine.dispose()


def expected(learning: LearningConfig, origin: str = "builtin", **evidence: int) -> float:
    return calibrate(Evidence(**evidence), origin, learning.feedback_loop)


def test_the_shipped_pack_is_seeded_once_and_keeps_its_evidence(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    pack = shipped_pack()
    with guardian.sessions() as session:
        rows = session.scalars(select(Pattern)).all()
        assert len(rows) == len(pack) and {row.origin for row in rows} == {"builtin"}
        row = session.get(Pattern, "cloud.aws-throttling")
        assert row is not None and row.confidence == pytest.approx(0.8) and row.status == "active"
        assert row.provenance == {"pack": "cloud.yml", "version": pack.versions["cloud.yml"]}
        assert row.runbook.splitlines() == list(pack.get("cloud.aws-throttling").runbook)
    with transaction(guardian.sessions) as session:
        assert seed_shipped(session, guardian.learning, utcnow()) == 0  # nothing to do the second time
        row = session.get(Pattern, "cloud.aws-throttling")
        assert row is not None
        row.title, row.successes, row.rejections = "edited by hand", 4, 1
    heavier = load_text("learning:\n  feedback_loop:\n    human_feedback_weight: 4\n", {}, base_dir=tmp_path)
    with transaction(guardian.sessions) as session:
        assert seed_shipped(session, heavier.settings.learning, utcnow()) == 1
    row = guardian.pattern("cloud.aws-throttling")
    assert row.title == pack.get("cloud.aws-throttling").title  # the definition is the pack's again
    assert (row.successes, row.rejections) == (4, 1)  # the evidence is kept
    assert row.confidence == expected(heavier.settings.learning, successes=4, rejections=1)
    guardian.engine.dispose()


def test_a_quietly_handled_incident_resolved_is_a_success_and_its_return_a_failure(guardian: Store) -> None:
    incident = guardian.send(THROTTLED, key="throttle")
    [decision] = guardian.decisions(incident)
    assert (decision.action, decision.details["pattern_id"]) == ("auto_acknowledge", "cloud.aws-throttling")
    assert decision.confidence == pytest.approx(0.8)
    assert guardian.pattern("cloud.aws-throttling").occurrences == 1

    guardian.send(THROTTLED, key="throttle", status=Status.resolved)
    [resolution] = guardian.resolutions(incident)
    assert (resolution.pattern_id, resolution.outcome) == ("cloud.aws-throttling", "succeeded")
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.successes, row.failures) == (1, 0)
    assert row.confidence == expected(guardian.learning, successes=1) > 0.8

    guardian.send(THROTTLED, key="throttle")  # it is back: the quiet handling did not end it
    assert [r.outcome for r in guardian.resolutions(incident)] == ["recurred"]
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.occurrences, row.successes, row.failures) == (2, 0, 1)
    assert row.confidence == expected(guardian.learning, failures=1) < 0.8


def test_a_notification_a_person_acknowledges_is_a_success(guardian: Store) -> None:
    incident = guardian.send(MISSING_SCRIPT, key="npm")
    [decision] = guardian.decisions(incident)
    assert (decision.action, decision.details["pattern_id"]) == ("investigate", "ci.npm-missing-script")
    guardian.acknowledge(incident)
    row = guardian.pattern("ci.npm-missing-script")
    assert (row.occurrences, row.successes) == (1, 1)
    guardian.send(MISSING_SCRIPT, key="npm", status=Status.resolved)
    assert guardian.pattern("ci.npm-missing-script").successes == 1  # resolving an escalation proves nothing more
    assert [r.outcome for r in guardian.resolutions(incident)] == ["resolved"]


def test_an_auto_fixed_incident_that_gets_worse_is_a_fix_that_failed(guardian: Store) -> None:
    incident = guardian.send(MISSING_ENV, key="env", exception_type="KeyError")
    assert guardian.decisions(incident)[0].action == "auto_fix"
    guardian.send(MISSING_ENV, key="env", exception_type="KeyError", severity=Severity.high)
    assert [d.transition for d in guardian.decisions(incident)] == ["opened", "severity_raised"]
    row = guardian.pattern("python.env-var-missing")
    assert (row.occurrences, row.successes, row.failures) == (2, 0, 1)


def test_feedback_confirms_or_rejects_the_pattern_once_per_person(guardian: Store) -> None:
    incident = guardian.send(THROTTLED, key="throttle")
    guardian.feedback(incident, correct=True)
    guardian.feedback(incident, correct=True)  # saying it twice is not twice the evidence
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.confirmations, row.rejections) == (1, 0)
    guardian.feedback(incident, correct=False, action="escalate")  # ana changed her mind
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.confirmations, row.rejections) == (0, 1)
    guardian.feedback(incident, correct=False, author="cli:bo", severity="high")
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.confirmations, row.rejections) == (0, 2)
    assert row.confidence == expected(guardian.learning, rejections=2) == pytest.approx(8 / 14, abs=1e-4)

    unknown = guardian.send("Something nobody has seen before", key="unknown")
    before = guardian.pattern("cloud.aws-throttling").updated_at
    guardian.feedback(unknown, correct=False, action="escalate")  # not a pattern's decision: no pattern moves
    assert guardian.pattern("cloud.aws-throttling").updated_at == before


def test_the_next_decision_uses_the_confidence_people_gave_the_pattern(guardian: Store) -> None:
    first = guardian.send(THROTTLED, key="throttle-1")
    guardian.feedback(first, correct=False, action="escalate")
    second = guardian.send(THROTTLED, key="throttle-2")
    [decision] = guardian.decisions(second)
    row = guardian.pattern("cloud.aws-throttling")
    assert row.confidence < 0.7
    assert decision.action == "investigate" and "under the threshold" in decision.rationale
    assert decision.confidence == pytest.approx(row.confidence)


def test_learning_follows_the_configuration(tmp_path: Path) -> None:
    yaml = "learning:\n  feedback_loop:\n    enabled: false\n    outcome_tracking_enabled: false\n"
    guardian = open_store(tmp_path, yaml)
    incident = guardian.send(THROTTLED, key="throttle")
    guardian.feedback(incident, correct=False, action="escalate")
    guardian.send(THROTTLED, key="throttle", status=Status.resolved)
    guardian.send(THROTTLED, key="throttle")
    row = guardian.pattern("cloud.aws-throttling")
    assert (row.occurrences, row.successes, row.failures, row.confirmations, row.rejections) == (2, 0, 0, 0, 0)
    assert row.confidence == pytest.approx(0.8)
    assert [r.outcome for r in guardian.resolutions(incident)] == ["resolved"]
    guardian.engine.dispose()
