"""The Slack channel posts Block Kit through the real slack_sdk client to a local Slack stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.slack import SlackChannel, SlackConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Link
from tests.fixtures.recorder import Recorder

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
