"""The knowledge base through the running service: list, read and review patterns; people's verdicts change them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.cli import cli
from liberation_guardian.config import load_text
from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.learn.patterns import recalibrate
from liberation_guardian.store.db import make_engine, sessions, transaction
from liberation_guardian.store.models import Pattern, utcnow
from tests.fixtures.server import RunningServer, running_server

TOKEN = "patterns-token"
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
learning:
  community_sharing:
    enabled: true
"""
STALLED = "Reconciliation batch {n} stalled on ledger-3"
PACK = """\
version: 1
description: Patterns from a neighbour
patterns:
  - id: neighbours.export-queue-stuck
    title: The nightly export queue is stuck
    match:
      any: ['\\bexport queue \\S+ has not moved for \\d+ minutes']
    category: application
    severity: low
    action: auto_acknowledge
    runbook:
      - Check whether the export worker is running.
      - Restart it if it is wedged on a lock.
      - Tell the data team if the export is late.
    examples:
      - "export queue nightly-3 has not moved for 45 minutes"
    provenance: {origin: learned, original_id: learned.abc123}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    env = {"GUARDIAN_ADMIN_TOKEN": TOKEN, "GENERIC_API_KEY": KEY}
    config = load_text(CONFIG.format(tmp=tmp_path), env, base_dir=tmp_path)
    with running_server(config) as running:
        yield running


def _api(server: RunningServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)


def _send(server: RunningServer, title: str, fingerprint: str) -> dict[str, Any]:
    """Post one event and wait for its decision."""
    body = {"title": title, "severity": "medium", "fingerprint": fingerprint}
    assert httpx.post(server.url + "/webhook/generic", json=body, headers={"X-API-Key": KEY}).status_code == 202
    found: list[dict[str, Any]] = []

    def decided() -> bool:
        items = _api(server, "GET", "/api/incidents", params={"source": "generic"}).json()["items"]
        mine = [item for item in items if item["title"] == title]
        if not mine:
            return False
        decisions = _api(server, "GET", "/api/decisions", params={"incident_id": mine[0]["id"]}).json()["items"]
        found[:] = decisions
        return bool(decisions)

    server.wait_until(decided, what=f"a decision on {title!r}")
    return found[0]


def _learned_pattern(factory: sessionmaker[Session]) -> None:
    """A pattern learned from past incidents, accepted, and right eight times since."""
    now = utcnow()
    row = Pattern(
        id="learned.ledger-stalled",
        origin="learned",
        status="active",
        title="Ledger reconciliation stalls on a lock",
        match={"any": [r"\bReconciliation batch \d+ stalled on ledger"]},
        category="database",
        severity="medium",
        action="auto_acknowledge",
        runbook="Check which job holds the ledger lock.\nLet the batch retry.\nEscalate if it stalls three times.",
        tags=["learned"],
        occurrences=8,
        successes=8,
        failures=0,
        confirmations=0,
        rejections=0,
        provenance={"template": "Reconciliation batch <num> stalled on ledger-<num>"},
        created_at=now,
        updated_at=now,
    )
    recalibrate(row, LearningConfig())
    with transaction(factory) as session:
        session.add(row)


def test_a_learned_pattern_people_reject_twice_stops_acknowledging_quietly(server: RunningServer) -> None:
    engine = make_engine(server.config.database_url)
    try:
        _learned_pattern(sessions(engine))  # written while the service runs: it picks it up before its next decision
    finally:
        engine.dispose()
    confidences = []
    for n, person in ((17, "ana"), (18, "bo")):
        decision = _send(server, STALLED.format(n=n), f"stalled-{n}")
        assert (decision["action"], decision["matched"]) == ("auto_acknowledge", "knowledge: learned.ledger-stalled")
        confidences.append(decision["confidence"])
        wrong = {"verdict": "wrong", "action": "escalate", "comment": "this blocks payouts", "by": person}
        answer = _api(server, "POST", f"/api/incidents/{decision['incident_id']}/feedback", json=wrong)
        assert answer.status_code == 200, answer.text
    assert confidences == pytest.approx([11 / 13, 11 / 15], abs=1e-4)

    pattern = _api(server, "GET", "/api/patterns/learned.ledger-stalled").json()
    assert pattern["evidence"]["rejections"] == 2 and pattern["confidence"] == pytest.approx(11 / 17, abs=1e-4)
    third = _send(server, STALLED.format(n=19), "stalled-19")
    assert third["action"] == "investigate" and third["matched"] == "knowledge: learned.ledger-stalled"
    assert "under the threshold" in third["rationale"] and third["confidence"] == pytest.approx(pattern["confidence"])


def test_an_imported_pattern_is_reviewed_through_the_api_and_then_decides(
    server: RunningServer, tmp_path: Path
) -> None:
    pack = tmp_path / "neighbours.yml"
    pack.write_text(PACK, encoding="utf-8")
    config = tmp_path / "guardian.yml"
    config.write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
    imported = CliRunner().invoke(cli, ["--config", str(config), "kb", "import", str(pack)])
    assert imported.exit_code == 0, imported.output

    proposed = _api(server, "GET", "/api/patterns", params={"status": "proposed"}).json()
    assert [item["id"] for item in proposed["items"]] == ["neighbours.export-queue-stuck"]
    [item] = proposed["items"]
    assert (item["origin"], item["confidence"]) == ("community", 0.6)
    assert item["provenance"]["file"] == "neighbours.yml"
    assert item["provenance"]["upstream"] == {"origin": "learned", "original_id": "learned.abc123"}
    shipped = _api(server, "GET", "/api/patterns", params={"origin": "builtin", "category": "database", "limit": 5})
    assert shipped.json()["total"] > 5 and len(shipped.json()["items"]) == 5
    assert {row["category"] for row in shipped.json()["items"]} == {"database"}

    waiting = _send(server, "export queue nightly-3 has not moved for 45 minutes", "export-1")
    assert waiting["decided_by"] != "knowledge"  # a proposal decides nothing

    review = "/api/patterns/neighbours.export-queue-stuck/review"
    accepted = _api(server, "POST", review, json={"decision": "accept", "by": "ana", "comment": "seen it here too"})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["status"], body["evidence"]["confirmations"]) == ("active", 1)
    assert body["confidence"] == pytest.approx(5 / 7, abs=1e-4)
    assert body["provenance"]["review"]["by"] == "api:ana" and body["provenance"]["file"] == "neighbours.yml"

    decided = _send(server, "export queue nightly-4 has not moved for 50 minutes", "export-2")
    assert (decided["action"], decided["matched"]) == ("auto_acknowledge", "knowledge: neighbours.export-queue-stuck")
    assert "community pattern" in decided["rationale"]


def test_bad_requests_are_refused_with_a_reason(server: RunningServer) -> None:
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/api/patterns", {"params": {"status": "maybe"}}, 400, "status: 'maybe' is not one of"),
        ("GET", "/api/patterns", {"params": {"origin": "aliens"}}, 400, "origin: 'aliens' is not one of"),
        ("GET", "/api/patterns", {"params": {"category": "weather"}}, 400, "category: 'weather' is not one of"),
        ("GET", "/api/patterns", {"params": {"limit": 0}}, 422, "limit"),
        ("GET", "/api/patterns/nope.nothing", {}, 404, "no pattern nope.nothing"),
        ("POST", "/api/patterns/nope.nothing/review", {"json": {"decision": "accept"}}, 404, "no pattern"),
        ("POST", "/api/patterns/python.env-var-missing/review", {"json": {"decision": "maybe"}}, 400, "accept, reject"),
        ("POST", "/api/patterns/python.env-var-missing/review", {"json": {"decision": "accept"}}, 409, "is active"),
        ("POST", "/api/patterns/python.env-var-missing/review", {"json": {"decision": "x", "n": 1}}, 422, "n"),
    ]
    for method, path, kwargs, status, reason in cases:
        answer = _api(server, method, path, **kwargs)
        assert answer.status_code == status and reason in answer.json()["error"], (path, answer.text)
    assert httpx.get(server.url + "/api/patterns").status_code == 401
    one = _api(server, "GET", "/api/patterns/python.env-var-missing").json()
    assert one["origin"] == "builtin" and one["provenance"]["pack"] == "python.yml" and len(one["runbook"]) >= 3
