"""A real SQLite store with the real stages up to the analysis stage, fed normalized events at chosen times."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.agents.stage import AnalysisStage
from liberation_guardian.config import LoadedConfig, load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import NormalizedEvent, Severity
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.pipeline.stages import DecideStage, EnrichStage, GroupStage, Stage, TriageStage
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Event, Recommendation
from liberation_guardian.triage.base import Decider, TriageChain
from liberation_guardian.triage.fallback import Investigate
from liberation_guardian.triage.known import KnownPattern, shipped_index
from liberation_guardian.triage.rules import ConfigRules
from liberation_guardian.triage.severity import CriticalEscalation

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass
class Guardian:
    """Stores events received at given times and runs the stages over them."""

    config: LoadedConfig
    sessions: sessionmaker[Session]
    processor: Processor
    policy: Policy

    def receive(self, minutes_ago: float = 0, **fields: Any) -> int:
        """Store one event received `minutes_ago` before NOW; returns its id."""
        values: dict[str, Any] = {"source": "sentry", "kind": "error", "severity": Severity.high, **fields}
        event = NormalizedEvent(**values)
        at = NOW - timedelta(minutes=minutes_ago)
        submission = Submission(event.source, "application/json", "{}", [event], received_at=at)
        with transaction(self.sessions) as session:
            return store(session, [submission])[0][0]

    def process(self) -> None:
        """Run the stages over everything stored."""
        while self.processor.run_once().processed:
            pass

    def incident_of(self, event_id: int) -> int:
        """The incident an event was grouped into."""
        with self.sessions() as session:
            event = session.get(Event, event_id)
            assert event is not None and event.incident_id is not None
            return event.incident_id

    def recommendations(self, event_id: int) -> list[Recommendation]:
        """The recommendations of the event's incident, oldest first."""
        incident_id = self.incident_of(event_id)
        with self.sessions() as session:
            query = select(Recommendation).where(Recommendation.incident_id == incident_id)
            return list(session.scalars(query.order_by(Recommendation.id)))

    def advice(self, event_id: int, agent: str) -> Recommendation:
        """The one recommendation of `agent` for the event's incident."""
        found = [r for r in self.recommendations(event_id) if r.agent == agent]
        assert len(found) == 1, [(r.agent, r.kind) for r in self.recommendations(event_id)]
        return found[0]


def stages(config: LoadedConfig, policy: Policy, extra: Sequence[Decider] = ()) -> list[Stage]:
    """The pipeline's stages with the shipped offline deciders (and `extra` before the last resort)."""
    settings = config.settings
    chain = TriageChain(
        [
            CriticalEscalation(),
            ConfigRules(settings.decision_rules),
            KnownPattern(
                shipped_index(),
                threshold=settings.learning.knowledge_base.pattern_confidence_threshold,
                max_fix_attempts=settings.decision_rules.auto_fix.conditions.max_fix_attempts,
            ),
            *extra,
            Investigate(),
        ]
    )
    return [
        GroupStage(settings.grouping),
        EnrichStage(),
        TriageStage(chain),
        DecideStage(policy),
        AnalysisStage.from_config(config),
    ]


def open_guardian(tmp_path: Path, yaml_text: str = "", deciders: Sequence[Decider] = ()) -> Guardian:
    """A guardian on a fresh database under `tmp_path`, with `deciders` before the chain's last resort."""
    config = load_text(f"core:\n  database_url: sqlite:///{tmp_path}/g.db\n{yaml_text}", {}, base_dir=tmp_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    factory = sessions(engine)
    policy = Policy(config, clock=lambda: NOW)
    return Guardian(config, factory, Processor(factory, stages(config, policy, deciders), clock=lambda: NOW), policy)


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator[Guardian]:
    found = open_guardian(tmp_path)
    yield found
    engine = found.sessions.kw["bind"]
    engine.dispose()
