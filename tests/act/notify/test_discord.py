"""The Discord channel executes a webhook through httpx against a local stand-in speaking Discord's format."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.act.notify.discord import DiscordChannel, DiscordConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder

TOKEN = "tOkEn-0123456789abcdefghijklmnop"
HOOK_PATH = f"/api/webhooks/1234567890123456789/{TOKEN}"


def channel(recorder: Recorder, path: str = HOOK_PATH, **config: Any) -> DiscordChannel:
    settings = DiscordConfig.model_validate({"webhook_url_env": "DISCORD_WEBHOOK_URL", **config})
    return DiscordChannel(settings, {"webhook_url": recorder.url + path})


def sent(recorder: Recorder) -> dict[str, Any]:
    (request,) = recorder.wait_for(1)
    body = request.json
    assert isinstance(body, dict)
    return body


def failure(discord: DiscordChannel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        discord.send(notification)
    return failed.value


def test_executes_the_webhook_with_one_embed(recorder: Recorder, notification: Notification) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == HOOK_PATH + "?wait=true"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("liberation-guardian/")
    body = request.json
    (embed,) = body.pop("embeds")
    assert body == {
        "content": r"\[CRITICAL\] Instance down \<api-1> & friends (needs a human)",
        "allowed_mentions": {"parse": []},
    }
    sent_at = datetime.fromisoformat(embed.pop("timestamp"))
    assert before <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert embed == {
        "title": r"Instance down \<api-1> & friends",
        "url": "http://guardian.example/incidents/42",
        "color": 0xD7263D,
        "description": (
            "api-1:9100 has not answered a scrape for 5 minutes.\n\n"
            "**Why:** Critical severity escalates at once.\nNo known pattern matches.\n\n"
            r"[Incident #42](http://guardian.example/incidents/42) · "
            "[Alertmanager](http://alertmanager.example/#/alerts?x=1|2)"
        ),
        "fields": [
            {"name": "Severity", "value": "critical", "inline": True},
            {"name": "Decision", "value": "escalate (availability)", "inline": True},
            {"name": "Source", "value": "alertmanager", "inline": True},
            {"name": "Service", "value": "api", "inline": True},
            {"name": "Environment", "value": "production", "inline": True},
            {"name": "Occurrences", "value": "3", "inline": True},
        ],
        "footer": {"text": "Guardian Test · incident #42 · opened"},
    }


def test_event_content_cannot_mention_or_link(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={
            "title": "@everyone <@&123456> look",
            "summary": "[reset your password](http://evil.example) ||spoiler|| **loud**",
            "rationale": "# Heading\n- list\n> quote",
            "service": "<#987654>",
        }
    )
    channel(recorder).send(hostile)

    body = sent(recorder)
    assert body["allowed_mentions"] == {"parse": []}
    embed = body["embeds"][0]
    assert body["content"].startswith(r"\[CRITICAL\] \@everyone \<\@&123456> look")
    assert embed["title"] == r"\@everyone \<\@&123456> look"
    assert embed["description"].startswith(
        r"\[reset your password\](http://evil.example) \|\|spoiler\|\| \*\*loud\*\*"
        "\n\n"
        r"**Why:** \# Heading"
        "\n"
        r"\- list"
        "\n"
        r"\> quote"
    )
    assert {"name": "Service", "value": r"\<#987654>", "inline": True} in embed["fields"]


def test_non_web_links_are_not_clickable(recorder: Recorder, notification: Notification) -> None:
    odd = notification.model_copy(
        update={"links": [Link(title="run", url="javascript:alert(1)"), Link(title="p", url="http://x.example/a (b)")]}
    )
    channel(recorder).send(odd)

    description = sent(recorder)["embeds"][0]["description"]
    assert "run: javascript:alert(1)" in description
    assert "](javascript" not in description
    # A `)` or space in a URL would end the link target early; they are percent-encoded.
    assert "[p](http://x.example/a%20%28b%29)" in description


@pytest.mark.parametrize(
    ("transition", "colour", "decided"),
    [
        ("opened", 0xD7263D, True),
        ("reopened", 0xD7263D, True),
        ("severity_raised", 0xD7263D, True),
        ("acknowledged", 0xD7263D, False),
        ("resolved", 0x2EB67D, False),
    ],
)
def test_every_transition_reads_as_such(
    recorder: Recorder, notification: Notification, transition: str, colour: int, decided: bool
) -> None:
    moved = notification.model_copy(update={"transition": transition})
    channel(recorder).send(moved)

    body = sent(recorder)
    embed = body["embeds"][0]
    assert body["content"].replace("\\", "") == moved.headline()
    assert embed["color"] == colour
    assert embed["footer"]["text"] == f"Guardian Test · incident #42 · {transition}"
    names = [field["name"] for field in embed["fields"]]
    assert ("Decision" in names) is decided
    assert ("**Why:**" in embed["description"]) is decided


def test_headline_names_acknowledgement_and_resolution(recorder: Recorder, notification: Notification) -> None:
    discord = channel(recorder)
    discord.send(notification.model_copy(update={"transition": "acknowledged"}))
    discord.send(notification.model_copy(update={"transition": "resolved"}))

    acknowledged, resolved = (request.json["content"] for request in recorder.wait_for(2))
    assert acknowledged.startswith(r"\[ACKNOWLEDGED\]")
    assert resolved.startswith(r"\[RESOLVED\]")


@pytest.mark.parametrize(("severity", "colour"), [("high", 0xF46036), ("medium", 0xF4C430), ("info", 0x95A5A6)])
def test_colour_follows_severity(recorder: Recorder, notification: Notification, severity: str, colour: int) -> None:
    channel(recorder).send(notification.model_copy(update={"severity": Severity(severity)}))

    assert sent(recorder)["embeds"][0]["color"] == colour


def test_long_content_fits_discord_limits(recorder: Recorder, notification: Notification) -> None:
    huge = notification.model_copy(
        update={
            "title": "*" * 3000,
            "summary": "s" * 5000,
            "rationale": "r" * 5000,
            "service": "v" * 2000,
            "links": [Link(title=f"link {i}", url=f"http://x.example/{'p' * 300}/{i}") for i in range(40)],
        }
    )
    channel(recorder).send(huge)

    body = sent(recorder)
    embed = body["embeds"][0]
    assert len(body["content"]) <= 2000
    assert len(embed["title"]) <= 256
    assert embed["title"].endswith("…")
    assert not embed["title"].endswith("\\…")  # an escape is never cut in half
    assert len(embed["description"]) <= 4096
    assert all(len(field["value"]) <= 1024 for field in embed["fields"])
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(field["name"]) + len(field["value"]) for field in embed["fields"])
    assert total <= 6000
    # Links are kept whole or left out, never cut.
    assert embed["description"].count("](") == embed["description"].count("/incidents/42)") + sum(
        embed["description"].count(f"/{i})") for i in range(40)
    )


def test_grouped_message_lists_every_incident(recorder: Recorder, notification: Notification) -> None:
    grouped = notification.model_copy(
        update={
            "note": "Repeat: still unacknowledged after 4 hours",
            "incidents": [
                GroupedIncident(
                    incident_id=7,
                    title="Disk *full*",
                    severity=Severity.high,
                    transition="opened",
                    incident_url="http://guardian.example/incidents/7",
                ),
                GroupedIncident(incident_id=8, title="Queue lag", severity=Severity.low, transition="resolved"),
            ],
        }
    )
    channel(recorder).send(grouped)

    description = sent(recorder)["embeds"][0]["description"]
    assert description.startswith(
        "Repeat: still unacknowledged after 4 hours\n\n"
        r"[\#7](http://guardian.example/incidents/7) · high · Disk \*full\*"
        "\n#8 · resolved · Queue lag\n\n"
    )


def test_username_and_avatar(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, username="Guardian", avatar_url="https://cdn.example/g.png").send(notification)

    body = sent(recorder)
    assert body["username"] == "Guardian"
    assert body["avatar_url"] == "https://cdn.example/g.png"


def test_no_overrides_unless_configured(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification)

    body = sent(recorder)
    assert "username" not in body
    assert "avatar_url" not in body


def test_thread_id_in_the_url_is_kept(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, path=HOOK_PATH + "?thread_id=555").send(notification)

    assert recorder.wait_for(1)[0].path == HOOK_PATH + "?thread_id=555&wait=true"


def test_no_content_answer_is_delivered(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(204, b"")
    channel(recorder).send(notification)


def test_rate_limit_waits_as_long_as_the_body_says(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        429,
        {"message": "You are being rate limited.", "retry_after": 1.377, "global": False},
        headers={"Retry-After": "2", "X-RateLimit-Scope": "shared"},
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert error.retry_after == 1.377
    assert "answered 429 Too Many Requests: You are being rate limited." in error.reason


def test_rate_limit_without_a_body_uses_the_header(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(429, "slow down", headers={"Retry-After": "3"})
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert error.retry_after == 3.0


def test_invalid_form_body_names_the_field(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        400,
        {
            "code": 50035,
            "errors": {
                "embeds": {
                    "0": {
                        "title": {
                            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]
                        }
                    }
                }
            },
            "message": "Invalid Form Body",
        },
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert error.retry_after is None
    assert error.reason == (
        f"discord: POST http://127.0.0.1:{recorder.port}/… answered 400 Bad Request: "
        "Invalid Form Body (code 50035; embeds.0.title: Must be 256 or fewer in length.)"
    )


@pytest.mark.parametrize(
    ("status", "code", "message"), [(404, 10015, "Unknown Webhook"), (401, 50027, "Invalid Webhook Token")]
)
def test_revoked_webhook_is_permanent(
    recorder: Recorder,
    notification: Notification,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: int,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(status, {"message": message, "code": code})
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert f"{message} (code {code})" in error.reason
    assert TOKEN not in error.reason
    assert TOKEN not in caplog.text


def test_server_error_is_retryable(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(502, "<html>Bad Gateway</html>")
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert "answered 502 Bad Gateway: <html>Bad Gateway</html>" in error.reason


@pytest.mark.parametrize("url", [None, "", "file:///etc/passwd", "discord.com/api/webhooks/1/x"])
def test_unusable_url_is_a_permanent_failure(notification: Notification, url: str | None) -> None:
    secrets = {} if url is None else {"webhook_url": url}
    discord = DiscordChannel(DiscordConfig(webhook_url_env="DISCORD_WEBHOOK_URL"), secrets)
    error = failure(discord, notification)

    assert error.retryable is False
    assert "DISCORD_WEBHOOK_URL (webhook_url_env)" in error.reason


def test_config_requires_the_url_variable_when_enabled() -> None:
    with pytest.raises(ValidationError, match="webhook_url_env is required"):
        DiscordConfig.model_validate({"enabled": True})
    assert DiscordConfig.model_validate({"enabled": False}).webhook_url_env is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("username", "Discord Alerts", "usernames containing 'discord'"),
        ("username", "x" * 81, "at most 80 characters"),
        ("avatar_url", "ftp://cdn.example/a.png", "http:// or https://"),
        ("webhook_url", "https://discord.com/api/webhooks/1/x", "Extra inputs are not permitted"),
    ],
)
def test_config_names_the_bad_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as invalid:
        DiscordConfig.model_validate({"webhook_url_env": "DISCORD_WEBHOOK_URL", key: value})
    assert invalid.value.errors()[0]["loc"] == (key,)


def test_body_is_compact_utf8_json(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"title": "Zeitüberschreitung ☕"}))

    raw = recorder.wait_for(1)[0].body
    assert "Zeitüberschreitung ☕".encode() in raw
    assert json.loads(raw)["embeds"][0]["title"] == "Zeitüberschreitung ☕"
