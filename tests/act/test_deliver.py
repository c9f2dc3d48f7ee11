"""The delivery stage: a channel's rate limit holds messages back without failing them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.act.deliver import DELIVERED, PENDING, Deliverer
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.webhook import WebhookChannel, WebhookConfig
from liberation_guardian.config.schema import DeliveryConfig
from liberation_guardian.events import Severity
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Delivery, Incident, utcnow
from tests.fixtures.recorder import Recorder


@pytest.fixture
def database(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    migrate(engine)
    yield sessions(engine)
    engine.dispose()


def queue(factory: sessionmaker[Session], count: int) -> None:
    with transaction(factory) as session:
        incident = Incident(fingerprint="f", status="open", severity="high", source="x", kind="alert", title="t")
        session.add(incident)
        session.flush()
        for n in range(count):
            note = Notification(
                idempotency_key=f"k{n}",
                incident_id=incident.id,
                transition="opened",
                action="investigate",
                severity=Severity.high,
                title=f"message {n}",
                source="x",
            )
            session.add(
                Delivery(
                    incident_id=incident.id,
                    channel="webhook",
                    idempotency_key=f"k{n}",
                    transition="opened",
                    notification=note.model_dump(mode="json"),
                )
            )


def test_a_rate_limited_channel_sends_its_share_and_holds_the_rest(
    database: sessionmaker[Session], recorder: Recorder
) -> None:
    config = WebhookConfig(url=recorder.url + "/hook", rate_limit_per_minute=2)
    deliverer = Deliverer("webhook", WebhookChannel(config, {}), database, DeliveryConfig())
    queue(database, 5)

    assert deliverer.run_once() == 2
    assert deliverer.run_once() == 0  # the rest wait for room in the window
    assert [r.json["title"] for r in recorder.wait_for(2)] == ["message 0", "message 1"]
    with database() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [r.status for r in rows] == [DELIVERED, DELIVERED, PENDING, PENDING, PENDING]
        held = rows[2:]
        assert all(r.attempts == 0 for r in held)  # holding back is not a failed attempt
        assert all(
            utcnow() + timedelta(seconds=50) < r.next_attempt_at <= utcnow() + timedelta(seconds=61) for r in held
        )
    due_in = deliverer.next_due_in()
    assert due_in is not None and 50 < due_in <= 61


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server
