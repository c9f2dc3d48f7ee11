"""The docs cover every setting, source and channel, and the generated reference is current."""

from __future__ import annotations

from pathlib import Path

from liberation_guardian import sources
from liberation_guardian.act import notify
from liberation_guardian.config.reference import render

ROOT = Path(__file__).resolve().parents[1]


def test_the_configuration_reference_is_current() -> None:
    page = (ROOT / "docs" / "configuration-reference.md").read_text(encoding="utf-8")
    assert page == render(), (
        "regenerate: python -m liberation_guardian.config.reference > docs/configuration-reference.md"
    )


def test_every_setting_has_a_meaning() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert rows
    empty = [
        row for row in rows if row.rstrip(" |").endswith("|") or row.split("|")[4].strip() in ("", "*(not yet used)*")
    ]
    assert empty == []


def test_every_source_has_a_setup_page_and_the_channels_are_documented() -> None:
    for name in sources.registry():
        assert (ROOT / "docs" / "sources" / f"{name}.md").is_file(), name
    channels = (ROOT / "docs" / "channels.md").read_text(encoding="utf-8")
    for name in notify.registry():
        assert f"`{name}`" in channels or f"## {name}" in channels.lower(), name


def test_the_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme[:1500]
    assert "make run" in head and "make test" in head
