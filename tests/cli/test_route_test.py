"""`liberation-guardian route-test` prints receivers, groups, timing and escalation for given labels."""

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
    payments: {channels: [slack]}
  services:
    checkout: {team: payments, receiver: payments}
  escalation_policies:
    crit:
      repeat: 1
      steps: [{notify: [team], wait: 5m}, {notify: [payments], wait: 1h30m}]
  route:
    receiver: log
    group_by: [service]
    group_wait: 30s
    routes:
      - matchers: ['action="escalate"']
        receiver: team
        escalation_policy: crit
        group_wait: 0s
      - matchers: ['environment="staging"']
        receiver: none
"""


def run(tmp_path: Path, *args: str) -> str:
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    (tmp_path / ".env").write_text("SLACK_URL=http://127.0.0.1:9/hook\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "route-test", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_escalation_shows_receiver_group_timing_and_policy(tmp_path: Path) -> None:
    out = run(tmp_path, "action=escalate", "service=api", "severity=critical")
    assert out.splitlines() == [
        "team: slack",
        '  route 0.0  {action="escalate"}',
        '  group {service="api"}',
        "  group_wait 0s, group_interval 1m, repeat_interval 1d",
        "  escalation policy crit (repeat 1):",
        "    step 1: team, then wait 5m",
        "    step 2: payments, then wait 1h30m",
    ]


def test_an_owned_service_adds_its_owner_and_an_empty_receiver_sends_nothing(tmp_path: Path) -> None:
    out = run(tmp_path, "service=checkout", "action=investigate")
    assert "log: console" in out and "payments (service owner): slack" in out
    assert run(tmp_path, "environment=staging").startswith("nobody:")


def test_the_tree(tmp_path: Path) -> None:
    lines = run(tmp_path, "--tree").splitlines()
    assert lines[0].startswith("0 {} -> log [console] group_by=service wait=30s")
    assert lines[1].startswith('  0.0 {action="escalate"} -> team [slack]') and "escalation_policy=crit" in lines[1]
    assert lines[2].startswith('  0.1 {environment="staging"} -> none [none]')


def test_labels_must_be_name_value(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("")
    result = CliRunner().invoke(cli, ["--config", str(config), "route-test", "severity"])
    assert result.exit_code == 2 and "'severity' is not a label; write it as name=value" in result.output
