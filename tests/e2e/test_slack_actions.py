"""Slack's Acknowledge and Resolve buttons, end to end.

A real server posts to a Slack Web API stand-in in bot mode; the test takes the incident
id from the button in the posted message, presses it the way Slack does (a signed
`application/x-www-form-urlencoded` `payload=` POST to /slack/interactions) and checks
the incident through the API and the acknowledgement the channels then receive. The
signature is computed here from Slack's documented recipe, not by the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from liberation_guardian.config import load_text
from tests.fixtures.recorder import Recorder, Response
from tests.fixtures.server import RunningServer, running_server

TOKEN = "test-admin-token"
BOT_TOKEN = "xoxb-1111-2222-e2eBotTokenValue"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

CONFIG = """\
core:
  name: "Guardian under test"
  database_url: "sqlite:///{tmp}/guardian.db"
  admin_token_env: "GUARDIAN_ADMIN_TOKEN"
integrations:
  observability:
    prometheus:
      enabled: true
  notifications:
    slack:
      enabled: true
      {slack}
    webhook:
      enabled: true
      url_env: "OUTGOING_WEBHOOK_URL"
delivery:
  initial_backoff_seconds: 0.1
  max_backoff_seconds: 0.5
routing:
  receivers:
    team: {{channels: [slack, webhook]}}
  route:
    receiver: team
    group_by: [incident]
    group_wait: 0s
    group_interval: 0s
"""
BOT_MODE = """bot_token_env: "SLACK_BOT_TOKEN"
      channel: "C0123456789"
      signing_secret_env: "SLACK_SIGNING_SECRET"
      api_url: "{api}/api\""""
WEBHOOK_MODE = 'webhook_url_env: "SLACK_WEBHOOK_URL"'

ALERT = {
    "version": "4",
    "groupKey": '{}:{alertname="DiskFull"}',
    "status": "firing",
    "receiver": "guardian",
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "severity": "warning"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "warning"},
            "annotations": {"summary": "Disk on db-1 is 95% full"},
            "startsAt": "2026-05-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": "a1b2c3d4e5f60718",
        }
    ],
}


@contextmanager
def start(tmp_path: Path, slack_keys: str, slack: Recorder, hooks: Recorder) -> Iterator[RunningServer]:
    """A whole instance whose slack channel is configured with `slack_keys`."""
    env = {
        "GUARDIAN_ADMIN_TOKEN": TOKEN,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_WEBHOOK_URL": slack.url + "/services/T000/B000/XXXXSECRET",
        "OUTGOING_WEBHOOK_URL": hooks.url + "/hook",
    }
    text = CONFIG.format(tmp=tmp_path, slack=slack_keys.format(api=slack.url))
    config = load_text(text, env, base_dir=tmp_path)
    config.require_secrets()
    with running_server(config) as server:
        yield server


@pytest.fixture
def slack() -> Iterator[Recorder]:
    """The Slack Web API stand-in: every chat.postMessage succeeds."""
    with Recorder(default=Response(200, {"ok": True, "channel": "C0123456789", "ts": "1712345678.000100"})) as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


@pytest.fixture
def server(tmp_path: Path, slack: Recorder, hooks: Recorder) -> Iterator[RunningServer]:
    with start(tmp_path, BOT_MODE, slack, hooks) as running:
        yield running


def fire(server: RunningServer) -> None:
    assert httpx.post(server.url + "/webhook/alertmanager", json=ALERT).status_code == 202


def button_value(request_json: dict[str, Any], action_id: str) -> str:
    """The value of the button `action_id` in a posted message."""
    (actions,) = [block for block in request_json["blocks"] if block["type"] == "actions"]
    return next(e["value"] for e in actions["elements"] if e["action_id"] == action_id)


