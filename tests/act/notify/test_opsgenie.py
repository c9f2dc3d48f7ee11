"""The Opsgenie channel drives one alert per incident through httpx against a local stand-in for api.opsgenie.com."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian import __version__
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.opsgenie import OpsgenieChannel, OpsgenieConfig
from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError, DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import RecordedRequest, Recorder

API_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
ACCEPTED = {"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}
ALIAS = "guardian-test-incident-42"


def channel(recorder: Recorder, **config: Any) -> OpsgenieChannel:
    settings = OpsgenieConfig.model_validate({"api_key_env": "OPSGENIE_API_KEY", "api_url": recorder.url, **config})
    return OpsgenieChannel(settings, {"api_key": API_KEY})


def send(recorder: Recorder, notification: Notification, count: int = 1, **config: Any) -> list[RecordedRequest]:
    """Send one notification with every answer a 202, and return the requests Opsgenie received."""
    for _ in range(count):
        recorder.respond_with(202, ACCEPTED)
    channel(recorder, **config).send(notification)
    requests = recorder.wait_for(count)
    assert len(requests) == count
    for request in requests:
        assert request.headers["authorization"] == f"GenieKey {API_KEY}"
        assert request.headers["content-type"] == "application/json"
    return requests


def test_an_opened_incident_creates_an_alert(recorder: Recorder, notification: Notification) -> None:
    (request,) = send(recorder, notification)

    assert request.method == "POST"
    assert request.path == "/v2/alerts"
    assert request.headers["user-agent"] == f"liberation-guardian/{__version__}"
    assert request.json == {
        "message": "[CRITICAL] Instance down &lt;api-1&gt; &amp; friends (needs a human)",
        "alias": ALIAS,
        "description": notification.text().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "priority": "P1",
        "source": "Guardian Test",
        "tags": ["severity:critical", "source:alertmanager", "environment:production", "category:availability"],
        "details": {
            "incident": "42",
            "decision": "escalate",
            "category": "availability",
            "reported by": "alertmanager",
            "service": "api",
            "environment": "production",
            "occurrences": "3",
            "incident url": "http://guardian.example/incidents/42",
            "link: Alertmanager": "http://alertmanager.example/#/alerts?x=1|2",
        },
        "entity": "api",
    }


def test_a_reopened_incident_creates_the_alert_again_under_the_same_alias(
    recorder: Recorder, notification: Notification
) -> None:
    (request,) = send(recorder, notification.model_copy(update={"transition": "reopened"}))

    assert (request.method, request.path) == ("POST", "/v2/alerts")
    assert request.json["alias"] == ALIAS


def test_a_raised_severity_creates_then_sets_the_priority(recorder: Recorder, notification: Notification) -> None:
    raised = notification.model_copy(update={"transition": "severity_raised", "severity": Severity.high})
    create, priority = send(recorder, raised, count=2)

    assert (create.method, create.path) == ("POST", "/v2/alerts")
    assert create.json["priority"] == "P2"
    assert create.json["alias"] == ALIAS
    assert priority.method == "PUT"
    assert priority.path == f"/v2/alerts/{ALIAS}/priority?identifierType=alias"
    assert priority.json == {"priority": "P2"}


def test_acknowledging_addresses_the_alert_by_alias(recorder: Recorder, notification: Notification) -> None:
    acked = notification.model_copy(update={"transition": "acknowledged", "action": "auto_acknowledge"})
    (request,) = send(recorder, acked)

    assert request.method == "POST"
    assert request.path == f"/v2/alerts/{ALIAS}/acknowledge?identifierType=alias"
    assert request.json == {
        "source": "Guardian Test",
        "user": "Guardian Test",
        "note": html.escape(acked.headline(), quote=False),
    }
    assert "&lt;api-1&gt;" in request.json["note"]


def test_resolving_closes_the_alert_by_alias(recorder: Recorder, notification: Notification) -> None:
    (request,) = send(recorder, notification.model_copy(update={"transition": "resolved"}))

    assert request.method == "POST"
    assert request.path == f"/v2/alerts/{ALIAS}/close?identifierType=alias"
    assert request.json == {
        "source": "Guardian Test",
        "user": "Guardian Test",
        "note": "[RESOLVED] Instance down &lt;api-1&gt; &amp; friends",
    }


def test_every_transition_of_one_incident_uses_one_alias_and_another_incident_another(
    recorder: Recorder, notification: Notification
) -> None:
    opsgenie = channel(recorder)
    opsgenie.send(notification)
    opsgenie.send(notification.model_copy(update={"transition": "acknowledged"}))
    opsgenie.send(notification.model_copy(update={"transition": "resolved"}))
    opsgenie.send(notification.model_copy(update={"incident_id": 43}))

    created, acked, closed, other = recorder.wait_for(4)
    assert created.json["alias"] == ALIAS
    assert acked.path.startswith(f"/v2/alerts/{ALIAS}/acknowledge?")
    assert closed.path.startswith(f"/v2/alerts/{ALIAS}/close?")
    assert other.json["alias"] == "guardian-test-incident-43"


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        (Severity.critical, "P1"),
        (Severity.high, "P2"),
        (Severity.medium, "P3"),
        (Severity.low, "P4"),
        (Severity.info, "P5"),
    ],
)
def test_priority_mapping(recorder: Recorder, notification: Notification, severity: Severity, priority: str) -> None:
    (request,) = send(recorder, notification.model_copy(update={"severity": severity}))

    assert request.json["priority"] == priority


def test_event_content_cannot_inject_markup(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={"title": '<a href="http://evil.example">click</a>', "summary": "<script>alert(1)</script>"}
    )
    (request,) = send(recorder, hostile)

    assert request.json["message"] == '[CRITICAL] &lt;a href="http://evil.example"&gt;click&lt;/a&gt; (needs a human)'
    assert "<" not in request.json["description"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in request.json["description"]


def test_long_text_fits_opsgenie_limits_without_splitting_an_entity(
    recorder: Recorder, notification: Notification
) -> None:
    long = notification.model_copy(update={"title": "a" * 100 + "&" * 40, "summary": "<" * 20000})
    (request,) = send(recorder, long)

    message = request.json["message"]
    assert len(message) <= 130
    assert message.endswith("&amp;…")
    assert len(request.json["description"]) <= 15000
    assert request.json["description"].endswith("&lt;…")


def test_responders_and_tags_from_the_config(recorder: Recorder, notification: Notification) -> None:
    responders = [
        {"type": "team", "name": "Platform"},
        {"type": "user", "username": "trinity@example.com"},
        {"type": "escalation", "id": "aee8a0de-c80f-4515-a232-501c0bc9d715"},
        {"type": "schedule", "name": "First Responders"},
    ]
    (request,) = send(recorder, notification, responders=responders, tags=["guardian", "severity:critical"])

    assert request.json["responders"] == responders
    # A configured tag that the channel also adds is sent once.
    assert request.json["tags"] == [
        "guardian",
        "severity:critical",
        "source:alertmanager",
        "environment:production",
        "category:availability",
    ]


def test_details_stay_within_opsgenies_total(recorder: Recorder, notification: Notification) -> None:
    links = [Link(title=f"graph {i}", url="https://grafana.example/d/" + "x" * 900) for i in range(20)]
    (request,) = send(recorder, notification.model_copy(update={"links": links}))

    details = request.json["details"]
    assert sum(len(key) + len(value) for key, value in details.items()) <= 8000
    assert details["incident"] == "42"
    assert "link: graph 0" in details
    assert "link: graph 19" not in details


def test_an_eu_account_uses_its_own_api_url(recorder: Recorder, notification: Notification) -> None:
    send(recorder, notification, api_url=recorder.url + "/eu/")

    assert recorder.requests[0].path == "/eu/v2/alerts"


def test_the_default_api_url_is_opsgenies() -> None:
    assert OpsgenieConfig(api_key_env="X").api_url == "https://api.opsgenie.com"


def test_a_semantic_error_is_not_retried_and_quotes_opsgenie(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        422,
        {
            "message": "Request body is not processable. Please check the errors.",
            "errors": {"message": "Message can not be empty."},
            "took": 0.001,
            "requestId": "f1b2",
        },
    )
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is False
    assert failed.value.reason == (
        f"opsgenie: POST {recorder.url}/v2/alerts answered 422 Unprocessable Entity: "
        "Request body is not processable. Please check the errors. (message: Message can not be empty.)"
    )


def test_a_wrong_key_is_not_retried_and_not_revealed(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(401, {"message": f"Key format is not valid: {API_KEY}", "took": 0.0, "requestId": "x"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is False
    assert "answered 401 Unauthorized: Key format is not valid: …" in failed.value.reason
    assert API_KEY not in str(failed.value)


def test_throttling_honours_an_http_date_retry_after(recorder: Recorder, notification: Notification) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    recorder.respond_with(429, {"message": "Too many requests"}, headers={"Retry-After": later})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)

    assert failed.value.retryable is True
    assert failed.value.retry_after is not None
    assert 100 < failed.value.retry_after <= 120


def test_a_failed_priority_update_fails_the_delivery(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(202, ACCEPTED)
    recorder.respond_with(503, "upstream unavailable")
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification.model_copy(update={"transition": "severity_raised"}))

    assert failed.value.retryable is True
    assert f"PUT {recorder.url}/v2/alerts/{ALIAS}/priority answered 503" in failed.value.reason
    assert [r.method for r in recorder.wait_for(2)] == ["POST", "PUT"]


def test_a_failed_create_sends_nothing_more(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(500, "")
    with pytest.raises(DeliveryFailed):
        channel(recorder).send(notification.model_copy(update={"transition": "severity_raised"}))
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("key", ["", "  ", "two words", "line\nbreak", "ключ"])
def test_a_missing_or_mangled_key_is_a_permanent_failure(notification: Notification, key: str) -> None:
    opsgenie = OpsgenieChannel(OpsgenieConfig(api_key_env="OPSGENIE_API_KEY"), {"api_key": key} if key else {})
    with pytest.raises(DeliveryFailed, match="OPSGENIE_API_KEY") as failed:
        opsgenie.send(notification)
    assert failed.value.retryable is False


def test_an_unknown_transition_is_a_permanent_failure(recorder: Recorder, notification: Notification) -> None:
    with pytest.raises(DeliveryFailed, match="unknown transition") as failed:
        channel(recorder).send(notification.model_copy(update={"transition": "snoozed"}))
    assert failed.value.retryable is False
    assert recorder.requests == []


def test_config_requires_the_key_variable_when_enabled() -> None:
    with pytest.raises(ValidationError, match="api_key_env is required"):
        OpsgenieConfig.model_validate({})
    assert OpsgenieConfig.model_validate({"enabled": False}).api_key_env is None


@pytest.mark.parametrize(
    ("responder", "message"),
    [
        ({"type": "team"}, "exactly one of id, name, username"),
        ({"type": "team", "id": "1", "name": "Platform"}, "exactly one of id, name, username"),
        ({"type": "user", "name": "Trinity"}, "named by username"),
        ({"type": "team", "username": "x@example.com"}, "named by name"),
        ({"type": "group", "name": "x"}, "team', 'user', 'escalation' or 'schedule'"),
        ({"type": "team", "name": "x", "email": "y"}, "extra"),
    ],
)
def test_config_refuses_a_bad_responder(responder: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpsgenieConfig.model_validate({"api_key_env": "X", "responders": [responder]})


@pytest.mark.parametrize("tags", [["x" * 51], [""], [f"t{i}" for i in range(17)]])
def test_config_refuses_tags_opsgenie_would_refuse(tags: list[str]) -> None:
    with pytest.raises(ValidationError, match="tag"):
        OpsgenieConfig.model_validate({"api_key_env": "X", "tags": tags})


def test_loaded_from_the_config_file_and_errors_name_the_key() -> None:
    text = (
        "integrations:\n  notifications:\n    opsgenie:\n      api_key_env: OG_KEY\n"
        "      api_url: https://api.eu.opsgenie.com\n      responders:\n        - {type: team, name: Platform}\n"
    )
    config = load_text(text, {"OG_KEY": API_KEY}, base_dir=Path("."))
    cls, plugin = config.channels["opsgenie"]
    assert cls is OpsgenieChannel
    assert plugin.secrets == {"api_key": API_KEY}

    bad = text.replace("name: Platform", "username: Platform")
    with pytest.raises(ConfigError, match=r"integrations\.notifications\.opsgenie\.responders\[0\].*named by name"):
        load_text(bad, {"OG_KEY": API_KEY}, base_dir=Path("."))
