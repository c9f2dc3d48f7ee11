"""The held-out corpus (eval/holdout) obeys the same rules as eval/corpus and stays apart from it.

The held-out lines measure triage on events its knowledge was never tuned on, so besides the
checks of test_corpus.py (vocabulary, label rules, one parsed event per line), the two corpora
must not share an id or a payload: a copied line would quietly turn held-out data into seen data.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from liberation_guardian import sources
from liberation_guardian.events import NormalizedEvent
from tests.eval.test_corpus import ACTIONS, ENTRIES, INJECTED_WORDS, ROOT, SEVERITIES, _label_rules, _problems

HOLDOUT = ROOT / "eval" / "holdout"


def _read() -> list[tuple[str, int, dict[str, Any]]]:
    return [
        (path.stem, number, json.loads(line))
        for path in sorted(HOLDOUT.glob("*.jsonl"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
    ]


LINES = _read()
HELD = [entry for _, _, entry in LINES]


def _holdout_problems(file_source: str, number: int, entry: dict[str, Any]) -> list[str]:
    """The corpus checks, with the held-out id form `<source>-hNNN` numbered in file order."""
    # The corpus check wants `<source>-NNN`; the id is checked here in its held-out form instead.
    problems = [problem for problem in _problems(file_source, entry) if not problem.startswith("id ")]
    if entry.get("id") != f"{file_source}-h{number:03d}":
        problems.append(f"id {entry.get('id')!r} is not {file_source}-h{number:03d} (numbers run in file order)")
    return problems


def _scored(entry: dict[str, Any]) -> list[NormalizedEvent]:
    cls = sources.registry()[entry["source"]]
    headers = {name.lower(): value for name, value in entry["headers"].items()}  # as the receiver passes them
    events = cls(cls.config_model(), {}).parse(headers, json.dumps(entry["payload"]).encode())
    return [event for event in events if event.kind in entry.get("kinds", [event.kind])]


@pytest.mark.parametrize(("file_source", "number", "entry"), LINES, ids=[f"{s}:{n}" for s, n, _ in LINES])
def test_every_line_is_valid(file_source: str, number: int, entry: dict[str, Any]) -> None:
    assert _holdout_problems(file_source, number, entry) == [], f"holdout/{file_source}.jsonl line {number}"
    assert _label_rules(entry) == [], entry["id"]


def test_the_validation_rejects_a_bad_line() -> None:
    line = {
        "id": "sentry-001",
        "source": "sentry",
        "headers": {},
        "payload": {},
        "expected": {"action": "escalate", "severity": "critical", "category": "database"},
        "must_escalate": True,
        "why": "a corpus-style id in the held-out corpus",
    }
    assert _holdout_problems("sentry", 1, line) == ["id 'sentry-001' is not sentry-h001 (numbers run in file order)"]
    assert _holdout_problems("sentry", 2, {**line, "id": "sentry-h001"}) == [
        "id 'sentry-h001' is not sentry-h002 (numbers run in file order)"
    ]
    assert _holdout_problems("sentry", 1, {**line, "id": "sentry-h001", "colour": "red"}) == ["unknown key 'colour'"]


@pytest.mark.parametrize("entry", HELD, ids=[entry["id"] for entry in HELD])
def test_every_payload_parses_with_its_source(entry: dict[str, Any]) -> None:
    scored = _scored(entry)
    # One line, one verdict: the labels describe exactly one event.
    assert len(scored) == 1, f"scored kinds {entry.get('kinds')}; got {[event.kind for event in scored]}"
    if entry.get("injection"):
        assert INJECTED_WORDS.search(f"{scored[0].title}\n{scored[0].message}")


def test_ids_are_unique_across_both_corpora() -> None:
    counts = Counter(entry["id"] for entry in [*ENTRIES, *HELD])
    assert [name for name, count in counts.items() if count > 1] == []


def test_no_payload_is_copied_from_the_corpus() -> None:
    def canonical(entry: dict[str, Any]) -> str:
        return json.dumps(entry["payload"], sort_keys=True)

    seen = {canonical(entry) for entry in ENTRIES}
    assert [entry["id"] for entry in HELD if canonical(entry) in seen] == []


def test_every_file_is_a_registered_source() -> None:
    assert {path.stem for path in HOLDOUT.glob("*.jsonl")} <= set(sources.registry())


def test_coverage_minima() -> None:
    # Enough events and sources for the figures to mean something, and every verdict represented.
    assert len(HELD) >= 80
    assert len({entry["source"] for entry in HELD}) >= 15
    assert {entry["expected"]["action"] for entry in HELD} == ACTIONS
    assert {entry["expected"]["severity"] for entry in HELD} == SEVERITIES
    assert sum(entry["must_escalate"] for entry in HELD) >= 10, "critical recall needs must-escalate events"
    assert sum(1 for entry in HELD if entry.get("injection")) >= 5