def press(action_id: str, value: str, *, username: str = "ana.lopez") -> bytes:
    """The form body Slack sends when `username` presses a button."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ABC1234", "username": username, "name": username, "team_id": "T0ABC1234"},
        "api_app_id": "A0ABC1234",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": "1712345678.000100", "channel_id": "C0123456789"},
        "trigger_id": "1234567890.1234567890.abcdef",
        "team": {"id": "T0ABC1234", "domain": "example"},
        "channel": {"id": "C0123456789", "name": "ops-alerts"},
        "response_url": "https://hooks.slack.com/actions/T0ABC1234/1234567890/abcdef",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "guardian_incident_actions",
                "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": "1712345680.123456",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def post(server: RunningServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + "/slack/interactions", content=body, headers=headers)


def incident(server: RunningServer, incident_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/incidents/{incident_id}", headers=AUTH)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_acknowledge_button_acknowledges_and_tells_the_channels(
    server: RunningServer, slack: Recorder, hooks: Recorder
) -> None:
    fire(server)
    (opened,) = slack.wait_for(1, timeout=15)
    assert opened.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    hooks.wait_for(1, timeout=15)
    incident_id = button_value(opened.json, "guardian_acknowledge")
    assert incident(server, incident_id)["status"] == "open"

    body = press("guardian_acknowledge", incident_id)
    answer = post(server, body, signed(body))  # no admin token: the signature is the authentication

    assert answer.status_code == 200
    assert answer.content == b""
    acknowledged = incident(server, incident_id)
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == "slack:ana.lopez"
    # Both channels that heard of the incident hear of the acknowledgement; Slack's message has no buttons.
    _, ack = slack.wait_for(2, timeout=15)
    assert ack.path == "/api/chat.postMessage"
    assert ack.json["text"] == "[ACKNOWLEDGED] Disk on db-1 is 95% full"
    assert [b for b in ack.json["blocks"] if b["type"] == "actions"] == []
    _, hook_ack = hooks.wait_for(2, timeout=15)
    assert hook_ack.json["transition"] == "acknowledged"
    assert "Acknowledged by slack:ana.lopez." in hook_ack.json["summary"]

    # A second press (a new, valid request) on an acknowledged incident changes nothing.
    again = press("guardian_acknowledge", incident_id, username="someone.else")
    assert post(server, again, signed(again)).status_code == 200
    assert incident(server, incident_id)["acknowledged_by"] == "slack:ana.lopez"
    time.sleep(0.5)
    assert len(slack.requests) == 2 and len(hooks.requests) == 2


def test_resolve_button_and_a_replay_of_it(server: RunningServer, slack: Recorder) -> None:
    fire(server)
    (opened,) = slack.wait_for(1, timeout=15)
    incident_id = button_value(opened.json, "guardian_resolve")
    body = press("guardian_resolve", incident_id)
    headers = signed(body)

    assert post(server, body, headers).status_code == 200
    resolved = incident(server, incident_id)
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "slack:ana.lopez"
    assert slack.wait_for(2, timeout=15)[1].json["text"] == "[RESOLVED] Disk on db-1 is 95% full"

    # The alert fires again: the incident reopens, and its new message carries the buttons again.
    fire(server)
    reopened = slack.wait_for(3, timeout=15)[2]
    assert button_value(reopened.json, "guardian_resolve") == incident_id
    assert incident(server, incident_id)["status"] == "open"

    # Replaying the captured resolve callback (still inside Slack's five minutes) does not resolve it again.
    replay = post(server, body, headers)
    assert replay.status_code == 200
    assert incident(server, incident_id)["status"] == "open"


def unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, secret="not-the-signing-secret")


def tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    # Signed as it was, then someone else's name put in.
    return body.replace(b"ana.lopez", b"mallory"), signed(body)


def stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=int(time.time()) - 301)


def not_a_time(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed(body), "X-Slack-Request-Timestamp": "yesterday"}


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (unsigned, "missing X-Slack-Request-Timestamp or X-Slack-Signature header"),
        (wrong_secret, "X-Slack-Signature does not match the signing secret"),
        (tampered, "X-Slack-Signature does not match the signing secret"),
        (stale, "X-Slack-Request-Timestamp is more than 5 minutes from now"),
        (not_a_time, "X-Slack-Request-Timestamp is not a Unix time"),
    ],
)
def test_unsigned_forged_and_stale_callbacks_are_refused(
    server: RunningServer,
    slack: Recorder,
    spoil: Callable[[bytes], tuple[bytes, dict[str, str]]],
    reason: str,
) -> None:
    fire(server)
    (opened,) = slack.wait_for(1, timeout=15)
    incident_id = button_value(opened.json, "guardian_acknowledge")
    body, headers = spoil(press("guardian_acknowledge", incident_id))

    answer = post(server, body, headers)

    assert answer.status_code == 401
    assert reason in answer.json()["error"]
    assert incident(server, incident_id)["status"] == "open"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not=a&payload=", "form field payload is missing"),
        (urlencode({"payload": "{not json"}).encode(), "payload is not JSON"),
        (press("guardian_acknowledge", "forty-two"), "payload.actions[0].value is not an incident id"),
    ],
)
def test_unreadable_payloads_are_400(server: RunningServer, body: bytes, reason: str) -> None:
    answer = post(server, body, signed(body))

    assert answer.status_code == 400
    assert reason in answer.json()["error"]


def test_unknown_incident_and_other_interactions_are_answered_and_logged(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liberation_guardian.receive.slack_actions")
    unknown = press("guardian_acknowledge", "999999")
    assert post(server, unknown, signed(unknown)).status_code == 200
    assert any(
        r.getMessage() == "slack button for an unknown incident" and getattr(r, "incident_id", None) == 999999
        for r in caplog.records
    )
    shortcut = urlencode({"payload": json.dumps({"type": "shortcut", "callback_id": "x"})}).encode()
    assert post(server, shortcut, signed(shortcut)).status_code == 200


def test_without_a_signing_secret_the_endpoint_is_not_there(tmp_path: Path, slack: Recorder, hooks: Recorder) -> None:
    with start(tmp_path, WEBHOOK_MODE, slack, hooks) as server:
        body = press("guardian_acknowledge", "1")
        answer = post(server, body, signed(body))
        assert answer.status_code == 404
        assert answer.json()["error"] == "slack interactivity is not configured"
