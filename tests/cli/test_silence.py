"""`liberation-guardian silence` adds, lists and expires silences in the configured database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from liberation_guardian.cli import cli


def test_add_list_and_expire(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("core:\n  database_url: sqlite:///guardian.db\n")
    runner = CliRunner()
    base = ["--config", str(config), "silence"]

    added = runner.invoke(
        cli, [*base, "add", 'service="payments"', 'severity=~"low|info"', "--duration", "2h", "--author", "ana"]
    )
    assert added.exit_code == 0, added.output
    silence_id = added.output.strip()

    listed = runner.invoke(cli, [*base, "list"])
    assert silence_id in listed.output
    assert "active   until" in listed.output
    assert 'service="payments" severity=~"low|info"  by ana' in listed.output

    assert runner.invoke(cli, [*base, "expire", silence_id]).output.strip() == f"{silence_id} expired"
    assert "no active or pending silences" in runner.invoke(cli, [*base, "list"]).output
    assert "expired" in runner.invoke(cli, [*base, "list", "--all"]).output


def test_bad_silences_are_refused_with_a_reason(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("core:\n  database_url: sqlite:///guardian.db\n")
    runner = CliRunner()
    base = ["--config", str(config), "silence"]
    cases = [
        (["add", "nonsense"], "'nonsense' is not a matcher"),
        (["add", 'x=~".*"'], "mute everything"),
        (["add", 'x="y"', "--duration", "soon"], "'soon' is not a duration"),
        (["expire", "nope"], "no silence nope"),
    ]
    for args, reason in cases:
        result = runner.invoke(cli, [*base, *args])
        assert result.exit_code == 2, (args, result.output)
        assert reason in result.output
