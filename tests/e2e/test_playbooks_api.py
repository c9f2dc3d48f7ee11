"""Playbooks through the running service: listed and read over HTTP, and named by the recommendations they apply to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liberation_guardian.config import load_text
from liberation_guardian.knowledge.playbooks import shipped_playbooks
from tests.fixtures.server import RunningServer, running_server

TOKEN = "playbooks-token"
KEY = "generic-key"
CONFIG = """\
core:
  database_url: "sqlite:///{tmp}/guardian.db"
  admin_token_env: GUARDIAN_ADMIN_TOKEN
integrations:
  custom:
    generic:
      enabled: true
      api_key_env: GENERIC_API_KEY
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    env = {"GUARDIAN_ADMIN_TOKEN": TOKEN, "GENERIC_API_KEY": KEY}
    with running_server(load_text(CONFIG.format(tmp=tmp_path), env, base_dir=tmp_path)) as running:
        yield running


def _get(server: RunningServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})


def _recommendations(server: RunningServer, title: str) -> list[dict[str, Any]]:
    incidents = [item for item in _get(server, "/api/incidents").json()["items"] if item["title"] == title]
    if not incidents:
        return []
    answer = _get(server, f"/api/incidents/{incidents[0]['id']}/recommendations")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


def test_an_incident_with_a_playbook_gets_recommendations_that_name_it(server: RunningServer) -> None:
    title = "Filesystem /var on worker-3 is full: no space left on device"
    body = {"title": title, "severity": "high", "fingerprint": "disk-worker-3", "service": "worker-3"}
    assert httpx.post(server.url + "/webhook/generic", json=body, headers={"X-API-Key": KEY}).status_code == 202
    server.wait_until(lambda: len(_recommendations(server, title)) >= 2, what="the recommendations")
    by_agent = {item["agent"]: item for item in _recommendations(server, title)}

    playbook = _get(server, "/api/playbooks/hosts.disk-full").json()
    named = {"id": "hosts.disk-full", "title": playbook["title"]}
    assert by_agent["analysis"]["evidence"]["playbook"] == named
    infrastructure = by_agent["infrastructure"]
    assert infrastructure["evidence"]["playbook"] == named
    # The steps the API shows for the playbook are the ones folded into the plan, in order.
    folded = [
        step.split(": ", 1)[1] for step in infrastructure["plan"] if step.startswith("Playbook (hosts.disk-full)")
    ]
    assert folded == playbook["steps"]
    assert infrastructure["plan"][-1] == f"Verify (hosts.disk-full): {' '.join(playbook['verify'])}"


def test_playbooks_are_listed_filtered_by_category_and_read_one_by_one(server: RunningServer) -> None:
    everything = _get(server, "/api/playbooks")
    assert everything.status_code == 200
    listed = everything.json()
    assert listed["total"] == len(listed["items"]) == len(shipped_playbooks())
    order = [(item["category"], item["id"]) for item in listed["items"]]
    assert order == sorted(order)

    database = _get(server, "/api/playbooks", category="database").json()["items"]
    assert {item["id"] for item in database} == {
        "data.backup-failed",
        "data.connections-exhausted",
        "data.replication-lag",
    }
    assert _get(server, "/api/playbooks", category="ci").json() == {"items": [], "total": 0}

    credential = _get(server, "/api/playbooks/security.leaked-credential").json()
    shipped = shipped_playbooks().get("security.leaked-credential")
    assert credential["steps"] == shipped.steps and credential["verify"] == shipped.verify
    assert credential["origin"] == "builtin" and credential["category"] == "security"
    assert {"kinds": ["secret_scanning_alert"]} in credential["applies_to"]


def test_bad_requests_get_a_status_and_a_reason(server: RunningServer) -> None:
    unknown = _get(server, "/api/playbooks/hosts.no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no playbook hosts.no-such-thing", "status": 404}
    bad = _get(server, "/api/playbooks", category="plumbing")
    assert bad.status_code == 400 and bad.json()["error"].startswith("category: 'plumbing' is not one of application")
    assert httpx.get(server.url + "/api/playbooks").status_code == 401
    assert httpx.get(server.url + "/api/playbooks/hosts.disk-full").status_code == 401
