"""The similarity decider and the memory behind it, over a real pipeline and SQLite store.

Incidents are opened, resolved and corrected through the real stages and `record_feedback`;
a separate `IncidentMemory` then syncs from the same database, as a fresh process would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config import load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import Frequency, NormalizedEvent, Severity, Status
from liberation_guardian.knowledge.templates import tokenize
from liberation_guardian.learn.feedback import record_feedback
from liberation_guardian.learn.memory import IncidentMemory, Recollection
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Incident, Resolution, utcnow
from liberation_guardian.triage.base import Action, Case, Verdict
from liberation_guardian.triage.similar import Similar

STALLED = "Reconciliation batch {n} stalled on ledger-{n}"
STALLED_MESSAGE = "worker ledger-{n} waited {n}s for lock on ledger_rows"


@dataclass
class Pipeline:
    """The stages over a real SQLite file, fed generic events one at a time."""

    engine: Engine
    sessions: sessionmaker[Session]
    processor: Processor
    keys: dict[str, int] = field(default_factory=dict)

    def send(self, title: str, message: str = "", *, key: str, status: Status = Status.firing, **fields: Any) -> int:
        """Store one event and run the stages; returns the incident id."""
        fields.setdefault("severity", Severity.medium)
        event = NormalizedEvent(
            source="generic", kind="event", title=title, message=message, status=status, grouping_key=key, **fields
        )
        with transaction(self.sessions) as session:
            store(session, [Submission("generic", "application/json", "{}", [event])])
        while self.processor.run_once().processed:
            pass
        with self.sessions() as session:
            incident = session.scalar(select(Incident).where(Incident.title == title).order_by(Incident.id.desc()))
            assert incident is not None
            self.keys[key] = incident.id
            return incident.id

    def stalled(self, n: int, *, resolve: bool = False, **fields: Any) -> int:
        """An incident of one recurring, unknown problem, numbered n; resolved afterwards if asked."""
        title, message = STALLED.format(n=n), STALLED_MESSAGE.format(n=n)
        incident = self.send(title, message, key=f"stalled-{n}", **fields)
        if resolve:
            self.send(title, message, key=f"stalled-{n}", status=Status.resolved, **fields)
        return incident

    def feedback(
        self,
        incident_id: int,
        *,
        correct: bool = False,
        action: str | None = None,
        severity: str | None = None,
        category: str | None = None,
    ) -> None:
        """A person's verdict on the incident's latest decision."""
        with transaction(self.sessions) as session:
            incident = session.get(Incident, incident_id)
            assert incident is not None
            record_feedback(
                session,
                incident,
                correct=correct,
                action=action,
                severity=severity,
                category=category,
                author="ana",
                now=utcnow(),
            )

    def decision(self, incident_id: int) -> Decision:
        """The latest decision on an incident."""
        with self.sessions() as session:
            found = session.scalar(
                select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.id.desc())
            )
            assert found is not None
            return found

    def memory(self, **settings: Any) -> IncidentMemory:
        """A memory synced from the store, as a fresh process builds it."""
        memory = IncidentMemory(**settings)
        with transaction(self.sessions) as session:
            memory.sync(session)
        return memory


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    config = load_text("", {}, base_dir=tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'guardian.db'}")
    migrate(engine)
    factory = sessions(engine)
    policy = Policy(config)
    yield Pipeline(engine, factory, Processor(factory, build_stages(config, policy), dispatcher=policy.dispatcher))
    engine.dispose()


def case(title: str, message: str = "", **fields: Any) -> Case:
    values: dict[str, Any] = {
        "source": "generic",
        "kind": "event",
        "title": title,
        "message": message,
        "severity": Severity.medium,
        "category": "other",
        "transition": "opened",
        "frequency": Frequency.first_time,
        "user_impact": None,
        "occurrences": 1,
        "fix_attempts": 0,
    }
    values.update(fields)
    return Case(**values)


def stalled_case(n: int, **fields: Any) -> Case:
    return case(STALLED.format(n=n), STALLED_MESSAGE.format(n=n), **fields)


def similar(memory: IncidentMemory, threshold: float = 0.7) -> Similar:
    return Similar(memory, threshold=threshold, max_fix_attempts=3)


def test_corrected_incidents_decide_the_next_one_with_their_evidence(pipeline: Pipeline) -> None:
    first = [pipeline.stalled(n) for n in (101, 202, 303)]
    for incident in first:
        pipeline.feedback(incident, action="auto_acknowledge", category="database")
    fourth = pipeline.stalled(404)
    decision = pipeline.decision(fourth)
    assert decision.decided_by == "similarity"
    assert decision.action == "auto_acknowledge" and decision.category == "database"
    assert decision.severity == "medium"
    assert decision.confidence == pytest.approx(6 / 6.5, abs=0.01)  # three unanimous corrections of weight 2
    assert decision.rationale.startswith(f"Like incidents #{first[0]}, #{first[1]} and #{first[2]} (similarity 1.00)")
    assert "acknowledged quietly" in decision.rationale
    details = decision.details
    assert details["match"] == "exact" and details["template"].startswith("Reconciliation batch <num> stalled on")
    assert details["nearest"] == [{"incident_id": incident, "similarity": 1.0} for incident in reversed(first)]
    assert details["votes"] == {"auto_acknowledge": 6.0} and details["human_votes"] == {"auto_acknowledge": 6.0}


def test_resolved_episodes_vote_for_how_they_were_handled(pipeline: Pipeline) -> None:
    resolved = [pipeline.stalled(n, resolve=True) for n in (1, 2)]
    handled = {pipeline.decision(incident).action for incident in resolved}
    assert len(handled) == 1  # both were decided alike by the deciders after this one
    verdict = similar(pipeline.memory()).decide(stalled_case(3))
    assert verdict is not None and verdict.action == Action(handled.pop())
    assert verdict.details["support"] == 2.0 and verdict.details["human_votes"] == {}
    assert verdict.confidence == pytest.approx(0.8)


def test_thin_or_split_evidence_passes(pipeline: Pipeline) -> None:
    pipeline.stalled(1, resolve=True)
    assert similar(pipeline.memory()).decide(stalled_case(9)) is None  # one outcome is not enough
    split = [pipeline.stalled(n) for n in (2, 3, 4, 5)]
    pipeline.feedback(split[0], action="auto_acknowledge")
    pipeline.feedback(split[1], action="escalate")
    pipeline.feedback(split[2], action="escalate")
    # Weights: the resolution 1, corrections 2 each: escalate holds 4 of 7, short of two thirds.
    assert similar(pipeline.memory()).decide(stalled_case(9)) is None
    pipeline.feedback(split[3], action="escalate")
    verdict = similar(pipeline.memory()).decide(stalled_case(9))
    assert verdict is not None and verdict.action == Action.escalate
    assert verdict.details["agreement"] == pytest.approx(6 / 9, abs=0.01) and verdict.details["support"] == 9.0


def test_a_single_correction_is_enough_and_outranks_the_outcome(pipeline: Pipeline) -> None:
    incident = pipeline.stalled(1, resolve=True)
    pipeline.feedback(incident, action="escalate", severity="high")
    memory = pipeline.memory(human_weight=1.0)
    verdict = similar(memory).decide(stalled_case(2))
    assert verdict is not None and verdict.action == Action.escalate and verdict.severity == Severity.high
    # One vote for the incident: the person's, not also the resolution's.
    assert verdict.details["votes"] == {"escalate": 1.0} and verdict.details["support"] == 1.0


def test_a_wrong_verdict_keeps_what_it_did_not_correct(pipeline: Pipeline) -> None:
    incidents = [pipeline.stalled(n) for n in (1, 2)]
    decided = pipeline.decision(incidents[0])
    for incident in incidents:
        pipeline.feedback(incident, severity="high")
    verdict = similar(pipeline.memory()).decide(stalled_case(3))
    assert verdict is not None
    assert verdict.action == Action(decided.action)
    assert verdict.details["votes"] == {decided.action: 4.0}
    assert verdict.severity == Severity.high and verdict.category == decided.category


def test_history_never_talks_an_alert_down_or_acknowledges_a_critical_one(pipeline: Pipeline) -> None:
    for n in (1, 2, 3):
        pipeline.feedback(pipeline.stalled(n), action="auto_acknowledge", severity="low")
    decider = similar(pipeline.memory())
    quiet = decider.decide(stalled_case(4))
    assert quiet is not None and quiet.action == Action.auto_acknowledge and quiet.severity == Severity.medium
    high = decider.decide(stalled_case(5, severity=Severity.high))
    assert high is not None and high.severity == Severity.high
    critical = decider.decide(stalled_case(6, severity=Severity.critical))
    assert critical is not None and critical.action == Action.escalate and "never acknowledged" in critical.rationale


def test_quiet_handling_is_held_back_when_unsafe(pipeline: Pipeline) -> None:
    for n in (1, 2, 3):
        pipeline.feedback(pipeline.stalled(n), action="auto_acknowledge")
    memory = pipeline.memory()
    frequent = similar(memory).decide(stalled_case(4, frequency=Frequency.frequent))
    assert frequent is not None and frequent.action == Action.investigate and "frequent" in frequent.rationale
    strict = similar(memory, threshold=0.95).decide(stalled_case(4))
    assert strict is not None and strict.action == Action.investigate and "under the threshold" in strict.rationale
    for n in (5, 6, 7):
        pipeline.feedback(pipeline.stalled(n), action="auto_fix")
    fixes = similar(pipeline.memory()).decide(stalled_case(8, fix_attempts=3))
    assert fixes is None  # three auto_fix against three auto_acknowledge: no clear majority
    other = [pipeline.send(f"Nightly export {n} of tenant t-{n} failed", key=f"export-{n}") for n in (1, 2, 3)]
    for incident in other:
        pipeline.feedback(incident, action="auto_fix")
    decider = similar(pipeline.memory())
    exhausted = decider.decide(case("Nightly export 9 of tenant t-9 failed", fix_attempts=3))
    assert exhausted is not None and exhausted.action == Action.escalate and "3 fix attempts" in exhausted.rationale


def test_an_unseen_wording_uses_the_lexically_nearest_template(pipeline: Pipeline) -> None:
    for n in (1, 2, 3):
        pipeline.feedback(pipeline.stalled(n), action="auto_acknowledge")
    decider = similar(pipeline.memory(), threshold=0.5)
    # Two more words: another token count, so no template fits, but the words are nearly all the same.
    verdict = decider.decide(
        case(STALLED.format(n=7), STALLED_MESSAGE.format(n=7) + " since deploy", severity=Severity.low)
    )
    assert verdict is not None and verdict.details["match"] == "lexical"
    assert 0.8 <= verdict.details["similarity"] < 1.0
    assert verdict.action == Action.auto_acknowledge and "worded closest" in verdict.rationale
    assert decider.decide(case("Reconciliation report emailed to finance")) is None


def _answers(memory: IncidentMemory, texts: list[str]) -> list[Recollection | None]:
    return [memory.exact(tokenize(text)) or memory.nearest(tokenize(text)) for text in texts]


def test_sync_is_incremental_cheap_when_idle_and_a_rebuild_answers_the_same(pipeline: Pipeline) -> None:
    following = IncidentMemory()
    statements: list[str] = []
    event.listen(pipeline.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    texts = [f"{STALLED.format(n=n)}\n{STALLED_MESSAGE.format(n=n)}" for n in (50, 60)]
    texts.append("Nightly export 5 of tenant t-5 failed")
    for step in range(3):
        for n in (1, 2):
            incident = pipeline.stalled(step * 10 + n, resolve=step == 0)
            if step == 2:
                pipeline.feedback(incident, action="escalate")
        for status in (Status.firing, Status.resolved):
            pipeline.send(f"Nightly export {step} of tenant t-{step} failed", key=f"export-{step}", status=status)
        with transaction(pipeline.sessions) as session:
            following.sync(session)
    statements.clear()
    with transaction(pipeline.sessions) as session:
        following.sync(session)
    assert len(statements) == 1  # nothing new: one query of the tables' id bounds
    rebuilt = pipeline.memory()
    assert rebuilt.describe() == following.describe()
    assert _answers(rebuilt, texts) == _answers(following, texts)
    assert all(answer is not None for answer in _answers(rebuilt, texts[:2]))


def test_what_a_rolled_back_transaction_wrote_is_forgotten(pipeline: Pipeline) -> None:
    incidents = [pipeline.stalled(n) for n in (1, 2)]
    memory = pipeline.memory()
    with pytest.raises(RuntimeError), transaction(pipeline.sessions) as session:
        for incident in incidents:
            found = session.get(Incident, incident)
            assert found is not None
            record_feedback(session, found, correct=False, action="escalate", author="ana", now=utcnow())
        memory.sync(session)
        assert similar(memory).decide(stalled_case(3)) is not None  # seen while the transaction lasts
        raise RuntimeError("a later stage failed")
    with transaction(pipeline.sessions) as session:
        memory.sync(session)
    assert memory.rebuilds == 1
    assert similar(memory).decide(stalled_case(3)) is None
    assert memory.describe() == pipeline.memory().describe()


def test_purged_history_is_forgotten(pipeline: Pipeline) -> None:
    for n in (1, 2, 3):
        pipeline.stalled(n, resolve=True)
    memory = pipeline.memory()
    assert similar(memory).decide(stalled_case(4)) is not None
    with transaction(pipeline.sessions) as session:
        oldest = session.scalars(select(Resolution.id).order_by(Resolution.id).limit(2)).all()
        session.execute(delete(Resolution).where(Resolution.id.in_(oldest)))
    with transaction(pipeline.sessions) as session:
        memory.sync(session)
    assert memory.rebuilds == 1 and memory.voters == 1
    assert similar(memory).decide(stalled_case(4)) is None


def test_an_unsynced_memory_never_answers() -> None:
    verdict: Verdict | None = similar(IncidentMemory()).decide(stalled_case(1))
    assert verdict is None
