"""A person's acknowledgement reported by the tool acknowledges the incident; nobody is paged for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from liberation_guardian.events import Severity
from liberation_guardian.store.models import Decision
from tests.dispatch.conftest import Harness

PAGE = "checkout-api: 5xx rate above 5% for 10 minutes"


def from_pagerduty(**extra: Any) -> dict[str, Any]:
    return {"source": "pagerduty", "kind": "incident.acknowledged", "grouping_key": "Q2K9X7NM4HB1C", "extra": extra}


def decisions(h: Harness) -> int:
    with h.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Decision)) or 0)


def test_an_acknowledgement_in_the_tool_acknowledges_the_incident(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory("")
    h.event(PAGE, severity=Severity.critical, **{**from_pagerduty(), "kind": "incident.triggered"})
    assert [s.channel for s in h.advance(0)]  # the page went out
    assert decisions(h) == 1
    h.event(PAGE, severity=Severity.critical, **from_pagerduty(acknowledged=True, agent="Dana Ops"))
    incident = h.incident(PAGE)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "pagerduty:Dana Ops")
    assert decisions(h) == 1  # no second decision for the acknowledgement
    assert all(s.notification.get("transition") != "opened" for s in h.advance(0))


def test_an_acknowledgement_heard_first_opens_the_incident_already_owned(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory("")
    h.event(PAGE, severity=Severity.critical, **from_pagerduty(acknowledged=True, username="dana@example.com"))
    incident = h.incident(PAGE)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "pagerduty:dana@example.com")
    assert decisions(h) == 0
    assert h.advance(0) == []  # nobody is paged for a problem a person already owns
