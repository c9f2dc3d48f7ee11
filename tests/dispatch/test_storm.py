"""A notification storm: 2,000 events of a simulated outage become a few dozen messages, and none is lost.

The storm and its replay are the benchmark's (`bench/_storm.py`; `bench/storm.py` runs the
10,000-event version): a database node goes down, every service on it raises alerts that
flap and are re-sent, a few unrelated problems come and go, then everything recovers. It
runs through the real stages and dispatcher on a real SQLite file with the recommended
routing (group by alert name and service, Alertmanager's timings, node-down inhibition).
"""

from __future__ import annotations

import pytest
from bench._storm import OUTAGE, Result, Storm, generate, replay

EVENTS = 2_000


@pytest.fixture(scope="module")
def storm() -> Storm:
    return generate(EVENTS, seed=7)


@pytest.fixture(scope="module")
def result(storm: Storm, tmp_path_factory: pytest.TempPathFactory) -> Result:
    return replay(storm, "recommended", tmp_path_factory.mktemp("storm"))


def test_the_storm_has_exactly_the_events_asked_for_and_a_seed_repeats_it() -> None:
    first, again, other = generate(1_234, seed=3), generate(1_234, seed=3), generate(1_234, seed=4)
    assert len(first.events) == 1_234
    assert [(e.tick, e.span.alert, e.resolved) for e in first.events] == [
        (e.tick, e.span.alert, e.resolved) for e in again.events
    ]
    assert [e.tick for e in first.events] != [e.tick for e in other.events]
    assert [e.tick for e in first.events] == sorted(e.tick for e in first.events)


def test_the_storm_is_an_outage_with_flapping_resends_and_recovery(storm: Storm) -> None:
    outage = [alert for alert in storm.alerts if alert.cause == OUTAGE]
    assert sum(alert.label_map["alertname"] == "NodeDown" for alert in outage) == 1
    assert all(alert.label_map["node"] == "db-1" for alert in outage)
    assert len(outage) > 30
    resends = sum(event.repeat for event in storm.events)
    assert resends > 0.8 * EVENTS
    firings: dict[str, int] = {}
    for event in storm.events:
        if not event.repeat and not event.resolved:
            firings[event.span.alert.summary] = firings.get(event.span.alert.summary, 0) + 1
    assert any(count > 2 for count in firings.values())  # something flaps


def test_too_few_events_for_the_outage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="events: 50 is too few; the outage alone has"):
        generate(50)


def test_the_recommended_routing_sends_under_five_percent_of_one_message_per_event(result: Result) -> None:
    assert result.events == EVENTS
    assert result.notifications > 0
    assert result.reduction >= 0.95, result.by_channel
    assert result.stuck_timers == 0


def test_every_incident_is_notified_unless_something_explains_why_not(storm: Storm, result: Result) -> None:
    assert result.incidents == len(storm.alerts)
    never = {title for titles in result.never_notified.values() for title in titles}
    assert len(result.notified) + len(never) == result.incidents
    assert result.never_notified.get("unexplained", []) == []
    assert result.never_notified.get("resolved_before_due", []) == []
    cause = {alert.summary: alert.cause for alert in storm.alerts}
    assert {cause[title] for title in result.never_notified.get("inhibited", [])} == {OUTAGE}
    assert {cause[title] for title in result.never_notified.get("silenced", [])} == {"reporting maintenance"}
    # The root cause and every unrelated problem outside the maintenance window reached someone.
    assert "Node db-1 is down" in result.notified
    for problem in ("search disk", "checkout-worker memory", "payments-api errors"):
        assert result.per_cause[problem]["incidents_notified"] == 1, problem
    assert result.by_channel.get("pagerduty", 0) >= 2  # the node and the payments-api errors were paged
