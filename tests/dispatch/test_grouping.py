"""Group wait, group interval and repeat interval, as Alertmanager times them, on a moved clock."""

from __future__ import annotations

from collections.abc import Callable

from liberation_guardian.events import Severity
from tests.dispatch.conftest import Harness

BY_SERVICE = """
routing:
  route:
    receiver: team
    group_by: [service]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
  receivers:
    team: {channels: [slack]}
"""


def test_a_new_group_waits_then_sends_one_message_listing_every_incident(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments")
    h.event("Error rate high", service="payments")
    h.event("Disk almost full", service="search")
    assert h.sent() == []  # nothing before group_wait
    assert h.advance(29) == []
    sent = h.advance(1)
    by_title = {s.notification["title"]: s for s in sent}
    assert [s.channel for s in sent] == ["slack", "slack"]
    payments = by_title['service="payments"']
    assert payments.text.startswith('[HIGH] 2 incidents: service="payments"')
    assert "Latency high on /pay" in payments.text and "Error rate high" in payments.text
    assert len(payments.incident_ids) == 2
    assert by_title["Disk almost full"].notification["incidents"] == []  # one incident reads as itself


def test_news_after_a_message_waits_for_the_group_interval(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments")
    assert len(h.advance(30)) == 1
    h.advance(60)
    h.event("Error rate high", service="payments")
    assert h.advance(60) == []  # 2 minutes after the message: still inside group_interval
    assert h.advance(179) == []
    [sent] = h.advance(1)  # 5 minutes after the message
    assert sent.notification["title"] == "Error rate high"


def test_open_incidents_are_repeated_and_acknowledged_ones_are_not(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments")
    h.event("Disk almost full", service="search")
    assert len(h.advance(30)) == 2
    h.acknowledge("Disk almost full")
    h.sent()  # the acknowledgement notice itself
    assert h.advance(4 * 3600 - 1) == []
    [again] = h.advance(1)
    assert again.notification["title"] == "Latency high on /pay"
    assert "Still open; sent again every 4h." in again.text
    [third] = h.advance(4 * 3600)
    assert third.notification["title"] == "Latency high on /pay"


def test_a_resolution_goes_to_whoever_heard_and_nothing_is_said_of_one_never_sent(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments", grouping_key="lat")
    assert len(h.advance(30)) == 1
    h.event("Brief blip", service="search", grouping_key="blip")
    h.resolve("Brief blip", service="search", grouping_key="blip")  # resolved inside group_wait
    h.resolve("Latency high on /pay", service="payments", grouping_key="lat")
    sent = h.advance(300)
    assert [s.text.splitlines()[0] for s in sent] == ["[RESOLVED] Latency high on /pay"]
    assert h.advance(24 * 3600) == []  # resolved incidents are not repeated


def test_flapping_inside_the_group_interval_sends_nothing_new(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments", grouping_key="lat")
    assert len(h.advance(30)) == 1
    for _ in range(5):  # resolve and fire again, five times within a minute
        h.resolve("Latency high on /pay", service="payments", grouping_key="lat")
        h.advance(5)
        h.event("Latency high on /pay", service="payments", grouping_key="lat")
        h.advance(5)
    assert h.advance(300) == []


def test_a_worse_severity_is_news(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(BY_SERVICE)
    h.event("Latency high on /pay", service="payments", grouping_key="lat", severity=Severity.medium)
    assert len(h.advance(30)) == 1
    h.event("Latency high on /pay", service="payments", grouping_key="lat", severity=Severity.high)
    [worse] = h.advance(300)
    assert worse.notification["transition"] == "severity_raised"
    assert worse.notification["severity"] == "high"


def test_digest_collects_low_severity_investigations_into_one_message_an_hour(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(
        """
routing:
  route:
    receiver: team
    routes:
      - matchers: ['severity=~"low|info"', 'action="investigate"']
        digest: hourly
  receivers:
    team: {channels: [slack]}
"""
    )
    for n in range(12):
        h.event(f"Deprecated API used by client {n}", severity=Severity.low, service=f"svc{n}")
    h.event("Checkout broken", severity=Severity.high)
    [urgent] = h.advance(0)
    assert urgent.notification["title"] == "Checkout broken"
    assert h.advance(3599) == []
    [digest] = h.advance(1)
    assert digest.text.startswith("[LOW] 12 incidents: all incidents")
    assert len(digest.incident_ids) == 12


def test_channels_with_one_alert_per_incident_get_a_group_as_its_incidents(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(
        """
routing:
  route: {receiver: oncall, group_by: [service], group_wait: 30s}
  receivers:
    oncall: {channels: [pagerduty, slack]}
"""
    )
    h.event("Latency high on /pay", service="payments")
    h.event("Error rate high", service="payments")
    sent = h.advance(30)
    slack = [s for s in sent if s.channel == "slack"]
    pagerduty = [s for s in sent if s.channel == "pagerduty"]
    assert len(slack) == 1 and len(slack[0].incident_ids) == 2
    assert sorted(s.notification["title"] for s in pagerduty) == ["Error rate high", "Latency high on /pay"]
    assert all(s.notification["incidents"] == [] for s in pagerduty)
