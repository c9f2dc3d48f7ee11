"""Escalation policies step on until an acknowledgement, follow the on-call rotation, and survive restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from liberation_guardian.cli import cli
from liberation_guardian.events import Severity
from tests.dispatch.conftest import CHANNELS, ENV, Clock, Harness, Sent

POLICY = """
routing:
  route:
    receiver: team
    routes:
      - matchers: ['action="escalate"']
        receiver: team
        escalation_policy: critical
  receivers:
    team: {channels: [slack]}
    alice: {channels: [sms], to: {sms: ["+15005550101"]}}
    bob: {channels: [sms], to: {sms: ["+15005550102"]}}
    lead: {channels: [email], to: {email: [lead@example.com]}}
  schedules:
    primary:
      participants: [alice, bob]
      rotation: daily
      handoff_time: "09:00"
      start: 2026-11-01
  escalation_policies:
    critical:
      repeat: 1
      steps:
        - notify: [team, primary]
          wait: 5m
        - notify: [lead]
          wait: 10m
"""


def steps(sent: list[Sent]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((s.channel, tuple(s.notification.get("recipients") or ())) for s in sent if s.channel != "console")


def test_steps_fire_after_their_waits_until_exhausted(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(POLICY)
    h.event("Database down", severity=Severity.critical)
    first = h.advance(0)
    # 2026-11-27 12:00 UTC: day 26 of the rotation started 2026-11-01, so alice (even days) is on call.
    assert steps(first) == [("slack", ()), ("sms", ("+15005550101",))]
    assert "Escalation step 1 of 2, round 1 of 2 (critical)" in first[0].text
    assert any(s.channel == "console" for s in first)  # an escalation is never silent
    assert h.advance(299) == []
    assert steps(h.advance(1)) == [("email", ("lead@example.com",))]
    assert h.advance(599) == []
    again = h.advance(1)  # the second round starts over
    assert steps(again) == [("slack", ()), ("sms", ("+15005550101",))]
    assert "round 2 of 2" in again[0].text
    assert steps(h.advance(300)) == [("email", ("lead@example.com",))]
    assert h.advance(600) == []  # exhausted: nobody answered
    assert h.advance(24 * 3600) == []


def test_an_acknowledgement_stops_the_chain_and_is_announced(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory(POLICY)
    h.event("Database down", severity=Severity.critical)
    h.advance(0)
    h.advance(120)
    h.acknowledge("Database down", "bob")
    told = h.sent()
    assert sorted(s.channel for s in told) == ["console", "slack", "sms"]
    assert all(s.text.startswith("[ACKNOWLEDGED] Database down") for s in told)
    assert h.advance(3600) == []


def test_a_resolution_stops_the_chain_and_reaches_everyone_it_reached(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(POLICY)
    h.event("Database down", severity=Severity.critical, grouping_key="db")
    h.advance(0)
    h.advance(300)  # step 2 reached the lead
    h.resolve("Database down", grouping_key="db")
    told = h.advance(0)
    assert sorted(s.channel for s in told) == ["console", "email", "slack", "sms"]
    assert all(s.text.startswith("[RESOLVED] Database down") for s in told)
    assert h.advance(3600) == []


def test_the_rotation_hands_off_at_nine(harness_factory: Callable[..., Harness]) -> None:
    clock = Clock()
    clock.now = clock.now.replace(day=28, hour=8, minute=58)  # still alice's day until 09:00
    h = harness_factory(POLICY, clock=clock)
    h.event("Database down", severity=Severity.critical)
    assert ("sms", ("+15005550101",)) in steps(h.advance(0))
    h.advance(300)
    assert ("sms", ("+15005550102",)) in steps(h.advance(600))  # round two, after 09:00: bob


def test_a_restart_in_the_middle_resumes_the_chain_exactly_once(
    harness_factory: Callable[..., Harness], tmp_path: Path
) -> None:
    database = tmp_path / "restart.db"
    h = harness_factory(POLICY, database=database)
    h.event("Database down", severity=Severity.critical)
    h.advance(0)
    h.advance(200)
    # The process stops; a new one starts on the same database 10 minutes later (step 2 is overdue).
    clock = Clock(h.clock.now)
    again = harness_factory(POLICY, database=database, clock=clock)
    again.seen = set(h.seen)
    late = again.advance(600)
    assert steps(late) == [("email", ("lead@example.com",))]
    # Both "processes" look at the timer again: the step is not sent a second time.
    assert again.advance(0) == []
    h.clock.now, h.seen = again.clock.now, again.seen
    assert h.advance(0) == []


def test_the_cli_acknowledgement_stops_the_chain(harness_factory: Callable[..., Harness], tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    h = harness_factory(POLICY, database=database)
    h.event("Database down", severity=Severity.critical)
    h.advance(0)
    config = tmp_path / "cli.yml"
    config.write_text(CHANNELS + POLICY + f"core:\n  database_url: sqlite:///{database}\n")
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
    incident = h.incident("Database down")

    result = CliRunner().invoke(cli, ["--config", str(config), "ack", str(incident.id), "--by", "bob"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"incident {incident.id} acknowledged by cli:bob: Database down"
    assert {s.text.splitlines()[0] for s in h.sent()} == {"[ACKNOWLEDGED] Database down"}
    assert h.advance(3600) == []  # no further step
    again = CliRunner().invoke(cli, ["--config", str(config), "ack", str(incident.id)])
    assert again.exit_code == 1 and "is acknowledged, not open" in again.output
    done = CliRunner().invoke(cli, ["--config", str(config), "resolve", str(incident.id)])
    assert done.exit_code == 0 and {s.text.splitlines()[0] for s in h.sent()} == {"[RESOLVED] Database down"}
    missing = CliRunner().invoke(cli, ["--config", str(config), "resolve", "999"])
    assert missing.exit_code == 2 and "no incident 999" in missing.output


def test_a_reopened_incident_escalates_again_and_each_resolution_is_told_once(
    harness_factory: Callable[[str], Harness],
) -> None:
    h = harness_factory(POLICY)
    for _ in range(2):
        h.event("Database down", severity=Severity.critical, grouping_key="db")
        assert ("slack", ()) in steps(h.advance(0))
        h.resolve("Database down", grouping_key="db")
        told = h.advance(0)
        assert sorted(s.channel for s in told) == ["console", "slack", "sms"]
        assert all(s.text.startswith("[RESOLVED]") for s in told)
        assert h.advance(3600) == []
