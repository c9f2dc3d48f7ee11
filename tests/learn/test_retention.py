"""The retention purge deletes old episodes with everything of theirs, and keeps open incidents and useful patterns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from liberation_guardian.config import load_text
from liberation_guardian.events import NormalizedEvent, Status
from liberation_guardian.learn.retention import purge
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import (
    Base,
    Decision,
    Delivery,
    Event,
    Feedback,
    Incident,
    Pattern,
    Payload,
    Resolution,
    utcnow,
)
from tests.fixtures.server import running_server
from tests.learn.test_outcomes import THROTTLED, Store, open_store

DAY = timedelta(days=1)


def _count(guardian: Store, model: type[Base], *where: object) -> int:
    with guardian.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def _pattern(pattern_id: str, status: str, age: timedelta) -> Pattern:
    when = utcnow() - age
    return Pattern(
        id=pattern_id,
        origin="learned",
        status=status,
        title=pattern_id,
        match={"any": [r"\bnever matches anything here\b"]},
        category="other",
        severity="low",
        action="investigate",
        runbook="",
        tags=[],
        provenance={},
        created_at=when,
        updated_at=when,
    )


def test_old_episodes_go_with_everything_of_theirs(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    now = utcnow()
    old, recent = now - 400 * DAY, now - 10 * DAY
    gone = [guardian.send(f"Old problem {n}", key=f"old-{n}", received_at=old) for n in range(3)]
    for n in range(3):
        guardian.send(f"Old problem {n}", key=f"old-{n}", status=Status.resolved, received_at=old + DAY)
    guardian.feedback(gone[0], correct=True)
    still_open = guardian.send("Old but still open", key="open", received_at=old)
    fresh = guardian.send("Resolved last week", key="fresh", received_at=recent)
    guardian.send("Resolved last week", key="fresh", status=Status.resolved, received_at=recent + DAY)
    back = guardian.send("Came back", key="back", received_at=old)
    guardian.send("Came back", key="back", status=Status.resolved, received_at=old + DAY)
    guardian.send("Came back", key="back", received_at=recent)  # reopened: its old resolution is history
    # One payload carrying an event of an old episode and one of an open incident: the payload must stay.
    shared = [
        NormalizedEvent(source="generic", kind="event", title="Shared old", grouping_key="shared-old"),
        NormalizedEvent(source="generic", kind="event", title="Shared open", grouping_key="shared-open"),
    ]
    with transaction(guardian.sessions) as session:
        store(session, [Submission("generic", "application/json", "[]", shared, received_at=old)])
    guardian.send("Shared old", key="shared-old", status=Status.resolved, received_at=old + DAY)
    with transaction(guardian.sessions) as session:
        session.add_all(
            [
                _pattern("learned.stale-proposal", "proposed", 400 * DAY),
                _pattern("learned.stale-rejected", "rejected", 400 * DAY),
                _pattern("learned.recent-rejected", "rejected", 3 * DAY),
                _pattern("learned.old-but-active", "active", 400 * DAY),
            ]
        )
    assert _count(guardian, Delivery, Delivery.incident_id.in_(gone)) > 0

    deleted = purge(guardian.sessions, 365, batch=2)

    assert deleted["incidents"] == 4 and deleted["patterns"] == 1  # the stale proposal; rejections stay
    assert deleted["feedback"] == 1 and deleted["resolutions"] == 5  # four old episodes and the reopened one's
    assert deleted["events"] == 8 and deleted["payloads"] == 7  # the shared payload is not among them
    with guardian.sessions() as session:
        left = set(session.scalars(select(Incident.title)))
        assert left == {"Old but still open", "Resolved last week", "Came back", "Shared open"}
        assert session.scalar(select(func.count()).select_from(Resolution).where(Resolution.incident_id == back)) == 0
        assert session.scalar(select(func.count()).select_from(Resolution).where(Resolution.incident_id == fresh)) == 1
        mine = select(Pattern.id).where(Pattern.id.like("learned.%-%"))
        kept = {"learned.stale-rejected", "learned.recent-rejected", "learned.old-but-active"}
        assert set(session.scalars(mine)) == kept
        assert _count(guardian, Pattern, Pattern.origin == "builtin") > 200
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
    for model, column in (
        (Event, Event.incident_id),
        (Decision, Decision.incident_id),
        (Feedback, Feedback.incident_id),
    ):
        assert _count(guardian, model, column.in_(gone)) == 0
    assert _count(guardian, Delivery, Delivery.incident_id.in_(gone)) == 0
    assert _count(guardian, Event, Event.incident_id == still_open) == 1
    # The old episodes' payloads went; the shared one stayed for the open incident's event.
    with guardian.sessions() as session:
        used = set(session.scalars(select(Event.payload_id)))
        assert set(session.scalars(select(Payload.id))) == used
        assert session.scalar(select(func.count()).select_from(Payload).where(Payload.body == "[]")) == 1
    assert purge(guardian.sessions, 365) == {}
    guardian.engine.dispose()


def test_the_service_purges_on_its_own(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    old = utcnow() - 40 * DAY
    gone = guardian.send(THROTTLED, key="throttle", received_at=old)
    guardian.send(THROTTLED, key="throttle", status=Status.resolved, received_at=old + DAY)
    kept = guardian.send("Still open", key="open", received_at=old)
    guardian.engine.dispose()
    yaml = f"""\
core:
  database_url: "sqlite:///{tmp_path / "guardian.db"}"
  admin_token_env: TOKEN
learning:
  knowledge_base:
    retention_days: 30
"""
    config = load_text(yaml, {"TOKEN": "t"}, base_dir=tmp_path)
    auth = {"Authorization": "Bearer t"}
    with running_server(config) as server:
        server.wait_until(
            lambda: httpx.get(f"{server.url}/api/incidents/{gone}", headers=auth).status_code == 404,
            what="the hourly purge at start-up",
        )
        assert httpx.get(f"{server.url}/api/incidents/{kept}", headers=auth).status_code == 200
        # Evidence outlives the history it came from.
        pattern = httpx.get(f"{server.url}/api/patterns/cloud.aws-throttling", headers=auth).json()
        assert pattern["evidence"]["successes"] == 1


def test_a_retention_of_less_than_a_day_is_refused(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    try:
        purge(guardian.sessions, 0)
    except ValueError as exc:
        assert "at least 1" in str(exc)
    else:
        raise AssertionError("a zero retention was accepted")
    finally:
        guardian.engine.dispose()
