"""A pipeline over a real SQLite file with a clock the test moves, and the outbox it fills.

No channel is contacted: the dispatcher's product is the `deliveries` table (the
outbox), which is what these tests read. Time is a `Clock` the test advances, so group
waits, intervals, silences and escalation steps are checked to the second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config import LoadedConfig, load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.group.incidents import acknowledge
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Delivery, Incident

CHANNELS = """
integrations:
  notifications:
    slack: {webhook_url_env: SLACK_URL}
    webhook: {url_env: HOOK_URL}
    email: {smtp_host: 127.0.0.1, to: [ops@example.com], from_address: guardian@example.com}
    pagerduty: {routing_key_env: PD_KEY}
    sms: {account_sid_env: TWILIO_SID, auth_token_env: TWILIO_TOKEN, from_number: "+15005550006", to: ["+15005550001"]}
"""
ENV = {
    "SLACK_URL": "http://127.0.0.1:9/x",
    "HOOK_URL": "http://127.0.0.1:9/y",
    "TWILIO_SID": "AC1",
    "TWILIO_TOKEN": "t",
}
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock that moves only when told."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Sent:
    """One queued delivery, as the tests look at it."""

    channel: str
    text: str
    notification: dict[str, Any]

    @property
    def incident_ids(self) -> list[int]:
        items = self.notification.get("incidents") or []
        return [i["incident_id"] for i in items] or [self.notification["incident_id"]]


@dataclass
class Harness:
    """Sends events through the stages and runs the dispatcher's timer at the clock's time."""

    config: LoadedConfig
    sessions: sessionmaker[Session]
    clock: Clock
    policy: Policy
    processor: Processor
    seen: set[int] = field(default_factory=set)

    def event(self, title: str, **fields: Any) -> list[int]:
        """Store one event (alertmanager unless `source` says else) and run the stages over it."""
        fields.setdefault("source", "alertmanager")
        fields.setdefault("kind", "alert")
        fields.setdefault("severity", Severity.high)
        event = NormalizedEvent(title=title, **fields)
        with transaction(self.sessions) as session:
            [ids] = store(session, [Submission(event.source, "application/json", "{}", [event], self.clock())])
        while self.processor.run_once().processed:
            pass
        return ids

    def resolve(self, title: str, **fields: Any) -> None:
        """Send the resolution of an alert sent with `event`."""
        self.event(title, status=Status.resolved, **fields)

    def advance(self, seconds: float) -> list[Sent]:
        """Move the clock, fire due timers, and return what was queued meanwhile."""
        self.clock.now += timedelta(seconds=seconds)
        with transaction(self.sessions) as session:
            self.policy.dispatcher.run_due(session, self.clock())
        return self.sent()

    def sent(self) -> list[Sent]:
        """Deliveries queued since the last look (console excluded unless it is all there is)."""
        with self.sessions() as session:
            rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
            new = [row for row in rows if row.id not in self.seen]
            self.seen.update(row.id for row in new)
            return [Sent(row.channel, _text(row.notification), row.notification) for row in new]

    def incident(self, title: str) -> Incident:
        with self.sessions() as session:
            found = session.scalar(select(Incident).where(Incident.title == title))
            assert found is not None, title
            return found

    def acknowledge(self, title: str, who: str = "ana") -> None:
        with transaction(self.sessions) as session:
            incident = session.scalar(select(Incident).where(Incident.title == title))
            assert incident is not None and acknowledge(incident, who, self.clock())
            self.policy.record_acknowledgement(session, incident)


def _text(notification: dict[str, Any]) -> str:
    from liberation_guardian.act.notify.base import Notification

    return Notification.model_validate(notification).text()


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Callable[[str], Harness]]:
    """Build a `Harness` from the YAML of a `routing` section (channels are configured already)."""
    engines = []

    def build(routing_yaml: str, *, database: Path | None = None, clock: Clock | None = None) -> Harness:
        config = load_text(CHANNELS + routing_yaml, ENV, base_dir=tmp_path)
        engine = make_engine(f"sqlite:///{database or tmp_path / 'guardian.db'}")
        engines.append(engine)
        migrate(engine)
        factory = sessions(engine)
        clock = clock or Clock()
        policy = Policy(config, clock=clock)
        processor = Processor(factory, build_stages(config, policy), dispatcher=policy.dispatcher, clock=clock)
        return Harness(config, factory, clock, policy, processor)

    yield build
    for engine in engines:
        engine.dispose()
