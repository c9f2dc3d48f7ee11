"""Silences and inhibition are honoured before anything is sent, and released when they end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from liberation_guardian.dispatch import silences
from liberation_guardian.dispatch.matchers import Matcher
from liberation_guardian.events import Severity
from liberation_guardian.store.db import transaction
from tests.dispatch.conftest import Harness

TEAM = """
routing:
  route:
    receiver: team
    group_wait: 0s
    group_interval: 1m
  receivers:
    team: {channels: [slack]}
"""

NODES = """
routing:
  route:
    receiver: team
    group_wait: 0s
    group_interval: 1m
  receivers:
    team: {channels: [slack]}
  inhibit_rules:
    - source_matchers: ['alertname="NodeDown"']
      target_matchers: ['alertname=~"Pod.*"']
      equal: [node]
"""


def silence(h: Harness, *matchers: str, minutes: float, starts_in: float = 0) -> str:
    with transaction(h.sessions) as session:
        start = h.clock() + timedelta(minutes=starts_in)
        row = silences.create(
            session,
            [Matcher.parse(m) for m in matchers],
            start,
            start + timedelta(minutes=minutes),
            "ana",
            "deploy window",
            h.clock(),
        )
        return row.id


def test_a_silenced_incident_is_held_and_sent_when_the_silence_ends(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TEAM)
    silence_id = silence(h, 'service="payments"', minutes=30)
    h.event("Latency high on /pay", service="payments")
    h.event("Disk almost full", service="search")
    [sent] = h.advance(0)
    assert sent.notification["title"] == "Disk almost full"
    with h.sessions() as session:
        from liberation_guardian.store.models import GroupMember

        reasons = [m.suppressed for m in session.query(GroupMember).all() if m.suppressed]
    assert reasons and reasons[0].startswith(f"silenced by {silence_id} until ")
    assert h.advance(29 * 60) == []
    [late] = h.advance(60)
    assert late.notification["title"] == "Latency high on /pay"


def test_an_incident_resolved_during_its_silence_is_never_sent(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TEAM)
    silence(h, 'service="payments"', minutes=30)
    h.event("Latency high on /pay", service="payments", grouping_key="lat")
    h.advance(60)
    h.resolve("Latency high on /pay", service="payments", grouping_key="lat")
    assert h.advance(3600) == []


def test_a_pending_silence_mutes_nothing_until_it_starts(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TEAM)
    silence(h, 'service="payments"', minutes=60, starts_in=10)
    h.event("Latency high on /pay", service="payments")
    assert len(h.advance(0)) == 1
    h.advance(11 * 60)
    h.event("Error rate high", service="payments")
    assert h.advance(120) == []


def test_a_node_down_inhibits_its_pods_but_not_other_nodes_pods(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(NODES)
    h.event("Node n1 down", labels={"alertname": "NodeDown", "node": "n1"}, severity=Severity.critical)
    for pod in range(3):
        h.event(f"Pod api-{pod} crashlooping", labels={"alertname": "PodCrashLooping", "node": "n1"})
    h.event("Pod web-0 crashlooping", labels={"alertname": "PodCrashLooping", "node": "n2"})
    titles = sorted(s.notification["title"] for s in h.advance(0) if s.channel == "slack")
    assert titles == ["Node n1 down", "Pod web-0 crashlooping"]


def test_inhibited_incidents_are_sent_once_their_cause_resolves(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(NODES)
    h.event(
        "Node n1 down", labels={"alertname": "NodeDown", "node": "n1"}, severity=Severity.critical, grouping_key="n1"
    )
    h.event("Pod api-0 crashlooping", labels={"alertname": "PodCrashLooping", "node": "n1"})
    h.advance(0)
    h.resolve("Node n1 down", labels={"alertname": "NodeDown", "node": "n1"}, grouping_key="n1")
    titles = [s.notification["title"] for s in h.advance(60) if s.channel == "slack"]
    assert sorted(titles) == ["Node n1 down", "Pod api-0 crashlooping"]  # the resolution, and the pod at last


def test_a_repeat_due_while_every_incident_is_muted_waits_instead_of_spinning(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(NODES.replace("group_interval: 1m", "group_interval: 1m\n    repeat_interval: 10m"))
    h.event("Pod api-0 crashlooping", labels={"alertname": "PodCrashLooping", "node": "n1"})
    assert len(h.advance(0)) == 1
    h.advance(60)
    h.event("Node n1 down", labels={"alertname": "NodeDown", "node": "n1"}, severity=Severity.critical)
    h.advance(0)
    h.advance(9 * 60)  # the pod's repeat is due now, but the node down mutes it
    with h.sessions() as session:
        from liberation_guardian.store.models import NotificationGroup

        timers = [g.next_flush_at for g in session.query(NotificationGroup).all() if g.next_flush_at]
    assert timers and all(t > h.clock() for t in timers)
