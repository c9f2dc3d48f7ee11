"""Feedback given through the API is learned by the offline classifier the next time it catches up."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from liberation_guardian.events import Severity
from liberation_guardian.learn.examples import case_for
from liberation_guardian.store.db import make_engine, sessions, transaction
from liberation_guardian.store.models import Decision, Event
from liberation_guardian.triage.base import Action
from tests.e2e.conftest import SECRETS, Stack
from tests.triage.test_classify import TRAINING, classifier


def test_feedback_through_the_api_is_learned_on_sync(stack: Stack) -> None:
    headers = {"Content-Type": "application/json", "X-API-Key": SECRETS["GENERIC_API_KEY"]}
    body = {"title": "nightly export 9 wrote an empty file", "severity": "medium"}
    assert httpx.post(stack.url + "/webhook/generic", json=body, headers=headers).status_code == 202
    stack.server.wait_until(
        lambda: httpx.get(stack.url + "/api/decisions", headers=stack.auth).json()["total"] == 1, what="decision"
    )
    correction = {"verdict": "wrong", "action": "auto_fix", "severity": "low", "by": "ana"}
    answer = httpx.post(stack.url + "/api/incidents/1/feedback", json=correction, headers=stack.auth)
    assert answer.status_code == 200, answer.text

    database = stack.server.config.settings.core.database_url
    factory = sessions(make_engine(database))
    with transaction(factory) as session:
        event = session.scalars(select(Event)).one()
        assert session.scalars(select(Decision)).one().event_id == event.id  # the example comes from this event
        # The next event of the same kind, with another number in it.
        query = case_for(
            source=event.source,
            kind=event.kind,
            severity=Severity(event.severity),
            title="nightly export 12 wrote an empty file",
            message=event.message,
            environment=event.environment,
        )
    learning = classifier(threshold=0.3, weight=10.0)
    before = learning.decide(query)
    assert before is not None and before.action == Action.investigate
    for _ in range(4):  # each sync reads only what is new: the same correction is learned once
        with transaction(factory) as session:
            learning.sync(session)
    assert learning.model.trained_on == len(TRAINING) + 1
    assert learning.examples[-1].weight == 10.0 and learning.examples[-1].action == "auto_fix"
    after = learning.decide(query)
    assert after is not None and after.action == Action.auto_fix
    assert after.severity.value == "low"
