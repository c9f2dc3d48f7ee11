"""The generic webhook channel: body, idempotency header and signature as a receiver sees them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.webhook import WebhookChannel, WebhookConfig, redact_url, scrub
from liberation_guardian.errors import DeliveryFailed
from tests.fixtures.recorder import Recorder

SECRET = "whsec-0123456789abcdef"


def channel(recorder: Recorder, path: str = "/hooks/guardian", **config: Any) -> WebhookChannel:
    settings = WebhookConfig.model_validate({"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET", **config})
    return WebhookChannel(settings, {"url": recorder.url + path, "secret": SECRET})


def test_posts_the_notification_as_signed_json(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, headers={"X-Team": "platform"}).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hooks/guardian"
    body = request.json
    assert body == {"version": "1", **notification.model_dump(mode="json"), "text": notification.text()}
    assert body["idempotency_key"] == "incident-42:opened:1"
    assert body["severity"] == "critical"
    assert body["links"] == [{"title": "Alertmanager", "url": "http://alertmanager.example/#/alerts?x=1|2"}]
    assert request.headers["idempotency-key"] == "incident-42:opened:1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "platform"
    assert request.headers["user-agent"].startswith("liberation-guardian/")
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-guardian-signature"] == f"sha256={expected}"


def test_configured_user_agent_replaces_ours(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, headers={"user-agent": "ops-bridge/2"}).send(notification)

    assert recorder.wait_for(1)[0].headers["user-agent"] == "ops-bridge/2"


def test_a_repeat_carries_the_same_idempotency_key(recorder: Recorder, notification: Notification) -> None:
    hook = channel(recorder)
    hook.send(notification)
    hook.send(notification)

    first, second = recorder.wait_for(2)
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.headers["x-guardian-signature"] == second.headers["x-guardian-signature"]


def test_unsigned_without_secret_env(recorder: Recorder, notification: Notification) -> None:
    WebhookChannel(WebhookConfig(url=recorder.url + "/plain"), {}).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.path == "/plain"
    assert "x-guardian-signature" not in request.headers
    assert request.headers["idempotency-key"] == notification.idempotency_key


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(recorder: Recorder, notification: Notification, status: int) -> None:
    recorder.respond_with(status, "")
    channel(recorder).send(notification)


@pytest.mark.parametrize(("status", "retryable"), [(408, True), (425, True), (503, True), (401, False), (422, False)])
def test_status_classification(recorder: Recorder, notification: Notification, status: int, retryable: bool) -> None:
    recorder.respond_with(status, {"error": "nope"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is retryable
    assert f"answered {status}" in failed.value.reason
    assert '{"error": "nope"}' in failed.value.reason


def test_redirects_are_not_followed(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(302, "", headers={"Location": recorder.url + "/elsewhere"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is False
    assert len(recorder.requests) == 1


def test_missing_secret_is_a_permanent_failure(recorder: Recorder, notification: Notification) -> None:
    hook = WebhookChannel(WebhookConfig(url=recorder.url, secret_env="HOOK_SECRET"), {})
    with pytest.raises(DeliveryFailed, match="HOOK_SECRET") as failed:
        hook.send(notification)
    assert failed.value.retryable is False
    assert recorder.requests == []


@pytest.mark.parametrize("url", ["", "ftp://example.com/hook", "not a url"])
def test_bad_url_from_the_environment_is_permanent(notification: Notification, url: str) -> None:
    hook = WebhookChannel(WebhookConfig(url_env="HOOK_URL"), {"url": url} if url else {})
    with pytest.raises(DeliveryFailed, match="HOOK_URL") as failed:
        hook.send(notification)
    assert failed.value.retryable is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "exactly one of url and url_env"),
        ({"url": "https://a.example", "url_env": "X"}, "exactly one of url and url_env"),
        ({"url": "ftp://a.example"}, "http:// or https://"),
        ({"url": "https://a.example", "headers": {"Idempotency-Key": "x"}}, "set by the channel"),
        ({"url": "https://a.example", "headers": {"X-Evil": "a\r\nb: c"}}, "one line"),
        ({"url": "https://a.example", "headers": {"bad name": "x"}}, "not a valid header name"),
        ({"url": "https://a.example", "token": "x"}, "extra"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebhookConfig.model_validate(config)


def test_disabled_config_needs_no_url() -> None:
    assert WebhookConfig.model_validate({"enabled": False}).url is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/…"),
        ("http://user:pw@127.0.0.1:8080/x?token=1", "http://127.0.0.1:8080/…"),
        ("http://[::1]:9/x", "http://[::1]:9/…"),
        ("http://[bad", "<unparsable URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_replaces_longest_secret_first() -> None:
    assert scrub("a tok-1234 and tok-12345", ["tok-1234", "tok-12345", None, ""]) == "a … and …"
