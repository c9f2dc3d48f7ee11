"""The Telegram channel calls `sendMessage` through httpx against a local stand-in for the Bot API."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.act.notify.telegram import TelegramChannel, TelegramConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder

SECRET_PART = "AAH-x9Yz_SecretPartOfTheToken012"
TOKEN = f"7012345678:{SECRET_PART}"
SENT_OK = {"ok": True, "result": {"message_id": 73, "chat": {"id": -1001234567890, "type": "supergroup"}}}


def channel(recorder: Recorder, **config: Any) -> TelegramChannel:
    settings = TelegramConfig.model_validate(
        {"bot_token_env": "TELEGRAM_BOT_TOKEN", "chat_id": -1001234567890, "api_url": recorder.url, **config}
    )
    return TelegramChannel(settings, {"bot_token": TOKEN})


def sent(recorder: Recorder) -> dict[str, Any]:
    (request,) = recorder.wait_for(1)
    body = request.json
    assert isinstance(body, dict)
    return body


def visible(text: str) -> str:
    """What a reader sees of a Telegram HTML text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def failure(telegram: TelegramChannel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        telegram.send(notification)
    return failed.value


def test_sends_an_html_message(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(200, SENT_OK)
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "chat_id": -1001234567890,
        "text": (
            "<b>[CRITICAL] Instance down &lt;api-1&gt; &amp; friends (needs a human)</b>\n\n"
            "api-1:9100 has not answered a scrape for 5 minutes.\n\n"
            "<b>Severity: </b>critical, source alertmanager, service api, environment production, 3 occurrences\n"
            "<b>Decision: </b>escalate (availability)\n"
            "<b>Why: </b>Critical severity escalates at once.\nNo known pattern matches.\n\n"
            '<a href="http://guardian.example/incidents/42">Incident #42</a> · '
            '<a href="http://alertmanager.example/#/alerts?x=1|2">Alertmanager</a>\n\n'
            "Guardian Test · incident #42 · opened"
        ),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "disable_notification": False,
    }


def test_event_content_cannot_add_markup(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={
            "title": '<a href="http://evil.example">Reset password</a>',
            "summary": "<b>bold</b> & <tg-spoiler>x</tg-spoiler>",
            "links": [Link(title="</a><b>", url='http://x.example/?q="><script>')],
        }
    )
    channel(recorder).send(hostile)

    text = sent(recorder)["text"]
    tags = re.findall(r"<[^>]*>", text)
    assert set(tags) <= {"<b>", "</b>", "</a>"} | {t for t in tags if t.startswith('<a href="http')}
    assert "&lt;a href=&quot;" not in text  # quotes need no escaping outside attributes
    assert '&lt;a href="http://evil.example"&gt;Reset password&lt;/a&gt;' in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;tg-spoiler&gt;x&lt;/tg-spoiler&gt;" in text
    assert '<a href="http://x.example/?q=&quot;&gt;&lt;script&gt;">&lt;/a&gt;&lt;b&gt;</a>' in text


def test_non_web_links_are_text(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"links": [Link(title="run", url="tg://resolve?x=1")]}))

    text = sent(recorder)["text"]
    assert "run: tg://resolve?x=1" in text
    assert 'href="tg:' not in text


@pytest.mark.parametrize(
    ("transition", "decided"),
    [("opened", True), ("reopened", True), ("severity_raised", True), ("acknowledged", False), ("resolved", False)],
)
def test_every_transition_reads_as_such(
    recorder: Recorder, notification: Notification, transition: str, decided: bool
) -> None:
    moved = notification.model_copy(update={"transition": transition})
    channel(recorder).send(moved)

    text = visible(sent(recorder)["text"])
    assert text.startswith(moved.headline() + "\n")
    assert text.endswith(f"incident #42 · {transition}")
    assert ("Decision: " in text) is decided
    assert ("Why: " in text) is decided


@pytest.mark.parametrize(("severity", "silent"), [("critical", False), ("high", False), ("low", True), ("info", True)])
def test_low_severities_arrive_silently(
    recorder: Recorder, notification: Notification, severity: str, silent: bool
) -> None:
    channel(recorder).send(notification.model_copy(update={"severity": Severity(severity)}))

    assert sent(recorder)["disable_notification"] is silent


def test_forum_topic_and_channel_username(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, chat_id="@ops_alerts", message_thread_id=42).send(notification)

    body = sent(recorder)
    assert body["chat_id"] == "@ops_alerts"
    assert body["message_thread_id"] == 42


def test_no_topic_unless_configured(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification)

    assert "message_thread_id" not in sent(recorder)


def test_grouped_message_lists_every_incident(recorder: Recorder, notification: Notification) -> None:
    grouped = notification.model_copy(
        update={
            "note": "Still open after 4 hours",
            "incidents": [
                GroupedIncident(
                    incident_id=7,
                    title="Disk <full>",
                    severity=Severity.high,
                    transition="opened",
                    incident_url="http://guardian.example/incidents/7",
                ),
                GroupedIncident(incident_id=8, title="Queue lag", severity=Severity.low, transition="resolved"),
            ],
        }
    )
    channel(recorder).send(grouped)

    text = sent(recorder)["text"]
    assert (
        "\nStill open after 4 hours\n\n"
        '<a href="http://guardian.example/incidents/7">#7</a> [high] Disk &lt;full&gt;\n'
        "#8 [resolved] Queue lag\n\n"
    ) in text


