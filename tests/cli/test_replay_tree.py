"""`replay` over the whole shared fixtures tree: every tool with a source parses, the rest is skipped with a note."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from liberation_guardian import sources
from liberation_guardian.cli import cli


def test_replay_of_every_fixture_runs_and_summarizes(tmp_path: Path, fixtures_dir: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(f'core:\n  database_url: "sqlite:///{tmp_path}/unused.db"\n')
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "replay", "--json", str(fixtures_dir)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rejected"] == []
    keys = sources.config_keys()
    folders = {path.name for path in fixtures_dir.iterdir() if path.is_dir()}
    covered = {folder for folder in folders if folder in keys}
    expected_payloads = sum(len(list((fixtures_dir / folder).glob("*.json"))) for folder in covered)
    assert summary["payloads"] == expected_payloads
    assert summary["events"] >= expected_payloads // 2
    for folder in sorted(folders - covered):
        assert f"folder {folder!r} is not a source name" in result.stderr
    table = runner.invoke(cli, ["--config", str(config), "replay", str(fixtures_dir)])
    assert table.exit_code == 0
    assert "incidents" in table.stdout and "decisions:" in table.stdout
