"""The command line: init, check-config, triage, replay, send, and serve's start-up errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from liberation_guardian.cli import cli
from liberation_guardian.config import load_file, load_text
from tests.fixtures.server import running_server
from tests.fixtures.spec import spec_example_config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_init_writes_a_valid_config_and_an_admin_token(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "conf" / "liberation-guardian.yml"
    result = runner.invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    env_file = target.parent / ".env"
    assert f"wrote the admin token to {env_file}" in result.output
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    token = env_file.read_text().strip().split("=", 1)[1]
    assert len(token) >= 32
    config = load_file(target)
    assert config.admin_token == token
    assert config.missing_secrets == []
    assert set(config.sources) == {"sentry", "alertmanager", "grafana", "generic"}
    again = runner.invoke(cli, ["init", str(target)])
    assert again.exit_code != 0 and "already exists" in again.output


def test_check_config_exits_0_on_the_spec_example(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_text(spec_example_config())
    result = runner.invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "accepted, not yet used: ai_providers" in result.output


def test_check_config_exits_2_naming_the_key_and_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("core:\n  name: x\n  port: 99999\n")
    result = runner.invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert "core.port (line 3)" in result.output
    assert "less than or equal to 65535" in result.output
    # --config works before and after the command name.
    assert runner.invoke(cli, ["--config", str(path), "check-config"]).exit_code == 2
    assert runner.invoke(cli, ["check-config", "--config", str(path)]).exit_code == 2


def test_triage_prints_the_decision_as_json(runner: CliRunner, tmp_path: Path, fixtures_dir: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(spec_example_config())
    fixture = fixtures_dir / "sentry" / "issue-created.json"
    result = runner.invoke(cli, ["--config", str(config), "triage", "--source", "sentry", str(fixture)])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["action"] == "investigate"
    assert decision["severity"] == "high"
    assert decision["category"] == "application"
    assert 0 < decision["confidence"] <= 1
    assert decision["rationale"]
    several = runner.invoke(
        cli,
        [
            "--config",
            str(config),
            "triage",
            "--source",
            "alertmanager",
            str(fixtures_dir / "alertmanager" / "firing-2-alerts.json"),
        ],
    )
    assert [d["action"] for d in json.loads(several.output)] == ["escalate", "escalate"]
    wrong = runner.invoke(cli, ["--config", str(config), "triage", "--source", "alertmanager", str(fixture)])
    assert wrong.exit_code == 2 and "would answer 422" in wrong.output


def test_replay_prints_a_summary_and_json(runner: CliRunner, tmp_path: Path, fixtures_dir: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(spec_example_config())
    paths = [str(fixtures_dir / name) for name in ("alertmanager", "grafana", "sentry")]
    result = runner.invoke(cli, ["--config", str(config), "replay", *paths])
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "decisions: escalate" in result.output
    as_json = runner.invoke(cli, ["--config", str(config), "replay", "--json", *paths])
    summary = json.loads(as_json.output)
    assert summary["payloads"] == 9
    assert summary["events"] == 12
    assert summary["rejected"] == []
    assert sum(summary["decisions"].values()) == summary["incidents"] - 2  # two arrived already resolved
    assert summary["decisions"]["escalate"] >= 4


def test_send_posts_a_signed_payload_to_a_running_server(runner: CliRunner, tmp_path: Path, fixtures_dir: Path) -> None:
    text = (
        f'core:\n  database_url: "sqlite:///{tmp_path}/g.db"\n'
        "integrations:\n  observability:\n    sentry:\n      webhook_secret_env: SENTRY_SECRET\n"
    )
    config_file = tmp_path / "liberation-guardian.yml"
    config_file.write_text(text)
    (tmp_path / ".env").write_text("SENTRY_SECRET=s3cret\n")
    config = load_text(text, {"SENTRY_SECRET": "s3cret"}, base_dir=tmp_path)
    fixture = fixtures_dir / "sentry" / "issue-created.json"
    with running_server(config) as server:
        url = server.url + "/webhook/sentry"
        result = runner.invoke(
            cli, ["--config", str(config_file), "send", "--source", "sentry", "--url", url, str(fixture)]
        )
        assert result.exit_code == 0, result.output
        assert result.output.startswith('202 {"accepted":1')
        (tmp_path / ".env").write_text("SENTRY_SECRET=wrong\n")
        refused = runner.invoke(
            cli, ["--config", str(config_file), "send", "--source", "sentry", "--url", url, str(fixture)]
        )
        assert refused.exit_code == 1 and refused.output.startswith("401")


def test_serve_refuses_to_start_without_a_named_secret(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("integrations:\n  observability:\n    sentry:\n      webhook_secret_env: SENTRY_SECRET_X\n")
    env = {k: v for k, v in os.environ.items() if k != "SENTRY_SECRET_X"}
    result = subprocess.run(
        [sys.executable, "-m", "liberation_guardian", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SENTRY_SECRET_X is not set" in result.stderr
    assert "Traceback" not in result.stderr
