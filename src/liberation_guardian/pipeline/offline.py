"""Run payloads through the whole pipeline without a server and without notifying anyone.

Used by `triage` (one payload, answer on stdout) and `replay` (many payloads, a summary).
Payloads are verified by nobody (they come from a local file) but parsed and stored
exactly as the webhook route would, then processed by the same stages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config import LoadedConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.errors import SourceError
from liberation_guardian.learn.patterns import seed_playbooks, seed_shipped
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.sources.base import Source
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Event, Incident, utcnow


@dataclass
class Summary:
    """What a replay did: counts, decisions per action, and the payloads refused with why."""

    payloads: int = 0
    events: int = 0
    incidents: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "payloads": self.payloads,
            "events": self.events,
            "incidents": self.incidents,
            "decisions": dict(sorted(self.decisions.items())),
            "rejected": [{"file": name, "reason": reason} for name, reason in self.rejected],
        }


class OfflineRun:
    """A database (temporary or given) with the pipeline's stages, fed from files."""

    def __init__(self, config: LoadedConfig, database_url: str) -> None:
        self.config = config
        self.engine = make_engine(database_url)
        migrate(self.engine)
        self.sessions: sessionmaker[Session] = sessions(self.engine)
        with transaction(self.sessions) as session:
            seed_shipped(session, config.settings.learning, utcnow())
            seed_playbooks(session, utcnow())
        # Simulated time: `play_forward` moves it from timer to timer instead of waiting.
        self.start = utcnow()
        self.now = self.start
        self.policy = Policy(config, clock=self.clock)
        self.processor = Processor(
            self.sessions, build_stages(config, self.policy), dispatcher=self.policy.dispatcher, clock=self.clock
        )

    def clock(self) -> datetime:
        """The run's simulated time."""
        return self.now

    def play_forward(self, horizon: timedelta) -> None:
        """Fire every group and escalation timer due within `horizon` of the start, in time order."""
        dispatcher = self.policy.dispatcher
        end = self.start + horizon
        while True:
            with self.sessions() as session:
                due = dispatcher.next_due(session)
            if due is None or due > end:
                return
            self.now = max(self.now, due)
            with transaction(self.sessions) as session:
                dispatcher.run_due(session, self.now)

    def feed(self, source: Source, path: Path, body: bytes) -> list[int]:
        """Parse and store one payload; raises `SourceError` when the source refuses it."""
        headers = {"content-type": "application/json"}
        body = source.redact(headers, body)
        events = source.parse(headers, body)
        submission = Submission(source.name, "application/json", body.decode("utf-8", errors="replace"), events)
        with transaction(self.sessions) as session:
            return store(session, [submission], self.config.settings.core.environment)[0]

    def process(self) -> None:
        """Process every stored event."""
        while self.processor.run_once().processed:
            pass

    def decisions_for(self, event_ids: list[int]) -> list[Decision]:
        """The decisions caused by these events, in event order."""
        with self.sessions() as session:
            return list(
                session.scalars(select(Decision).where(Decision.event_id.in_(event_ids)).order_by(Decision.event_id))
            )

    def summarize(self, summary: Summary) -> Summary:
        """Fill the counts of a summary from the database."""
        with self.sessions() as session:
            summary.events = int(session.scalar(select(func.count()).select_from(Event)) or 0)
            summary.incidents = int(session.scalar(select(func.count()).select_from(Incident)) or 0)
            rows = session.execute(select(Decision.action, func.count()).group_by(Decision.action)).all()
            summary.decisions = Counter({str(action): int(count) for action, count in rows})
        return summary

    def close(self) -> None:
        """Release the database."""
        self.engine.dispose()


def replay(run: OfflineRun, items: list[tuple[Source, Path]]) -> Summary:
    """Feed every file to its source, process everything, and summarize."""
    summary = Summary()
    for source, path in items:
        summary.payloads += 1
        try:
            run.feed(source, path, path.read_bytes())
        except SourceError as exc:
            summary.rejected.append((str(path), f"{exc.status}: {exc.reason}"))
        except OSError as exc:
            summary.rejected.append((str(path), f"cannot read: {exc.strerror}"))
    run.process()
    return run.summarize(summary)
