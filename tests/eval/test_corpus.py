"""The labeled evaluation corpus (eval/corpus) is well formed, parses with the real sources, and covers enough.

Each line is one payload as a tool sends it, with the verdict a careful on-call engineer would
give it (docs/eval.md has the rules). These tests keep the corpus honest: every label uses the
shared vocabulary, every payload still parses with its source as the sources evolve, and the
coverage the evaluation's numbers depend on (critical recall needs many must-escalate events,
macro-F1 needs every category) cannot quietly shrink.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from liberation_guardian import sources
from liberation_guardian.events import Severity
from liberation_guardian.triage.base import Action
from liberation_guardian.triage.category import TAXONOMY

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "eval" / "corpus"
GUIDE = ROOT / "docs" / "eval.md"

ACTIONS = {action.value for action in Action}
SEVERITIES = {severity.value for severity in Severity}
CATEGORIES = set(TAXONOMY)
TAGS = {"informational", "recovery", "noisy", "repeat", "hard"}
REQUIRED = {"id", "source", "headers", "payload", "expected", "must_escalate", "why"}
OPTIONAL = {"injection", "tags", "kinds"}
# Words every injected instruction uses one of; an injection the parsed event does not show tests nothing.
INJECTED_WORDS = re.compile(r"ignore|instruction|disregard|auto.?acknowledge|do not|verdict", re.I)


def _load_counts() -> ModuleType:
    # eval/ is a folder of data and scripts, not a package: load the counting script by its path.
    spec = importlib.util.spec_from_file_location("eval_counts", ROOT / "eval" / "counts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read() -> list[tuple[str, int, dict[str, Any]]]:
    lines = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            lines.append((path.stem, number, json.loads(line)))
    return lines


LINES = _read()
ENTRIES = [entry for _, _, entry in LINES]


def _problems(file_source: str, entry: dict[str, Any]) -> list[str]:
    """Everything wrong with one line, as readable complaints naming the key."""
    problems = [f"missing key {key!r}" for key in sorted(REQUIRED - entry.keys())]
    problems += [f"unknown key {key!r}" for key in sorted(entry.keys() - REQUIRED - OPTIONAL)]
    if problems:
        return problems
    source, expected = entry["source"], entry["expected"]
    if source != file_source:
        problems.append(f"source {source!r} is not the file's ({file_source!r})")
    if not re.fullmatch(rf"{re.escape(file_source)}-\d{{3}}", str(entry["id"])):
        problems.append(f"id {entry['id']!r} is not '{file_source}-NNN'")
    if not isinstance(entry["headers"], dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in entry["headers"].items()
    ):
        problems.append("headers must be an object of strings")
    problems += _expected_problems(expected)
    if not isinstance(entry["must_escalate"], bool):
        problems.append("must_escalate must be true or false")
    why = entry["why"]
    if not isinstance(why, str) or not why.strip() or "\n" in why:
        problems.append("why must be one non-empty line")
    if "injection" in entry and entry["injection"] is not True:
        problems.append("injection, when present, must be true")
    if not set(entry.get("tags", [])) <= TAGS:
        problems.append(f"tags {entry['tags']!r} are not all in {sorted(TAGS)}")
    if "kinds" in entry and not (isinstance(entry["kinds"], list) and entry["kinds"]):
        problems.append("kinds, when present, must be a non-empty list of event kinds")
    return problems


def _expected_problems(expected: Any) -> list[str]:
    if not isinstance(expected, dict) or set(expected) != {"action", "severity", "category"}:
        return ["expected must have exactly action, severity and category"]
    vocabulary = {"action": ACTIONS, "severity": SEVERITIES, "category": CATEGORIES}
    return [
        f"expected.{key} {expected[key]!r} is not one of {sorted(words)}"
        for key, words in vocabulary.items()
        if expected[key] not in words
    ]


def _label_rules(entry: dict[str, Any]) -> list[str]:
    """The labeling rules of docs/eval.md that tie the labels together."""
    expected, must = entry["expected"], entry["must_escalate"]
    broken = []
    if must and expected["action"] != "escalate":
        broken.append("a must_escalate event must have action escalate")
    if must != (expected["severity"] == "critical"):
        broken.append("must_escalate is true exactly for critical events (critical always escalates at once)")
    if entry.get("injection") and not must:
        broken.append("an injection case must be labeled by its real problem, which must escalate")
    if expected["severity"] == "info" and expected["action"] != "auto_acknowledge":
        broken.append("an info event (nothing wrong) is auto_acknowledge")
    return broken


@pytest.mark.parametrize(("file_source", "number", "entry"), LINES, ids=[f"{s}:{n}" for s, n, _ in LINES])
def test_every_line_is_valid(file_source: str, number: int, entry: dict[str, Any]) -> None:
    problems = _problems(file_source, entry)
    assert problems == [], f"{file_source}.jsonl line {number}"
    assert _label_rules(entry) == [], entry["id"]


def test_the_validation_rejects_a_bad_line() -> None:
    # The checks above must be able to fail: a line with a wrong label, id and extra key is refused.
    bad = {
        "id": "sentry-1",
        "source": "sentry",
        "headers": {},
        "payload": {},
        "expected": {"action": "page", "severity": "urgent", "category": "database"},
        "must_escalate": "yes",
        "why": "two\nlines",
        "colour": "red",
    }
    assert _problems("sentry", bad) == ["unknown key 'colour'"]
    del bad["colour"]
    assert _problems("sentry", bad) == [
        "id 'sentry-1' is not 'sentry-NNN'",
        "expected.action 'page' is not one of ['auto_acknowledge', 'auto_fix', 'escalate', 'investigate']",
        "expected.severity 'urgent' is not one of ['critical', 'high', 'info', 'low', 'medium']",
        "must_escalate must be true or false",
        "why must be one non-empty line",
    ]
    assert _label_rules(
        {"expected": {"action": "auto_acknowledge", "severity": "critical", "category": "x"}, "must_escalate": False}
    ) == ["must_escalate is true exactly for critical events (critical always escalates at once)"]


def test_ids_are_unique() -> None:
    counts = Counter(entry["id"] for entry in ENTRIES)
    assert [name for name, count in counts.items() if count > 1] == []


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry["id"] for entry in ENTRIES])
def test_every_payload_parses_with_its_source(entry: dict[str, Any]) -> None:
    cls = sources.registry()[entry["source"]]
    headers = {name.lower(): value for name, value in entry["headers"].items()}  # as the receiver passes them
    events = cls(cls.config_model(), {}).parse(headers, json.dumps(entry["payload"]).encode())
    assert len(events) >= 1
    scored = [event for event in events if event.kind in entry.get("kinds", [event.kind])]
    # One line, one verdict: the labels describe exactly one event.
    assert len(scored) == 1, f"scored kinds {entry.get('kinds')}; got {[event.kind for event in events]}"
    if entry.get("injection"):
        assert INJECTED_WORDS.search(f"{scored[0].title}\n{scored[0].message}")


def test_every_registered_source_has_a_corpus_file() -> None:
    assert {path.stem for path in CORPUS.glob("*.jsonl")} == set(sources.registry())


def test_coverage_minima() -> None:
    actions = Counter(entry["expected"]["action"] for entry in ENTRIES)
    categories = Counter(entry["expected"]["category"] for entry in ENTRIES)
    severities = Counter(entry["expected"]["severity"] for entry in ENTRIES)
    must = sum(entry["must_escalate"] for entry in ENTRIES)
    assert len(ENTRIES) >= 400
    assert {name: count for name, count in categories.items() if count < 15} == {}
    assert set(categories) == CATEGORIES
    assert {name: count for name, count in actions.items() if count < 40} == {}
    assert set(actions) == ACTIONS
    assert {name: count for name, count in severities.items() if count < 40} == {}
    assert set(severities) == SEVERITIES
    assert 0.2 <= must / len(ENTRIES) <= 0.35, "about a quarter of the events must escalate"


def test_hard_cases_are_present() -> None:
    tags = Counter(tag for entry in ENTRIES for tag in entry.get("tags", []))
    assert sum(1 for entry in ENTRIES if entry.get("injection")) >= 20
    assert tags["informational"] >= 20
    assert tags["noisy"] >= 20
    assert tags["repeat"] >= 3
    assert tags["recovery"] >= 15


def test_the_guide_shows_the_current_counts() -> None:
    counts = _load_counts()
    guide = GUIDE.read_text(encoding="utf-8")
    start, end = "<!-- counts:start -->", "<!-- counts:end -->"
    assert start in guide and end in guide
    pasted = guide.split(start, 1)[1].split(end, 1)[0].strip()
    expected = counts.tables(counts.read_corpus(CORPUS))
    assert pasted == expected, "regenerate: python eval/counts.py, paste the tables into docs/eval.md"
