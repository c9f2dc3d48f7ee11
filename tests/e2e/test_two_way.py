"""Acknowledging or resolving in PagerDuty answers for our own incident: the chain stops, everyone hears."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from liberation_guardian.config import load_text
from tests.fixtures.recorder import Recorder, Response
from tests.fixtures.server import RunningServer, running_server

TOKEN = "two-way-admin-token"
PD_SECRET = "pd-webhook-secret"
PAYLOADS = Path(__file__).parent.parent / "sources" / "payloads" / "pagerduty"
CONFIG = """
core:
  name: Guardian Two Way
  database_url: "sqlite:///{tmp}/g.db"
integrations:
  observability:
    prometheus: {{enabled: true}}
  incident_management:
    pagerduty: {{webhook_secret_env: PD_SECRET}}
  notifications:
    pagerduty: {{routing_key_env: PD_ROUTING_KEY, api_url: "{pd}"}}
    slack: {{webhook_url_env: SLACK_URL}}
routing:
  receivers:
    oncall: {{channels: [pagerduty, slack]}}
  escalation_policies:
    page: {{steps: [{{notify: [oncall], wait: 5m}}, {{notify: [oncall], wait: 5m}}]}}
  route:
    routes:
      - matchers: ['action="escalate"']
        receiver: oncall
        escalation_policy: page
"""


@dataclass
class TwoWay:
    server: RunningServer
    pagerduty: Recorder
    slack: Recorder

    def api(self, path: str) -> dict[str, object]:
        answer = httpx.get(self.server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        return dict(answer.json())

    def pagerduty_event(self, name: str, incident_key: str) -> int:
        payload = json.loads((PAYLOADS / name).read_text())
        payload["event"]["data"]["incident_key"] = incident_key
        body = json.dumps(payload).encode()
        signature = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}
        return httpx.post(self.server.url + "/webhook/pagerduty", content=body, headers=headers).status_code


@pytest.fixture
def two_way(tmp_path: Path) -> Iterator[TwoWay]:
    accepted = Response(202, {"status": "success", "message": "Event processed"})
    with Recorder(accepted) as pd, Recorder() as slack:
        env = {
            "GUARDIAN_ADMIN_TOKEN": TOKEN,
            "PD_SECRET": PD_SECRET,
            "PD_ROUTING_KEY": "R0UTINGKEY0000000000000000000000",
            "SLACK_URL": slack.url + "/services/T0/B0/XXXX",
        }
        config = load_text(CONFIG.format(tmp=tmp_path, pd=pd.url), env, base_dir=tmp_path)
        with running_server(config) as server:
            yield TwoWay(server, pd, slack)


def test_an_acknowledgement_in_pagerduty_acknowledges_our_incident(two_way: TwoWay, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
    assert httpx.post(two_way.server.url + "/webhook/alertmanager", content=body).status_code == 202
    triggers = two_way.pagerduty.wait_for(2)
    keys = sorted(r.json["dedup_key"] for r in triggers)
    assert keys == ["guardian-two-way-incident-1", "guardian-two-way-incident-2"]

    assert two_way.pagerduty_event("v3-incident-acknowledged.json", "guardian-two-way-incident-1") == 202
    two_way.server.wait_until(
        lambda: two_way.api("/api/incidents/1")["status"] == "acknowledged", what="the acknowledgement"
    )
    incident = two_way.api("/api/incidents/1")
    assert incident["acknowledged_by"] == "pagerduty:Dana Ops"
    assert two_way.api("/api/incidents")["total"] == 2  # the PagerDuty event opened no incident of its own
    # Slack hears of it; PagerDuty is told too (an acknowledge event for the same key changes nothing there).
    two_way.slack.wait_for(3)
    assert any(r.json["text"].startswith("[ACKNOWLEDGED]") for r in two_way.slack.requests)
    two_way.pagerduty.wait_for(3)
    acks = [r.json for r in two_way.pagerduty.requests if r.json["event_action"] == "acknowledge"]
    assert acks == [
        {
            "routing_key": "R0UTINGKEY0000000000000000000000",
            "event_action": "acknowledge",
            "dedup_key": "guardian-two-way-incident-1",
        }
    ]

    assert two_way.pagerduty_event("v3-incident-resolved.json", "guardian-two-way-incident-1") == 202
    two_way.server.wait_until(lambda: two_way.api("/api/incidents/1")["status"] == "resolved", what="the resolution")
    # A key of another instance, or of no incident of ours, is an ordinary PagerDuty event.
    assert two_way.pagerduty_event("v3-incident-acknowledged.json", "other-instance-incident-2") == 202
    two_way.server.wait_until(lambda: two_way.api("/api/incidents")["total"] == 3, what="a PagerDuty incident")
    assert two_way.api("/api/incidents/2")["status"] == "open"
