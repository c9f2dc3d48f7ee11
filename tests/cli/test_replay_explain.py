"""`replay --explain` tells, per incident, what would be sent to whom and when, and what was held back."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from liberation_guardian.cli import cli

CONFIG = """
integrations:
  notifications:
    slack: {webhook_url_env: SLACK_URL}
routing:
  receivers:
    team: {channels: [slack]}
    lead: {channels: [slack]}
  escalation_policies:
    crit: {steps: [{notify: [team], wait: 10m}, {notify: [lead], wait: 10m}]}
  inhibit_rules:
    - source_matchers: ['alertname="InstanceDown"']
      target_matchers: ['alertname="High CPU Temperature"']
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 30s
    routes:
      - matchers: ['alertname="InstanceDown"']
        escalation_policy: crit
"""


def test_explain_shows_messages_timing_escalation_and_inhibition(tmp_path: Path, fixtures_dir: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    (tmp_path / ".env").write_text("SLACK_URL=http://127.0.0.1:9/hook\n")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "replay", "--explain", "--horizon", "30m", str(fixtures_dir / "alertmanager")]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    down = out[out.index("Instance localhost:8081 down") :]
    down = down[: down.index("\n#")]
    # group_wait 30s, then step 1 to the team; step 2 ten minutes later; then nobody is left.
    assert "+30s     slack -> team (escalation): [CRITICAL] Instance localhost:8081 down" in down
    assert "Escalation step 1 of 2 (crit)" in down
    assert "+10m30s  slack -> lead (escalation)" in down
    assert "escalation crit exhausted: every step was notified and nobody acknowledged" in down
    hot = out[out.index("[critical] High CPU core temperature") :]
    assert "sent nothing" in hot.split("\n#")[0]
    assert "held: still held for team: inhibited by incident #" in hot.split("\n#")[0]


def test_a_bad_horizon_is_refused(tmp_path: Path, fixtures_dir: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "replay", "--explain", "--horizon", "later", str(fixtures_dir / "alertmanager")]
    )
    assert result.exit_code == 2 and "--horizon: 'later' is not a duration" in result.output
