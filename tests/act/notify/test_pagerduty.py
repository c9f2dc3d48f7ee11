"""The PagerDuty channel sends Events API v2 events through httpx to a local stand-in for events.pagerduty.com."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian import __version__
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.pagerduty import PagerDutyChannel, PagerDutyConfig
from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError, DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder

ROUTING_KEY = "R0utingKey0123456789abcdef012345"
ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": "guardian-test-incident-42"}


def channel(recorder: Recorder, **config: Any) -> PagerDutyChannel:
    settings = PagerDutyConfig.model_validate(
        {"routing_key_env": "PAGERDUTY_ROUTING_KEY", "api_url": recorder.url, **config}
    )
    return PagerDutyChannel(settings, {"routing_key": ROUTING_KEY})


def sent(recorder: Recorder, notification: Notification, **config: Any) -> dict[str, Any]:
    """Send one notification and return the JSON body PagerDuty received."""
    recorder.respond_with(202, ACCEPTED)
    channel(recorder, **config).send(notification)
    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/v2/enqueue"
    body: dict[str, Any] = request.json
    return body


def test_an_opened_incident_triggers_an_alert_with_everything_a_responder_needs(
    recorder: Recorder, notification: Notification
) -> None:
    recorder.respond_with(202, ACCEPTED)
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/v2/enqueue"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == f"liberation-guardian/{__version__}"
    assert request.json == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "guardian-test-incident-42",
        "payload": {
            "summary": "[CRITICAL] Instance down <api-1> & friends (needs a human)",
            "source": "api",
            "severity": "critical",
            "group": "production",
            "class": "availability",
            "custom_details": {
                "decision": "escalate",
                "category": "availability",
                "reported by": "alertmanager",
                "occurrences": 3,
                "incident": 42,
                "transition": "opened",
                "service": "api",
                "environment": "production",
                "summary": "api-1:9100 has not answered a scrape for 5 minutes.",
                "rationale": "Critical severity escalates at once.\nNo known pattern matches.",
                "text": notification.text(),
            },
        },
        "client": "Guardian Test",
        "client_url": "http://guardian.example/incidents/42",
        "links": [
            {"href": "http://guardian.example/incidents/42", "text": "Incident #42 in Guardian Test"},
            {"href": "http://alertmanager.example/#/alerts?x=1|2", "text": "Alertmanager"},
        ],
    }


@pytest.mark.parametrize("transition", ["opened", "reopened", "severity_raised"])
def test_openings_and_raises_trigger_the_same_alert(
    recorder: Recorder, notification: Notification, transition: str
) -> None:
    body = sent(recorder, notification.model_copy(update={"transition": transition}))

    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "guardian-test-incident-42"
    assert body["payload"]["custom_details"]["transition"] == transition


@pytest.mark.parametrize(("transition", "action"), [("acknowledged", "acknowledge"), ("resolved", "resolve")])
def test_acknowledge_and_resolve_carry_only_the_key(
    recorder: Recorder, notification: Notification, transition: str, action: str
) -> None:
    body = sent(recorder, notification.model_copy(update={"transition": transition}))

    assert body == {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "guardian-test-incident-42"}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.critical, "critical"),
        (Severity.high, "error"),
        (Severity.medium, "warning"),
        (Severity.low, "info"),
        (Severity.info, "info"),
    ],
)
def test_severity_mapping(recorder: Recorder, notification: Notification, severity: Severity, expected: str) -> None:
    body = sent(recorder, notification.model_copy(update={"severity": severity}))

    assert body["payload"]["severity"] == expected


def test_the_dedup_key_is_per_incident_and_per_instance(recorder: Recorder, notification: Notification) -> None:
    pagerduty = channel(recorder)
    for update in (
        {"transition": "opened"},
        {"transition": "resolved"},
        {"incident_id": 43},
        {"instance": "Guardian Staging (EU) "},
        {"instance": "!!!"},
    ):
        pagerduty.send(notification.model_copy(update=update))

    keys = [request.json["dedup_key"] for request in recorder.wait_for(5)]
    assert keys == [
        "guardian-test-incident-42",
        "guardian-test-incident-42",
        "guardian-test-incident-43",
        "guardian-staging-eu-incident-42",
        "liberation-guardian-incident-42",
    ]


def test_a_long_summary_is_cut_to_pagerdutys_limit(recorder: Recorder, notification: Notification) -> None:
    body = sent(recorder, notification.model_copy(update={"title": "x" * 2000}))

    summary = body["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.startswith("[CRITICAL] xxx")
    assert summary.endswith("x…")


def test_only_web_links_are_passed_on(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={
            "links": [Link(title="run", url="javascript:alert(1)"), Link(title="Runbook", url="https://rb.example/x")],
            "incident_url": "file:///etc/passwd",
        }
    )
    body = sent(recorder, hostile)

    assert body["links"] == [{"href": "https://rb.example/x", "text": "Runbook"}]
    assert "client_url" not in body
    assert body["client"] == "Guardian Test"


def test_a_minimal_notification_sends_only_required_fields(recorder: Recorder) -> None:
    bare = Notification(
        idempotency_key="incident-7:opened:1",
        incident_id=7,
        transition="opened",
        action="investigate",
        severity=Severity.medium,
        title="Disk filling",
        source="grafana",
    )
    body = sent(recorder, bare)

    assert body["payload"] == {
        "summary": "[MEDIUM] Disk filling (to investigate)",
        "source": "grafana",
        "severity": "warning",
        "custom_details": {
            "decision": "investigate",
            "category": "unknown",
            "reported by": "grafana",
            "occurrences": 1,
            "incident": 7,
            "transition": "opened",
            "text": bare.text(),
        },
    }
    assert "links" not in body
    assert body["dedup_key"] == "liberation-guardian-incident-7"


def test_api_url_may_carry_a_path_prefix(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, api_url=recorder.url + "/pagerduty/").send(notification)

    assert recorder.wait_for(1)[0].path == "/pagerduty/v2/enqueue"


def test_an_invalid_event_is_not_retried_and_says_why(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [f"Length of 'routing_key' {ROUTING_KEY} is incorrect (should be 32 characters)"],
        },
    )
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    error = failed.value
    assert error.retryable is False
    assert error.reason == (
        f"pagerduty: POST {recorder.url}/v2/enqueue answered 400 Bad Request: Event object is invalid "
        "(Length of 'routing_key' … is incorrect (should be 32 characters))"
    )
    assert ROUTING_KEY not in str(error)


def test_throttling_is_retried_after_the_wait_pagerduty_asks_for(
    recorder: Recorder, notification: Notification
) -> None:
    recorder.respond_with(429, "", headers={"Retry-After": "7"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is True
    assert failed.value.retry_after == 7.0
    assert "answered 429 Too Many Requests: (empty body)" in failed.value.reason
    assert len(recorder.requests) == 1


def test_throttling_without_retry_after_leaves_the_wait_to_the_delivery_stage(
    recorder: Recorder, notification: Notification
) -> None:
    recorder.respond_with(429, "")
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is True
    assert failed.value.retry_after is None


def test_a_redirect_is_not_followed(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(301, "", headers={"Location": recorder.url + "/elsewhere"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is False
    assert len(recorder.requests) == 1


def test_missing_routing_key_is_a_permanent_failure(notification: Notification) -> None:
    pagerduty = PagerDutyChannel(PagerDutyConfig(routing_key_env="PAGERDUTY_ROUTING_KEY"), {})
    with pytest.raises(DeliveryFailed, match="PAGERDUTY_ROUTING_KEY") as failed:
        pagerduty.send(notification)
    assert failed.value.retryable is False


def test_an_unknown_transition_is_a_permanent_failure(recorder: Recorder, notification: Notification) -> None:
    with pytest.raises(DeliveryFailed, match="unknown transition 'snoozed'") as failed:
        channel(recorder).send(notification.model_copy(update={"transition": "snoozed"}))
    assert failed.value.retryable is False
    assert recorder.requests == []


def test_config_requires_the_key_variable_when_enabled() -> None:
    with pytest.raises(ValidationError, match="routing_key_env is required"):
        PagerDutyConfig.model_validate({"enabled": True})
    assert PagerDutyConfig.model_validate({"enabled": False}).routing_key_env is None
    with pytest.raises(ValidationError, match="extra"):
        PagerDutyConfig.model_validate({"routing_key_env": "X", "routing_key": "abc"})


@pytest.mark.parametrize(
    ("api_url", "message"),
    [
        ("ftp://events.pagerduty.com", "http:// or https://"),
        ("https://user:pw@events.pagerduty.com", "must not carry credentials"),
        ("https://events.pagerduty.com/?token=1", "query or fragment"),
        ("events.pagerduty.com", "http:// or https://"),
    ],
)
def test_config_refuses_a_bad_api_url(api_url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PagerDutyConfig.model_validate({"routing_key_env": "X", "api_url": api_url})


def test_the_default_api_url_is_pagerdutys() -> None:
    assert PagerDutyConfig(routing_key_env="X").api_url == "https://events.pagerduty.com"


def test_loaded_from_the_config_file_with_the_key_from_the_environment() -> None:
    text = "integrations:\n  notifications:\n    pagerduty:\n      routing_key_env: PD_KEY\n"
    config = load_text(text, {"PD_KEY": ROUTING_KEY}, base_dir=Path("."))

    cls, plugin = config.channels["pagerduty"]
    assert cls is PagerDutyChannel
    assert plugin.secrets == {"routing_key": ROUTING_KEY}
    assert config.missing_secrets == []


def test_a_config_error_names_the_key() -> None:
    text = "integrations:\n  notifications:\n    pagerduty:\n      routing_key_env: PD_KEY\n      api_url: ftp://x\n"
    with pytest.raises(ConfigError, match="integrations.notifications.pagerduty.api_url"):
        load_text(text, {}, base_dir=Path("."))