def test_text_fits_4096_characters_as_telegram_counts_them(recorder: Recorder, notification: Notification) -> None:
    # Each emoji is two UTF-16 code units; escaped `&` is one visible character but five bytes of markup.
    huge = notification.model_copy(
        update={
            "summary": "&" * 1000,
            "rationale": "🔥" * 3000,
            "note": "n" * 3000,
            "links": [Link(title=f"link {i}", url=f"https://x.example/{i}") for i in range(300)],
        }
    )
    channel(recorder).send(huge)

    text = sent(recorder)["text"]
    shown = visible(text)
    assert len(shown.encode("utf-16-le")) // 2 <= 4096
    assert shown.count("&") == 1000 + 1  # the summary whole, and the one in the title
    assert text.count("<a ") == text.count("</a>")  # no link is cut open
    # Long free text is capped, so the incident link survives; the links that do not fit are left out whole.
    assert '<a href="http://guardian.example/incidents/42">Incident #42</a>' in text
    assert shown.endswith("…")


@pytest.mark.parametrize(
    ("status", "description", "retryable"),
    [
        (400, "Bad Request: chat not found", False),
        (403, "Forbidden: bot was kicked from the supergroup chat", False),
        (401, "Unauthorized", False),
        (502, "Bad Gateway", True),
    ],
)
def test_telegram_description_is_in_the_reason(
    recorder: Recorder, notification: Notification, status: int, description: str, retryable: bool
) -> None:
    recorder.respond_with(status, {"ok": False, "error_code": status, "description": description})
    error = failure(channel(recorder), notification)

    assert error.retryable is retryable
    assert error.reason.startswith(f"telegram: POST {recorder.url}/bot…/sendMessage answered {status} ")
    assert error.reason.endswith(f": {description}")


def test_rate_limit_waits_as_long_as_telegram_says(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 35",
            "parameters": {"retry_after": 35},
        },
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert error.retry_after == 35.0
    assert error.reason.endswith("answered 429 Too Many Requests: Too Many Requests: retry after 35")


def test_upgraded_group_names_the_new_chat(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1009876543210},
        },
    )
    error = failure(channel(recorder, chat_id=-4567), notification)

    assert error.retryable is False
    assert "(set chat_id to -1009876543210)" in error.reason


def test_an_ok_false_answer_is_not_delivered(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(200, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert "Bad Request: message is too long" in error.reason


def test_the_token_never_reaches_logs_or_reasons(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(404, {"ok": False, "error_code": 404, "description": f"Not Found: bot{TOKEN}"})
    error = failure(channel(recorder), notification)
    channel(recorder).send(notification)

    assert len(recorder.wait_for(2)) == 2
    assert "HTTP Request: POST" in caplog.text
    for text in (error.reason, caplog.text):
        assert SECRET_PART not in text
        assert TOKEN not in text


@pytest.mark.parametrize("token", [None, "", "not-a-token", "123:abc/../../x", "123:abc def", "123:abc\n"])
def test_unusable_token_is_a_permanent_failure(
    recorder: Recorder, notification: Notification, token: str | None
) -> None:
    settings = TelegramConfig(bot_token_env="TELEGRAM_BOT_TOKEN", chat_id=1, api_url=recorder.url)
    error = failure(TelegramChannel(settings, {} if token is None else {"bot_token": token}), notification)

    assert error.retryable is False
    assert "TELEGRAM_BOT_TOKEN (bot_token_env)" in error.reason
    assert recorder.requests == []


def test_default_api_url_is_telegrams() -> None:
    assert TelegramConfig(bot_token_env="T", chat_id=1).api_url == "https://api.telegram.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(-1001234567890, -1001234567890), ("-1001234567890", -1001234567890), ("@ops_alerts", "@ops_alerts")],
)
def test_chat_id_forms(raw: int | str, expected: int | str) -> None:
    assert TelegramConfig(bot_token_env="T", chat_id=raw).chat_id == expected


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"chat_id": 1}, None, "bot_token_env is required"),
        ({"bot_token_env": "T"}, None, "chat_id is required"),
        ({}, None, "bot_token_env and chat_id are required"),
        ({"bot_token_env": "T", "chat_id": "ops alerts"}, "chat_id", "numeric chat id or @channelusername"),
        ({"bot_token_env": "T", "chat_id": "@ab"}, "chat_id", "numeric chat id or @channelusername"),
        ({"bot_token_env": "T", "chat_id": 1, "message_thread_id": 0}, "message_thread_id", "greater than 0"),
        ({"bot_token_env": "T", "chat_id": 1, "api_url": "ftp://x"}, "api_url", "http:// or https://"),
        ({"bot_token_env": "T", "chat_id": 1, "bot_token": "1:x"}, "bot_token", "Extra inputs"),
    ],
)
def test_config_names_the_bad_key(config: dict[str, Any], key: str | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as invalid:
        TelegramConfig.model_validate(config)
    if key is not None:
        assert invalid.value.errors()[0]["loc"][0] == key


def test_disabled_needs_nothing() -> None:
    assert TelegramConfig.model_validate({"enabled": False}).chat_id is None
