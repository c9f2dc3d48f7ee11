"""The routing tree: matchers, continue, inherited timing, owners, the built-in tree, and config errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from liberation_guardian.config import load_text
from liberation_guardian.dispatch.matchers import Matcher
from liberation_guardian.errors import ConfigError
from liberation_guardian.events import Severity
from tests.dispatch.conftest import CHANNELS, ENV, Harness

TREE = """
routing:
  receivers:
    team: {channels: [slack]}
    payments-team: {channels: [email], to: {email: [payments@example.com]}}
    audit: {channels: [webhook]}
  services:
    checkout: {team: payments, receiver: payments-team}
  route:
    receiver: team
    routes:
      - matchers: ['environment="staging"']
        receiver: none
      - matchers: ['category=~"security|data"']
        receiver: audit
        continue: true
      - matchers: ['team="payments"', 'severity=~"critical|high"']
        receiver: payments-team
"""


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ("severity=critical", {"severity": "high"}, False),
        ('service=~"pay.*"', {"service": "payments"}, True),
        ('service=~"pay"', {"service": "payments"}, False),  # anchored
        ('env!="staging"', {}, True),  # absent reads as empty
        ('team!~""', {"team": "x"}, True),
        ('title="say \\"hi\\""', {"title": 'say "hi"'}, True),
    ],
)
def test_matchers_read_and_match_as_alertmanager_does(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


def receivers(h: Harness) -> list[str]:
    return sorted(f"{s.channel}:{','.join(s.notification.get('recipients') or [])}" for s in h.advance(0))


def test_routes_pick_receivers_in_order_with_continue(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TREE)
    h.event("Homepage slow", severity=Severity.high, service="web")
    assert receivers(h) == ["slack:"]
    # `category` is Liberation Guardian's own (a label of the same name from the tool does not override it).
    h.event(
        "Leaked token found in the checkout repository",
        severity=Severity.high,
        service="checkout",
        labels={"category": "x"},
    )
    assert receivers(h) == ["email:payments@example.com", "webhook:"]  # audit continues to the payments route
    h.event("Staging is slow", environment="staging")
    assert receivers(h) == []
    h.event("Checkout 500s", service="checkout", severity=Severity.high)
    assert receivers(h) == ["email:payments@example.com"]


def test_an_escalation_carried_by_two_routes_is_logged_once(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TREE)
    h.event("Security breach: checkout tokens leaked", severity=Severity.critical, service="checkout")
    sent = receivers(h)
    assert "webhook:" in sent and "email:payments@example.com" in sent  # audit continues to the payments route
    assert sent.count("console:") == 1


def test_an_owned_service_reaches_its_owners_besides_the_route(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TREE)
    h.event("Checkout slow", service="checkout", severity=Severity.medium)
    assert receivers(h) == ["email:payments@example.com", "slack:"]


def test_escalations_reach_the_log_even_through_an_empty_receiver(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(TREE)
    h.event("Staging database down", environment="staging", severity=Severity.critical)
    assert receivers(h) == ["console:"]


def test_the_built_in_tree_matches_the_plain_behaviour(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(
        "decision_rules:\n  escalate:\n    conditions:\n      - notification_channels: [email, slack]\n"
    )
    h.event("Database down", severity=Severity.critical)
    assert receivers(h) == ["console:", "email:", "slack:"]
    h.event("Latency creeping up", severity=Severity.medium)
    assert receivers(h) == ["slack:", "webhook:"]
    h.event("Deploy finished", severity=Severity.info)
    assert receivers(h) == []  # informational and claimed by nothing: acknowledged quietly


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ("route: {receiver: nobody}", "routing.route (line {line}): no receiver 'nobody'"),
        (
            "route: {routes: [{matchers: ['a=~\"(\"']}]}",
            "routing.route.routes[0] (line {line}): matchers[0]: a: '(' is not a valid regular expression",
        ),
        ("route: {matchers: ['nonsense']}", "'nonsense' is not a matcher"),
        (
            "receivers: {x: {channels: [discord]}}",
            "routing.receivers.x.channels[0] (line {receivers}): no enabled channel 'discord'",
        ),
        ("route: {escalation_policy: gone}", "no escalation policy 'gone'"),
        (
            "escalation_policies: {p: {steps: [{notify: [ghost]}]}}",
            "routing.escalation_policies.p.steps[0].notify[0] (line {line}): no receiver or schedule 'ghost'",
        ),
        ("route: {group_wait: soon}", "'soon' is not a duration"),
        (
            "inhibit_rules: [{source_matchers: ['a=\"b\"'], target_matchers: ['bad matcher']}]",
            "routing.inhibit_rules[0] (line {line}): target_matchers[0]: 'bad matcher' is not a matcher",
        ),
        ("schedules: {s: {participants: [team], timezone: Mars/Base}}", "'Mars/Base' is not a known time zone"),
    ],
)
def test_routing_mistakes_name_the_key_and_line(routing: str, message: str, tmp_path: Path) -> None:
    text = CHANNELS + "routing:\n  receivers: {team: {channels: [slack]}}\n  " + routing + "\n"
    text = text.replace("routing:\n  receivers: {team: {channels: [slack]}}\n  receivers:", "routing:\n  receivers:")
    with pytest.raises(ConfigError) as caught:
        load_text(text, ENV, base_dir=tmp_path)
    routing_line = CHANNELS.count("\n") + 1
    expected = message.replace("{line}", str(routing_line + 2)).replace("{receivers}", str(routing_line + 1))
    assert expected in str(caught.value)
