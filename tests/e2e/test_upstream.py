"""An acknowledgement here reaches the tool the incident came from; the tool's own is never sent back."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from liberation_guardian.config import load_text
from tests.fixtures.recorder import Recorder, Response
from tests.fixtures.server import RunningServer, running_server

TOKEN = "upstream-admin-token"
SENTRY_SECRET = "sentry-client-secret"
SENTRY_TOKEN = "sntrys_upstream0123456789"
PD_SECRET = "pd-webhook-secret"
PD_TOKEN = "u+upstreamRestKey0123"
PAYLOADS = Path(__file__).parent.parent / "sources" / "payloads" / "pagerduty"
CONFIG = """
core:
  name: Guardian Upstream
  database_url: "sqlite:///{tmp}/g.db"
integrations:
  observability:
    sentry:
      webhook_secret_env: SENTRY_SECRET
      auto_acknowledge: true
      api_token_env: SENTRY_TOKEN
      organization: acme
      api_url: "{sentry}"
  incident_management:
    pagerduty:
      webhook_secret_env: PD_SECRET
      acknowledge_upstream: true
      api_token_env: PD_TOKEN
      from_email: oncall@example.com
      api_url: "{pd_rest}"
  notifications:
    pagerduty: {{routing_key_env: PD_ROUTING_KEY, api_url: "{pd_events}"}}
routing:
  receivers:
    oncall: {{channels: [pagerduty]}}
  route:
    receiver: none
    group_wait: 0s
    routes:
      - matchers: ['source="pagerduty"']
        receiver: oncall
decision_rules:
  auto_acknowledge:
    patterns: ["blooopy is not defined"]
"""


@dataclass
class Stack:
    server: RunningServer
    sentry: Recorder
    pd_rest: Recorder
    pd_events: Recorder

    def api(self, path: str) -> dict[str, Any]:
        answer = httpx.get(self.server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        return dict(answer.json())

    def post(self, source: str, body: bytes, headers: dict[str, str]) -> None:
        answer = httpx.post(self.server.url + f"/webhook/{source}", content=body, headers=headers)
        assert answer.status_code == 202, answer.text

    def pagerduty(self, name: str, **data: str) -> None:
        payload = json.loads((PAYLOADS / name).read_text())
        payload["event"]["data"].update(data)
        body = json.dumps(payload).encode()
        signature = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.post("pagerduty", body, {"Content-Type": "application/json", "X-PagerDuty-Signature": signature})

    def incident_status(self, incident_id: int, status: str) -> None:
        self.server.wait_until(
            lambda: self.api(f"/api/incidents/{incident_id}").get("status") == status,
            what=f"incident {incident_id} {status}",
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with (
        Recorder() as sentry,
        Recorder(Response(200, {"incident": {"type": "incident", "status": "acknowledged"}})) as pd_rest,
        Recorder(Response(202, {"status": "success", "message": "Event processed"})) as pd_events,
    ):
        env = {
            "GUARDIAN_ADMIN_TOKEN": TOKEN,
            "SENTRY_SECRET": SENTRY_SECRET,
            "SENTRY_TOKEN": SENTRY_TOKEN,
            "PD_SECRET": PD_SECRET,
            "PD_TOKEN": PD_TOKEN,
            "PD_ROUTING_KEY": "R0UTINGKEY0000000000000000000000",
        }
        text = CONFIG.format(tmp=tmp_path, sentry=sentry.url, pd_rest=pd_rest.url, pd_events=pd_events.url)
        config = load_text(text, env, base_dir=tmp_path)
        config.require_secrets()
        with running_server(config) as server:
            yield Stack(server, sentry, pd_rest, pd_events)


def test_an_auto_acknowledged_sentry_issue_is_ignored_in_sentry(stack: Stack, fixtures_dir: Path) -> None:
    stack.sentry.respond_with(200, {"id": "1170820242", "status": "ignored"})
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    signature = hmac.new(SENTRY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    stack.post(
        "sentry",
        body,
        {"Content-Type": "application/json", "Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": signature},
    )

    (request,) = stack.sentry.wait_for(1)
    assert (request.method, request.path) == ("PUT", "/api/0/organizations/acme/issues/1170820242/")
    assert request.headers["authorization"] == f"Bearer {SENTRY_TOKEN}"
    assert request.json == {"status": "ignored"}

    stack.server.wait_until(
        lambda: [d["status"] for d in stack.api("/api/incidents/1")["deliveries"]] == ["delivered"],
        what="the upstream delivery recorded",
    )
    incident = stack.api("/api/incidents/1")
    assert (incident["status"], incident["acknowledged_by"]) == ("acknowledged", "guardian:rules")
    [delivery] = incident["deliveries"]
    assert (delivery["channel"], delivery["idempotency_key"]) == ("upstream-sentry", "incident-1/t1-upstream-ack")


def test_pagerduty_hears_a_person_s_acknowledgement_but_never_its_own(stack: Stack) -> None:
    # Incident 1 came from PagerDuty and was escalated back into PagerDuty as our own alert ...
    stack.pagerduty("v3-incident-triggered.json")
    [trigger] = stack.pd_events.wait_for(1)
    assert trigger.json["dedup_key"] == "guardian-upstream-incident-1"
    # ... which a responder acknowledges there: PagerDuty's own answer, not to be echoed.
    stack.pagerduty("v3-incident-acknowledged.json", id="PCOPY000001", incident_key="guardian-upstream-incident-1")
    stack.incident_status(1, "acknowledged")
    assert stack.api("/api/incidents/1")["acknowledged_by"] == "pagerduty:Dana Ops"

    # Incident 2, another PagerDuty incident, is acknowledged by a person through the API.
    stack.pagerduty("v3-incident-triggered.json", id="PSECOND0001")
    stack.server.wait_until(lambda: stack.api("/api/incidents")["total"] == 2, what="the second incident")
    answer = httpx.post(
        stack.server.url + "/api/incidents/2/acknowledge",
        json={"by": "ana"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200, answer.text

    [request] = stack.pd_rest.wait_for(1)
    assert (request.method, request.path) == ("PUT", "/incidents/PSECOND0001")
    assert request.headers["authorization"] == f"Token token={PD_TOKEN}"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert request.headers["from"] == "oncall@example.com"
    assert request.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    # Incident 1's acknowledgement was queued (if at all) before incident 2's and so would have arrived first.
    assert len(stack.pd_rest.requests) == 1
    keys = [d["idempotency_key"] for d in stack.api("/api/incidents/1")["deliveries"]]
    assert not [key for key in keys if key.endswith("upstream-ack")]
