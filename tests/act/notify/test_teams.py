"""The Teams channel posts an Adaptive Card through httpx to a local stand-in for a Workflows webhook."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.act.notify.teams import TeamsChannel, TeamsConfig
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder

SIG = "kX9-sigSIGsig_0123456789abcdefABCDEF"
INVOKE = (
    "/powerautomate/automations/direct/workflows/5d1b9c/triggers/manual/paths/invoke"
    f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
)


def channel(recorder: Recorder, path: str = INVOKE) -> TeamsChannel:
    return TeamsChannel(TeamsConfig(webhook_url_env="TEAMS_WEBHOOK_URL"), {"webhook_url": recorder.url + path})


def card(recorder: Recorder) -> dict[str, Any]:
    """The card of the one message posted, after checking the envelope around it."""
    (request,) = recorder.wait_for(1)
    message = request.json
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content = attachment["content"]
    assert isinstance(content, dict)
    return content


def failure(teams: TeamsChannel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        teams.send(notification)
    return failed.value


def test_posts_an_adaptive_card(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(202, b"")
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == INVOKE
    assert request.headers["content-type"] == "application/json"
    assert card(recorder) == {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": r"\[CRITICAL\] Instance down \<api-1> & friends (needs a human)",
                "wrap": True,
                "weight": "Bolder",
                "size": "Medium",
                "color": "Attention",
            },
            {"type": "TextBlock", "text": "api-1:9100 has not answered a scrape for 5 minutes.", "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Severity", "value": "critical"},
                    {"title": "Decision", "value": "escalate (availability)"},
                    {"title": "Source", "value": "alertmanager"},
                    {"title": "Service", "value": "api"},
                    {"title": "Environment", "value": "production"},
                    {"title": "Occurrences", "value": "3"},
                ],
            },
            {
                "type": "TextBlock",
                "text": "**Why:** Critical severity escalates at once.\nNo known pattern matches.",
                "wrap": True,
            },
            {
                "type": "TextBlock",
                "text": "Guardian Test · incident #42 · opened",
                "wrap": True,
                "isSubtle": True,
                "size": "Small",
            },
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open incident", "url": "http://guardian.example/incidents/42"},
            {"type": "Action.OpenUrl", "title": "Alertmanager", "url": "http://alertmanager.example/#/alerts?x=1|2"},
        ],
        "msteams": {"width": "Full"},
    }


def test_event_content_is_markdown_escaped(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(
        update={
            "title": "[Click to fix](http://evil.example)",
            "summary": "**urgent** _now_\n1. step one\n- item",
            "environment": "`prod`",
        }
    )
    channel(recorder).send(hostile)

    body = card(recorder)["body"]
    assert body[0]["text"] == r"\[CRITICAL\] \[Click to fix\](http://evil.example) (needs a human)"
    assert body[1]["text"] == r"\*\*urgent\*\* \_now\_" "\n" r"1\. step one" "\n" r"\- item"
    assert {"title": "Environment", "value": r"\`prod\`"} in body[2]["facts"]


def test_only_web_links_become_buttons(recorder: Recorder, notification: Notification) -> None:
    links = [Link(title="run", url="javascript:alert(1)")] + [
        Link(title=f"graph {i}", url=f"https://grafana.example/d/{i}") for i in range(10)
    ]
    channel(recorder).send(notification.model_copy(update={"links": links}))

    actions = card(recorder)["actions"]
    assert [action["title"] for action in actions] == ["Open incident"] + [f"graph {i}" for i in range(5)]
    assert all(action["url"].startswith(("http://", "https://")) for action in actions)


@pytest.mark.parametrize(
    ("transition", "colour", "decided"),
    [
        ("opened", "Attention", True),
        ("reopened", "Attention", True),
        ("severity_raised", "Attention", True),
        ("acknowledged", None, False),
        ("resolved", "Good", False),
    ],
)
def test_every_transition_reads_as_such(
    recorder: Recorder, notification: Notification, transition: str, colour: str | None, decided: bool
) -> None:
    moved = notification.model_copy(update={"transition": transition})
    channel(recorder).send(moved)

    body = card(recorder)["body"]
    assert body[0]["text"].replace("\\", "") == moved.headline()
    assert body[0].get("color") == colour
    assert body[-1]["text"] == f"Guardian Test · incident #42 · {transition.replace('_', ' ')}"
    facts = next(block["facts"] for block in body if block["type"] == "FactSet")
    assert any(fact["title"] == "Decision" for fact in facts) is decided
    assert any(block.get("text", "").startswith("**Why:**") for block in body) is decided


@pytest.mark.parametrize(("severity", "colour"), [("high", "Attention"), ("medium", None), ("info", None)])
def test_only_critical_and_high_are_red(
    recorder: Recorder, notification: Notification, severity: str, colour: str | None
) -> None:
    channel(recorder).send(notification.model_copy(update={"severity": Severity(severity)}))

    assert card(recorder)["body"][0].get("color") == colour


def test_grouped_message_lists_every_incident(recorder: Recorder, notification: Notification) -> None:
    grouped = notification.model_copy(
        update={
            "note": "Escalation step 2",
            "incidents": [
                GroupedIncident(incident_id=7, title="Disk *full*", severity=Severity.high, transition="opened"),
                GroupedIncident(incident_id=8, title="Queue lag", severity=Severity.low, transition="resolved"),
            ],
        }
    )
    channel(recorder).send(grouped)

    texts = [block.get("text") for block in card(recorder)["body"]]
    assert texts[1:4] == ["Escalation step 2", r"#7 · high · Disk \*full\*", "#8 · resolved · Queue lag"]


def test_long_text_is_clipped(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"title": "t" * 2000, "summary": "_" * 9000}))

    body = card(recorder)["body"]
    assert len(body[0]["text"]) == 400
    assert len(body[1]["text"]) <= 3000
    assert body[1]["text"].endswith("\\_…")  # escapes are never cut in half


def test_legacy_connector_answer_is_delivered(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(200, "1")
    channel(recorder, "/webhookb2/abc@def/IncomingWebhook/0123456789/xyz").send(notification)

    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("status", "retryable"), [("429", True), ("413", False)])
def test_legacy_connector_refusal_in_a_200(
    recorder: Recorder, notification: Notification, status: str, retryable: bool
) -> None:
    recorder.respond_with(
        200,
        f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status} "
        "with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..",
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is retryable
    assert "answered 200 but did not post: Webhook message delivery failed" in error.reason
    assert f"HTTP error {status}" in error.reason


def test_throttled_flow_is_retried_after_the_asked_wait(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(
        429,
        {"error": {"code": "WorkflowTriggerIsThrottled", "message": "The workflow is being throttled."}},
        headers={"Retry-After": "17"},
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert error.retry_after == 17.0
    assert (
        "answered 429 Too Many Requests: WorkflowTriggerIsThrottled: The workflow is being throttled." in error.reason
    )


def test_bad_request_quotes_the_flow(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(
        400,
        {"error": {"code": "InvalidRequestContent", "message": "The input body for trigger 'manual' is not valid."}},
    )
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert error.retry_after is None
    assert error.reason == (
        f"teams: POST http://127.0.0.1:{recorder.port}/… answered 400 Bad Request: "
        "InvalidRequestContent: The input body for trigger 'manual' is not valid."
    )
    assert SIG not in caplog.text


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (404, False), (502, True)])
def test_other_answers(recorder: Recorder, notification: Notification, status: int, retryable: bool) -> None:
    recorder.respond_with(status, f"plain error page for {SIG}")
    error = failure(channel(recorder), notification)

    assert error.retryable is retryable
    assert f"answered {status}" in error.reason
    assert SIG not in error.reason


@pytest.mark.parametrize("url", [None, "", "teams.example/hook", "file:///etc/hosts"])
def test_unusable_url_is_a_permanent_failure(notification: Notification, url: str | None) -> None:
    secrets = {} if url is None else {"webhook_url": url}
    error = failure(TeamsChannel(TeamsConfig(webhook_url_env="TEAMS_WEBHOOK_URL"), secrets), notification)

    assert error.retryable is False
    assert "TEAMS_WEBHOOK_URL (webhook_url_env)" in error.reason


def test_config_requires_the_url_variable_when_enabled() -> None:
    with pytest.raises(ValidationError, match="webhook_url_env is required"):
        TeamsConfig.model_validate({})
    assert TeamsConfig.model_validate({"enabled": False}).webhook_url_env is None
    with pytest.raises(ValidationError, match="Extra inputs are not permitted") as invalid:
        TeamsConfig.model_validate({"webhook_url_env": "X", "webhook_url": "https://example.webhook.office.com/x"})
    assert invalid.value.errors()[0]["loc"] == ("webhook_url",)
