"""The Slack channel posts Block Kit through the real slack_sdk clients to local Slack stand-ins."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.act.notify.slack import SlackChannel, SlackConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder, Response

HOOK_PATH = "/services/T0000TEST/B0000TEST/tokentokentokentoken"


def channel(recorder: Recorder, **config: Any) -> SlackChannel:
    settings = SlackConfig.model_validate({"webhook_url_env": "SLACK_WEBHOOK_URL", **config})
    return SlackChannel(settings, {"webhook_url": recorder.url + HOOK_PATH})


def texts(payload: dict[str, Any]) -> str:
    """Every string of the blocks, for containment checks."""
    return json.dumps(payload["blocks"], ensure_ascii=False)


def test_posts_blocks_with_everything_a_responder_needs(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == HOOK_PATH
    assert request.headers["content-type"].startswith("application/json")
    payload = request.json
    assert payload["text"] == "[CRITICAL] Instance down &lt;api-1&gt; &amp; friends (needs a human)"
    assert payload["unfurl_links"] is False
    blocks = payload["blocks"]
    header = blocks[0]
    assert header["type"] == "header"
    assert header["text"] == {"type": "plain_text", "text": notification.headline(), "emoji": True}
    fields = next(b["fields"] for b in blocks if "fields" in b)
    field_texts = [f["text"] for f in fields]
    assert "*Severity*\n:red_circle: critical" in field_texts
    assert "*Decision*\nescalate (availability)" in field_texts
    assert "*Source*\nalertmanager" in field_texts
    assert "*Service*\napi" in field_texts
    assert "*Environment*\nproduction" in field_texts
    assert "*Occurrences*\n3" in field_texts
    body = texts(payload)
    assert "api-1:9100 has not answered a scrape for 5 minutes." in body
    assert "*Why*\\nCritical severity escalates at once.\\nNo known pattern matches." in body
    assert "<http://guardian.example/incidents/42|Open incident>" in body
    # A `|` or `>` inside a URL would end Slack's link syntax early; it is percent-encoded.
    assert "<http://alertmanager.example/#/alerts?x=1%7C2|Alertmanager>" in body
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Guardian Test · incident #42 · opened"}],
    }


def test_event_content_cannot_mention_or_link(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={"summary": "<!channel> wake up <http://evil.example|click>", "rationale": "a & b"}
    )
    channel(recorder).send(hostile)

    body = texts(recorder.wait_for(1)[0].json)
    assert "<!channel>" not in body
    assert "&lt;!channel&gt; wake up &lt;http://evil.example|click&gt;" in body
    assert "a &amp; b" in body


def test_non_web_links_are_not_clickable(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"links": [Link(title="run", url="javascript:alert(1)")]}))

    body = texts(recorder.wait_for(1)[0].json)
    assert "run: javascript:alert(1)" in body
    assert "<javascript:" not in body


def test_resolution_has_no_decision(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"transition": "resolved"}))

    payload = recorder.wait_for(1)[0].json
    assert payload["blocks"][0]["text"]["text"] == "[RESOLVED] Instance down <api-1> & friends"
    body = texts(payload)
    assert "Decision" not in body
    assert "Why" not in body
    assert ":white_check_mark: critical" in body


def test_long_titles_fit_slack_limits(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"title": "x" * 400, "summary": "y" * 5000}))

    blocks = recorder.wait_for(1)[0].json["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert blocks[0]["text"]["text"].endswith("…")
    assert len(blocks[1]["text"]["text"]) == 3000


def test_channel_and_username_overrides(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, channel="#ops", username="guardian").send(notification)

    payload = recorder.wait_for(1)[0].json
    assert payload["channel"] == "#ops"
    assert payload["username"] == "guardian"


def test_no_overrides_unless_configured(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification)

    payload = recorder.wait_for(1)[0].json
    assert "channel" not in payload
    assert "username" not in payload


@pytest.mark.parametrize(
    ("status", "body"), [(400, "invalid_payload"), (404, "no_service"), (403, "action_prohibited")]
)
def test_slack_error_code_is_in_the_reason(
    recorder: Recorder, notification: Notification, status: int, body: str
) -> None:
    recorder.respond_with(status, body)
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is False
    assert f"answered {status}: {body}" in failed.value.reason


def test_a_200_that_is_not_ok_is_not_delivered(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(200, "<html>captive portal</html>")
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is False


def test_the_client_does_not_retry_by_itself(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(429, "rate_limited", headers={"Retry-After": "1"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is True
    assert len(recorder.requests) == 1


def test_missing_url_is_a_permanent_failure(notification: Notification) -> None:
    slack = SlackChannel(SlackConfig(webhook_url_env="SLACK_WEBHOOK_URL"), {})
    with pytest.raises(DeliveryFailed, match="SLACK_WEBHOOK_URL") as failed:
        slack.send(notification)
    assert failed.value.retryable is False


def test_file_urls_are_refused(notification: Notification) -> None:
    slack = SlackChannel(SlackConfig(webhook_url_env="SLACK_WEBHOOK_URL"), {"webhook_url": "file:///etc/passwd"})
    with pytest.raises(DeliveryFailed) as failed:
        slack.send(notification)
    assert failed.value.retryable is False


def test_config_requires_the_url_variable_when_enabled() -> None:
    with pytest.raises(ValidationError, match="webhook_url_env is required"):
        SlackConfig.model_validate({"enabled": True})
    assert SlackConfig.model_validate({"enabled": False}).webhook_url_env is None
    with pytest.raises(ValidationError, match="extra"):
        SlackConfig.model_validate({"webhook_url_env": "X", "webhook_url": "https://hooks.slack.com/x"})


# Bot mode: chat.postMessage through slack_sdk's WebClient against a local Web API stand-in.

BOT_TOKEN = "xoxb-1111-2222-BotTokenSecretValue"
POSTED = {"ok": True, "channel": "C0123456789", "ts": "1712345678.000100"}


@pytest.fixture
def web_api() -> Iterator[Recorder]:
    """A Slack Web API stand-in answering every call with a successful chat.postMessage."""
    with Recorder(default=Response(200, POSTED)) as server:
        yield server


def bot(server: Recorder, **config: Any) -> SlackChannel:
    settings = SlackConfig.model_validate(
        {
            "bot_token_env": "SLACK_BOT_TOKEN",
            "channel": "C0123456789",
            "signing_secret_env": "SLACK_SIGNING_SECRET",
            "api_url": server.url + "/api",
            **config,
        }
    )
    return SlackChannel(settings, {"bot_token": BOT_TOKEN, "signing_secret": "signing-secret-value"})


def buttons_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in payload["blocks"] if block["type"] == "actions"]


EXPECTED_BUTTONS = {
    "type": "actions",
    "block_id": "guardian_incident_actions",
    "elements": [
        {
            "type": "button",
            "action_id": "guardian_acknowledge",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "style": "primary",
            "value": "42",
        },
        {
            "type": "button",
            "action_id": "guardian_resolve",
            "text": {"type": "plain_text", "text": "Resolve"},
            "value": "42",
            "confirm": {
                "title": {"type": "plain_text", "text": "Resolve this incident?"},
                "text": {"type": "plain_text", "text": "Incident #42 will be marked resolved for everyone."},
                "confirm": {"type": "plain_text", "text": "Resolve"},
                "deny": {"type": "plain_text", "text": "Cancel"},
            },
        },
    ],
}


def test_bot_mode_posts_chat_post_message_with_buttons(web_api: Recorder, notification: Notification) -> None:
    bot(web_api).send(notification)

    (request,) = web_api.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.headers["content-type"] == "application/json;charset=utf-8"
    payload = request.json
    assert set(payload) == {"channel", "text", "blocks", "unfurl_links", "unfurl_media"}
    assert payload["channel"] == "C0123456789"
    assert payload["text"] == "[CRITICAL] Instance down &lt;api-1&gt; &amp; friends (needs a human)"
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    blocks = payload["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "section", "actions", "context"]
    assert blocks[-2] == EXPECTED_BUTTONS
    assert blocks[-1]["elements"][0]["text"] == "Guardian Test · incident #42 · opened"


def test_bot_mode_takes_a_channel_name_and_username(web_api: Recorder, notification: Notification) -> None:
    bot(web_api, channel="#ops-alerts", username="guardian").send(notification)

    payload = web_api.wait_for(1)[0].json
    assert payload["channel"] == "#ops-alerts"
    assert payload["username"] == "guardian"


@pytest.mark.parametrize(
    ("update", "buttons"),
    [
        ({"transition": "opened"}, True),
        ({"transition": "reopened"}, True),
        ({"transition": "severity_raised"}, True),
        ({"transition": "acknowledged", "action": "acknowledged"}, False),
        ({"transition": "resolved", "action": "resolved"}, False),
        ({"severity": Severity.info}, False),
        ({"action": "auto_acknowledge"}, False),
        (
            {"incidents": [GroupedIncident(incident_id=42, title="a", severity=Severity.high, transition="opened")]},
            False,
        ),
    ],
)
def test_buttons_only_where_a_press_can_change_the_incident(
    web_api: Recorder, notification: Notification, update: dict[str, Any], buttons: bool
) -> None:
    bot(web_api).send(notification.model_copy(update=update))

    assert buttons_of(web_api.wait_for(1)[0].json) == ([EXPECTED_BUTTONS] if buttons else [])


def test_bot_mode_without_interactivity_has_no_buttons(web_api: Recorder, notification: Notification) -> None:
    bot(web_api, interactive=False, signing_secret_env=None).send(notification)

    assert buttons_of(web_api.wait_for(1)[0].json) == []


def test_webhook_buttons_only_when_interactive(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification)
    channel(recorder, interactive=True, signing_secret_env="SLACK_SIGNING_SECRET").send(notification)

    plain, interactive = recorder.wait_for(2)
    assert buttons_of(plain.json) == []
    assert buttons_of(interactive.json) == [EXPECTED_BUTTONS]


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("channel_not_found", "a private channel needs the app invited first"),
        ("not_in_channel", "invite the app to the channel"),
        ("invalid_auth", "check the bot token in bot_token_env"),
        ("invalid_blocks", None),
    ],
)
def test_api_errors_that_fail_the_same_way_again(
    web_api: Recorder,
    notification: Notification,
    caplog: pytest.LogCaptureFixture,
    error: str,
    hint: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    web_api.respond_with(200, {"ok": False, "error": error})
    with pytest.raises(DeliveryFailed) as failed:
        bot(web_api).send(notification)

    assert failed.value.retryable is False
    assert failed.value.retry_after is None
    assert failed.value.reason.startswith(f"slack: POST {web_api.url}/api/chat.postMessage answered 200: {error}")
    if hint:
        assert hint in failed.value.reason
    assert BOT_TOKEN not in failed.value.reason + caplog.text
    assert len(web_api.requests) == 1


def test_missing_scope_names_the_scope(web_api: Recorder, notification: Notification) -> None:
    web_api.respond_with(200, {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "users:read"})
    with pytest.raises(DeliveryFailed) as failed:
        bot(web_api).send(notification)
    assert failed.value.retryable is False
    assert "missing_scope (the bot token needs the scope chat:write)" in failed.value.reason


def test_rate_limit_is_retryable_after_the_wait_slack_asks_for(
    web_api: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    web_api.respond_with(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "7"})
    with pytest.raises(DeliveryFailed) as failed:
        bot(web_api).send(notification)

    assert failed.value.retryable is True
    assert failed.value.retry_after == 7.0
    assert "answered 429: ratelimited" in failed.value.reason
    assert len(web_api.requests) == 1  # the SDK's own rate-limit retry is off
    assert BOT_TOKEN not in failed.value.reason + caplog.text


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable", "request_timeout"])
def test_transient_api_errors_are_retryable(web_api: Recorder, notification: Notification, error: str) -> None:
    web_api.respond_with(200, {"ok": False, "error": error})
    with pytest.raises(DeliveryFailed) as failed:
        bot(web_api).send(notification)
    assert failed.value.retryable is True
    assert failed.value.retry_after is None


def test_an_error_page_echoing_the_token_is_scrubbed(web_api: Recorder, notification: Notification) -> None:
    web_api.respond_with(503, f"<html>upstream down; token {BOT_TOKEN}</html>")
    with pytest.raises(DeliveryFailed) as failed:
        bot(web_api).send(notification)
    assert failed.value.retryable is True
    assert "answered 503" in failed.value.reason
    assert BOT_TOKEN not in failed.value.reason


def test_missing_bot_token_is_a_permanent_failure(notification: Notification) -> None:
    config = SlackConfig(bot_token_env="SLACK_BOT_TOKEN", channel="C1", interactive=False)
    with pytest.raises(DeliveryFailed, match="SLACK_BOT_TOKEN") as failed:
        SlackChannel(config, {}).send(notification)
    assert failed.value.retryable is False


def test_webhook_rate_limit_passes_retry_after_on(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(429, "rate_limited", headers={"Retry-After": "30"})
    with pytest.raises(DeliveryFailed) as failed:
        channel(recorder).send(notification)
    assert failed.value.retryable is True
    assert failed.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"bot_token_env": "T"}, "channel is required with bot_token_env"),
        ({"bot_token_env": "T", "webhook_url_env": "W", "channel": "C1"}, "exclude each other"),
        ({"bot_token_env": "T", "channel": "C1"}, "signing_secret_env is required for the Acknowledge"),
        ({"webhook_url_env": "W", "interactive": True}, "signing_secret_env is required for the Acknowledge"),
        ({"bot_token_env": "T", "channel": "C1", "interactive": False, "api_url": "ftp://x"}, "api_url"),
    ],
)
def test_bot_mode_config_errors_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlackConfig.model_validate(config)


def test_bot_mode_config_defaults() -> None:
    config = SlackConfig.model_validate({"bot_token_env": "T", "channel": "C1", "signing_secret_env": "S"})
    assert config.api_url == "https://slack.com/api/"
    assert config.buttons is True
    assert SlackConfig.model_validate({"webhook_url_env": "W"}).buttons is False


def test_a_grouped_message_lists_its_incidents_and_says_why_it_is_sent(
    recorder: Recorder, notification: Notification
) -> None:
    from liberation_guardian.act.notify.base import GroupedIncident
    from liberation_guardian.events import Severity

    grouped = notification.model_copy(
        update={
            "title": 'service="api"',
            "note": "Still open; sent again every 4h.",
            "incidents": [
                GroupedIncident(
                    incident_id=42,
                    title="Instance down <api-1>",
                    severity=Severity.critical,
                    transition="opened",
                    incident_url="http://guardian.example/incidents/42",
                ),
                GroupedIncident(incident_id=43, title="Latency high", severity=Severity.high, transition="resolved"),
            ],
        }
    )
    channel(recorder).send(grouped)
    (request,) = recorder.wait_for(1)
    body = texts(request.json)
    assert "Still open; sent again every 4h." in body
    assert "• #42 critical: <http://guardian.example/incidents/42|Instance down &lt;api-1&gt;>" in body
    assert "• #43 resolved: Latency high" in body
    assert request.json["text"].startswith('[CRITICAL] 2 incidents: service="api"')
