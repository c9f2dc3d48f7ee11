"""Bad requests get their documented status and a reason, and the server keeps serving."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx
import pytest

from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError
from tests.e2e.conftest import SECRETS, Stack
from tests.e2e.test_spine import sentry_headers
from tests.fixtures.server import running_server


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


def test_allowed_ips_and_the_rate_limit_guard_a_source(tmp_path: Path) -> None:
    text = f"""
core:
  database_url: "sqlite:///{tmp_path}/g.db"
integrations:
  observability:
    prometheus:
      rate_limit_per_minute: 3
    grafana:
      allowed_ips: ["10.0.0.0/8", "192.168.1.7"]
  custom:
    generic:
      allowed_ips: ["127.0.0.0/8", "::1"]
"""
    config = load_text(text, {}, base_dir=tmp_path)
    with running_server(config) as server:
        body = b'{"version": "4", "status": "firing", "alerts": []}'
        answers = [httpx.post(server.url + "/webhook/alertmanager", content=body) for _ in range(4)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
        assert "3 requests per minute" in answers[-1].json()["error"]
        refused = httpx.post(server.url + "/webhook/grafana", content=b"{}")
        assert refused.status_code == 403
        assert "127.0.0.1 is not in the allowed_ips of grafana" in refused.json()["error"]
        assert httpx.post(server.url + "/webhook/generic", json={"title": "ok"}).status_code == 202


def test_allowed_ips_must_be_addresses_or_networks(tmp_path: Path) -> None:
    text = "integrations:\n  observability:\n    grafana:\n      allowed_ips: ['not-an-ip']\n"
    with pytest.raises(ConfigError) as raised:
        load_text(text, {}, base_dir=tmp_path)
    assert raised.value.path == "integrations.observability.grafana.allowed_ips[0]"
    assert raised.value.line == 4


def test_a_token_in_the_url_counts_as_a_bearer_token_and_401_challenges(tmp_path: Path, fixtures_dir: Path) -> None:
    text = (
        f'core:\n  database_url: "sqlite:///{tmp_path}/g.db"\n'
        "integrations:\n  observability:\n    splunk:\n      webhook_secret_env: SPLUNK_TOKEN\n"
    )
    config = load_text(text, {"SPLUNK_TOKEN": "url-token"}, base_dir=tmp_path)
    body = (fixtures_dir / "splunk" / "search-alert-one-result.json").read_bytes()
    with running_server(config) as server:
        refused = httpx.post(server.url + "/webhook/splunk?token=wrong", content=body)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="liberation-guardian splunk"'
        assert httpx.post(server.url + "/webhook/splunk?token=url-token", content=body).status_code == 202
        assert httpx.post(server.url + "/webhook/splunk", content=body, auth=("splunk", "url-token")).status_code == 202
