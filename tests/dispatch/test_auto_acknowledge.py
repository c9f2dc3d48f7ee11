"""Auto-acknowledge records who and why, tells nobody, and is decided again when the problem recurs more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from liberation_guardian.events import Severity, Status
from liberation_guardian.store.models import Decision, Incident
from tests.dispatch.conftest import Harness

RULES = """
decision_rules:
  auto_acknowledge:
    patterns: ["Rate limit exceeded.*temporary"]
    conditions:
      - frequency: occasional
"""


def test_an_auto_acknowledged_incident_is_re_triaged_when_it_becomes_frequent(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(RULES)
    h.event("Rate limit exceeded on search, temporary", severity=Severity.low, source="generic", kind="event")
    incident = h.incident("Rate limit exceeded on search, temporary")
    assert incident.status == "acknowledged" and incident.acknowledged_by == "guardian:rules"
    assert h.advance(0) == []  # nobody is disturbed

    for _ in range(9):  # within the hour: occasional, then frequent at the tenth
        h.event("Rate limit exceeded on search, temporary", severity=Severity.low, source="generic", kind="event")
    with h.sessions() as session:
        decisions = session.scalars(select(Decision).order_by(Decision.id)).all()
        assert [(d.transition, d.action) for d in decisions] == [
            ("opened", "auto_acknowledge"),
            ("recurred", "auto_acknowledge"),  # first_time -> occasional: still within the rule's condition
            ("recurred", "investigate"),  # occasional -> frequent: beyond it, a person looks
        ]
    assert h.incident("Rate limit exceeded on search, temporary").status == "open"
    [sent] = [s for s in h.advance(0) if s.channel == "slack"]
    assert sent.notification["transition"] == "recurred"


def test_a_person_s_acknowledgement_is_not_undone_by_recurrence(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory("")
    h.event("Disk almost full", severity=Severity.medium)
    h.acknowledge("Disk almost full")
    for _ in range(12):
        h.event("Disk almost full", severity=Severity.medium)
    assert h.incident("Disk almost full").status == "acknowledged"


def test_an_opsgenie_answer_about_our_alert_acknowledges_then_resolves_our_incident(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory("")
    h.event("Disk almost full", severity=Severity.high)
    incident_id = h.incident("Disk almost full").id
    alias = f"liberation-guardian-incident-{incident_id}"
    answer = {"alias": alias, "acknowledged": True, "username": "ana@example.com"}
    h.event("Acknowledged", source="opsgenie", kind="Acknowledge", extra=answer)
    incident = h.incident("Disk almost full")
    assert incident.status == "acknowledged" and incident.acknowledged_by == "opsgenie:ana@example.com"
    h.event("Closed", source="opsgenie", kind="Close", status=Status.resolved, extra={"alias": alias})
    assert h.incident("Disk almost full").status == "resolved"
    with h.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1


def test_re_sends_of_a_still_firing_alert_are_not_recurrences(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(RULES)
    started = h.clock() - timedelta(minutes=1)
    title = "Rate limit exceeded on search, temporary"
    for _ in range(20):  # Alertmanager's reminders: the same alert, the same startsAt
        h.event(title, severity=Severity.low, occurred_at=started)
        h.advance(120)
    incident = h.incident(title)
    assert (incident.status, incident.occurrences) == ("acknowledged", 1)
    h.event(title, severity=Severity.low, occurred_at=h.clock())  # it fired anew
    assert h.incident(title).occurrences == 2


def test_every_resolved_episode_is_kept_in_the_resolution_history(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory("")
    for _ in range(2):
        h.event("Disk almost full", severity=Severity.high, grouping_key="disk")
        h.resolve("Disk almost full", grouping_key="disk")
    with h.sessions() as session:
        from liberation_guardian.store.models import Resolution

        rows = session.scalars(select(Resolution).order_by(Resolution.id)).all()
        assert [(r.resolved_by, r.action, r.category) for r in rows] == [
            ("source:alertmanager", "investigate", "infrastructure"),
            ("source:alertmanager", "investigate", "infrastructure"),
        ]
        assert rows[0].transition_seq < rows[1].transition_seq
