"""Feedback on a decision, through the API and the shell, checked against the vocabulary."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from liberation_guardian.cli import cli
from tests.e2e.conftest import Stack


def test_feedback_through_the_api(stack: Stack, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
    assert httpx.post(stack.url + "/webhook/alertmanager", content=body).status_code == 202
    stack.server.wait_until(
        lambda: httpx.get(stack.url + "/api/decisions", headers=stack.auth).json()["total"] == 2, what="decisions"
    )
    url = stack.url + "/api/incidents/1/feedback"
    wrong = {"verdict": "wrong", "action": "investigate", "severity": "medium", "comment": "canary only", "by": "ana"}
    answer = httpx.post(url, json=wrong, headers=stack.auth)
    assert answer.status_code == 200, answer.text
    given = answer.json()
    assert given["verdict"] == "wrong" and given["action"] == "investigate" and given["by"] == "api:ana"
    [decision] = httpx.get(stack.url + "/api/decisions?incident_id=1", headers=stack.auth).json()["items"]
    assert given["decision_id"] == decision["id"]
    assert httpx.post(url, json={"verdict": "correct"}, headers=stack.auth).status_code == 200
    assert [f["verdict"] for f in httpx.get(url, headers=stack.auth).json()] == ["wrong", "correct"]

    cases = [
        ({"verdict": "wrong"}, 400, "needs the right action, severity or category"),
        ({"verdict": "wrong", "action": "panic"}, 400, "action: 'panic' is not one of"),
        ({"verdict": "wrong", "category": "weather"}, 400, "category: 'weather' is not one of"),
        ({"verdict": "maybe"}, 422, "verdict"),
    ]
    for payload, status, reason in cases:
        refused = httpx.post(url, json=payload, headers=stack.auth)
        assert refused.status_code == status and reason in refused.json()["error"], refused.text
    assert (
        httpx.post(
            stack.url + "/api/incidents/99/feedback", json={"verdict": "correct"}, headers=stack.auth
        ).status_code
        == 404
    )


def test_feedback_from_the_shell(tmp_path: Path, fixtures_dir: Path) -> None:
    database = tmp_path / "g.db"
    config = tmp_path / "c.yml"
    config.write_text(f"core:\n  database_url: sqlite:///{database}\n")
    runner = CliRunner()
    base = ["--config", str(config)]
    replayed = runner.invoke(
        cli, [*base, "replay", "--db", f"sqlite:///{database}", str(fixtures_dir / "alertmanager")]
    )
    assert replayed.exit_code == 0, replayed.output
    given = runner.invoke(
        cli, [*base, "feedback", "1", "wrong", "--severity", "high", "--comment", "canary", "--by", "ana"]
    )
    assert given.exit_code == 0 and given.output.strip() == "feedback on incident 1 recorded: wrong"
    bad = runner.invoke(cli, [*base, "feedback", "1", "wrong", "--severity", "sev1"])
    assert bad.exit_code == 2 and "severity: 'sev1' is not one of" in bad.output
    missing = runner.invoke(cli, [*base, "feedback", "77", "correct"])
    assert missing.exit_code == 2 and "no incident 77" in missing.output
