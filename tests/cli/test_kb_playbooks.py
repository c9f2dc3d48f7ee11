"""`liberation-guardian kb playbooks` and `kb playbook ID`: the playbooks from the shell."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from liberation_guardian.cli import cli
from liberation_guardian.knowledge.playbooks import shipped_playbooks


def _kb(tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "guardian.yml"
    config.write_text(f"core:\n  database_url: sqlite:///{tmp_path / 'guardian.db'}\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(config), "kb", *args])


def test_kb_playbooks_lists_every_playbook_or_those_of_a_category(tmp_path: Path) -> None:
    listed = _kb(tmp_path, "playbooks")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == len(shipped_playbooks())
    disk = next(line for line in lines if line.startswith("hosts.disk-full "))
    assert disk.split()[1:3] == ["infrastructure", "8"] and disk.endswith("A disk is full or filling up")

    security = _kb(tmp_path, "playbooks", "--category", "security").output.splitlines()
    assert sorted(line.split()[0] for line in security) == [
        "connectivity.certificate-expiry",
        "security.leaked-credential",
        "security.suspected-breach",
    ]
    assert _kb(tmp_path, "playbooks", "--category", "ci").output == "no playbooks of category ci\n"


def test_kb_playbook_prints_selection_steps_and_checks(tmp_path: Path) -> None:
    shown = _kb(tmp_path, "playbook", "security.leaked-credential")
    assert shown.exit_code == 0, shown.output
    playbook = shipped_playbooks().get("security.leaked-credential")
    lines = shown.output.splitlines()
    assert lines[0] == f"security.leaked-credential: {playbook.title}"
    assert lines[1] == "category: security, origin: builtin"
    assert "  - kinds: secret_scanning_alert" in lines and "  - tags: secret, leak" in lines
    assert lines[lines.index("steps:") + 1] == f"  1. {playbook.steps[0]}"
    assert lines[lines.index("verify:") + 1 :] == [f"  - {check}" for check in playbook.verify]


def test_unknown_ids_and_categories_are_refused_by_name(tmp_path: Path) -> None:
    missing = _kb(tmp_path, "playbook", "hosts.nope")
    assert missing.exit_code == 2
    assert "error: no playbook hosts.nope (liberation-guardian kb playbooks lists them)" in missing.output
    bad = _kb(tmp_path, "playbooks", "--category", "plumbing")
    assert bad.exit_code == 2 and "Invalid value for '--category'" in bad.output
