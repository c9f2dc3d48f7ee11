"""Bad requests get their documented status and a reason, and the server keeps serving."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SECRETS, Stack
from tests.e2e.test_spine import sentry_headers


def signed(body: bytes) -> dict[str, str]:
    return sentry_headers(body, "issue")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "reason"),
    [
        ("sentry", b"{}", {"Sentry-Hook-Signature": "0" * 64}, 401, "does not match"),
        ("sentry", b"{}", {}, 401, "missing signature"),
        ("sentry", b'{"action": "created", "data": {"issue": {', None, 400, "not valid JSON"),
        ("sentry", b'[{"action": "created"}]', None, 422, "JSON object"),
        ("alertmanager", b'{"version": "4", "alerts": [', {}, 400, "not valid JSON"),
        ("alertmanager", b"[1, 2, 3]", {}, 422, "JSON object"),
        ("alertmanager", b"\xff\xfe\x00garbage", {}, 400, ""),
        ("nosuchtool", b"{}", {}, 404, "no enabled source"),
        ("grafana", b"{}", {"X-Grafana-Alerting-Signature": "abc"}, 401, ""),
        ("generic", b'{"title": "x"}', {}, 401, "X-API-Key"),
        ("generic", b'{"title": "x"}', {"X-API-Key": "wrong"}, 401, "X-API-Key"),
    ],
)
def test_bad_requests_get_a_status_and_a_reason(
    stack: Stack, path: str, body: bytes, headers: dict[str, str] | None, status: int, reason: str
) -> None:
    answer = httpx.post(
        f"{stack.url}/webhook/{path}", content=body, headers=signed(body) if headers is None else headers
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["status"] == status
    assert reason in answer.json()["error"]


def test_a_payload_of_another_tool_is_refused_with_a_reason(stack: Stack, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "grafana" / "alerting-webhook-firing.json").read_bytes()
    answer = httpx.post(stack.url + "/webhook/sentry", content=body, headers=signed(body))
    assert answer.status_code == 422
    assert answer.json()["error"]
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    answer = httpx.post(stack.url + "/webhook/alertmanager", content=body)
    assert answer.status_code == 422
    assert "alerts" in answer.json()["error"]


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(stack: Stack) -> None:
    body = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {"X-API-Key": SECRETS["GENERIC_API_KEY"]}
    answer = httpx.post(stack.url + "/webhook/generic", content=body, headers=headers)
    assert answer.status_code == 413
    assert "over the limit of 1048576 bytes" in answer.json()["error"]

    def chunks() -> object:
        yield b'{"title": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    streamed = httpx.post(stack.url + "/webhook/generic", content=chunks(), headers=headers)  # type: ignore[arg-type]
    assert streamed.status_code == 413


def test_the_server_keeps_serving_and_stored_nothing_it_refused(stack: Stack, fixtures_dir: Path) -> None:
    for body in (b"{", b"[]", b"null", b'"text"', b"", b"{}" * 10):
        httpx.post(stack.url + "/webhook/alertmanager", content=body)
    good = (fixtures_dir / "alertmanager" / "firing-grouped.json").read_bytes()
    answer = httpx.post(stack.url + "/webhook/alertmanager", content=good)
    assert answer.status_code == 202
    events = httpx.get(stack.url + "/api/events", headers=stack.auth).json()
    assert events["total"] == 2
    assert httpx.get(stack.url + "/healthz").status_code == 200


def test_a_valid_hmac_over_different_bytes_is_refused(stack: Stack, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    signature = hmac.new(SECRETS["SENTRY_WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    tampered = body.replace(b"blooopy", b"bloopy!")
    headers = {"Sentry-Hook-Signature": signature, "Sentry-Hook-Resource": "issue"}
    assert httpx.post(stack.url + "/webhook/sentry", content=tampered, headers=headers).status_code == 401
    assert httpx.post(stack.url + "/webhook/sentry", content=body, headers=headers).status_code == 202


def test_webhooks_take_only_post(stack: Stack) -> None:
    answer = httpx.get(stack.url + "/webhook/alertmanager")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json() == {"error": "webhooks are sent with POST", "status": 405}
