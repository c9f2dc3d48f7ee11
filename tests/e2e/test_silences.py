"""The silences API, shaped like Alertmanager's, end to end: a silenced alert reaches nobody."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.conftest import Stack


def test_create_list_honour_and_expire_a_silence(stack: Stack, fixtures_dir: Path) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = {
        "matchers": [{"name": "alertname", "value": "Instance.*", "isRegex": True, "isEqual": True}],
        "endsAt": ends,
        "createdBy": "ana",
        "comment": "host maintenance",
    }
    created = httpx.post(stack.url + "/api/silences", json=body, headers=stack.auth)
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    assert created.json()["status"] == {"state": "active"}

    listed = httpx.get(stack.url + "/api/silences", headers=stack.auth).json()
    assert [s["id"] for s in listed] == [silence_id]
    assert listed[0]["matchers"] == body["matchers"] and listed[0]["createdBy"] == "ana"

    # Alertmanager's example: two "InstanceDown"-style alerts; both silenced, nothing is sent.
    alert = json.loads((fixtures_dir / "alertmanager" / "firing-grouped.json").read_text())
    for item in alert["alerts"]:
        item["labels"]["alertname"] = "InstanceDown"
    assert httpx.post(stack.url + "/webhook/alertmanager", json=alert).status_code == 202
    stack.server.wait_until(
        lambda: httpx.get(stack.url + "/api/decisions", headers=stack.auth).json()["total"] == 2, what="decisions"
    )
    assert stack.slack.requests == [] and stack.hooks.requests == []

    expired = httpx.delete(f"{stack.url}/api/silences/{silence_id}", headers=stack.auth)
    assert expired.status_code == 200 and expired.json()["status"] == {"state": "expired"}
    # Held back, not lost: once the silence is gone the alerts go out.
    stack.slack.wait_for(1, timeout=70)


def test_bad_silences_get_a_reason(stack: Stack) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases = [
        ({"matchers": [], "endsAt": ends, "createdBy": "a"}, 400, "at least one matcher"),
        (
            {"matchers": [{"name": "x", "value": ".*", "isRegex": True}], "endsAt": ends, "createdBy": "a"},
            400,
            "mute everything",
        ),
        (
            {"matchers": [{"name": "x", "value": "(", "isRegex": True}], "endsAt": ends, "createdBy": "a"},
            400,
            "not a valid regular expression",
        ),
        ({"matchers": [{"name": "x", "value": "y"}], "endsAt": "2020-01-01T00:00:00Z", "createdBy": "a"}, 400, "past"),
        ({"matchers": [{"name": "x", "value": "y"}], "createdBy": "a"}, 422, "endsAt"),
    ]
    for body, status, reason in cases:
        answer = httpx.post(stack.url + "/api/silences", json=body, headers=stack.auth)
        assert answer.status_code == status, (body, answer.text)
        assert reason in answer.json()["error"]
    missing = httpx.delete(stack.url + "/api/silences/nope", headers=stack.auth)
    assert missing.status_code == 404
    assert httpx.get(stack.url + "/api/silences").status_code == 401
