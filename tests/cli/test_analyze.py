"""`liberation-guardian analyze`: the stored recommendations of an incident, readable or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from liberation_guardian.cli import cli


def test_analyze_prints_the_recommendations_of_a_replayed_incident(tmp_path: Path, fixtures_dir: Path) -> None:
    database = tmp_path / "g.db"
    config = tmp_path / "c.yml"
    config.write_text(f"core:\n  database_url: sqlite:///{database}\n")
    runner = CliRunner()
    base = ["--config", str(config)]
    replayed = runner.invoke(
        cli, [*base, "replay", "--db", f"sqlite:///{database}", str(fixtures_dir / "alertmanager")]
    )
    assert replayed.exit_code == 0, replayed.output

    shown = runner.invoke(cli, [*base, "analyze", "1"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "incident 1: Instance localhost:8081 down (open, critical)"
    assert "[1] analysis / root_cause: done, by offline" in shown.output
    assert "[2] infrastructure / infrastructure_failure: done, by offline" in shown.output
    assert "    hypotheses:" in lines and "    plan:" in lines and "    prevention:" in lines
    assert "Instance localhost:8081 is failing: check, restart or replace, fail over." in shown.output

    as_json = runner.invoke(cli, [*base, "analyze", "1", "--agent", "infrastructure", "--json"])
    assert as_json.exit_code == 0, as_json.output
    (item,) = json.loads(as_json.output)
    assert (item["agent"], item["kind"], item["status"]) == ("infrastructure", "infrastructure_failure", "done")
    assert item["evidence"]["target"] == "instance localhost:8081"

    missing = runner.invoke(cli, [*base, "analyze", "77"])
    assert missing.exit_code == 2 and "no incident 77" in missing.output
    bad = runner.invoke(cli, [*base, "analyze", "1", "--agent", "oracle"])
    assert bad.exit_code == 2 and "'oracle' is not one of" in bad.output
