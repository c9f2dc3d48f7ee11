"""How the pattern index picks a pattern, and which words it reads from a regular expression."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from liberation_guardian.knowledge import PatternIndex, load_pack
from liberation_guardian.knowledge._literals import branches
from liberation_guardian.knowledge.match import MAX_TEXT


def _pack(folder: Path, *patterns: Mapping[str, object]) -> PatternIndex:
    entries = []
    for entry in patterns:
        full: dict[str, object] = {
            "title": "A problem",
            "category": "application",
            "severity": "medium",
            "action": "investigate",
            "runbook": ["One.", "Two.", "Three."],
        }
        full.update(entry)
        entries.append(full)
    (folder / "app.yml").write_text(yaml.safe_dump({"version": 1, "patterns": entries}), encoding="utf-8")
    return PatternIndex(load_pack(folder))


def test_a_qualifying_pattern_outranks_the_symptom_it_qualifies(tmp_path: Path) -> None:
    patterns = [
        {
            "id": "app.unavailable",
            "match": {"any": [r"\b503 Service Unavailable\b"]},
            "examples": ["HTTP/1.1 503 Service Unavailable"],
        },
        {
            "id": "app.flapping",
            "match": {"any": [r"\bstarted flapping\b"]},
            "action": "auto_acknowledge",
            "examples": ["HTTP started flapping"],
        },
    ]
    text = "HTTP on web-01 started flapping\nHTTP WARNING: HTTP/1.1 503 Service Unavailable"
    plain = _pack(tmp_path, *patterns).best(text)
    assert plain is not None and plain.pattern.id == "app.unavailable"  # more literal characters
    patterns[1]["priority"] = 1
    ranked = _pack(tmp_path, *patterns).best(text)
    assert ranked is not None and ranked.pattern.id == "app.flapping"
    assert ranked.specificity == (0, len("started flapping"), len("started flapping"))


def test_the_longer_literal_wins(tmp_path: Path) -> None:
    index = _pack(
        tmp_path,
        {
            "id": "app.improper",
            "match": {"any": [r"\bImproperlyConfigured: "]},
            "examples": ["ImproperlyConfigured: x"],
        },
        {
            "id": "app.secret-key",
            "match": {"any": [r"\bThe SECRET_KEY setting must not be empty\b"]},
            "examples": ["The SECRET_KEY setting must not be empty"],
        },
    )
    found = index.best("ImproperlyConfigured: The SECRET_KEY setting must not be empty.")
    assert found is not None and found.pattern.id == "app.secret-key"
    assert [
        match.pattern.id for match in index.matches("ImproperlyConfigured: The SECRET_KEY setting must not be empty")
    ] == [
        "app.secret-key",
        "app.improper",
    ]
    assert found.matched == "The SECRET_KEY setting must not be empty" and found.span == (22, 62)


def test_a_confirmed_exception_type_beats_a_longer_literal(tmp_path: Path) -> None:
    index = _pack(
        tmp_path,
        {
            "id": "app.long",
            "match": {"any": [r"\bcould not connect to the server at all\b"]},
            "examples": ["could not connect to the server at all"],
        },
        {
            "id": "app.typed",
            "match": {"any": [r"\bcould not connect\b"], "exception_type": "OperationalError"},
            "examples": [{"text": "could not connect", "exception_type": "OperationalError"}],
        },
    )
    text = "could not connect to the server at all"
    assert index.best(text).pattern.id == "app.long"  # type: ignore[union-attr]
    assert index.best(text, exception_type="psycopg2.OperationalError").pattern.id == "app.typed"  # type: ignore[union-attr]
    # A known exception type that is not the declared one rules the typed pattern out.
    assert [m.pattern.id for m in index.matches(text, exception_type="KeyError")] == ["app.long"]
    # Without a type, the declared one is looked for in the text itself.
    assert index.best("OperationalError: could not connect").pattern.id == "app.typed"  # type: ignore[union-attr]


def test_source_and_kind_filters_exclude_known_mismatches_and_confirm_matches(tmp_path: Path) -> None:
    index = _pack(
        tmp_path,
        {"id": "app.any", "match": {"any": [r"\bdisk is full on host\b"]}, "examples": ["disk is full on host"]},
        {
            "id": "app.alert",
            "match": {"any": [r"\bdisk is full\b"], "sources": ["alertmanager"], "kinds": ["alert"]},
            "examples": [{"text": "disk is full", "source": "alertmanager", "kind": "alert"}],
        },
    )
    text = "disk is full on host db-1"
    assert index.best(text).pattern.id == "app.any"  # type: ignore[union-attr]
    assert index.best(text, source="alertmanager").pattern.id == "app.alert"  # type: ignore[union-attr]
    assert index.best(text, source="alertmanager", kind="alert").specificity[0] == 2  # type: ignore[union-attr]
    assert [m.pattern.id for m in index.matches(text, source="sentry")] == ["app.any"]
    assert [m.pattern.id for m in index.matches(text, source="alertmanager", kind="resolved")] == ["app.any"]


def test_the_index_agrees_with_every_pattern_run_on_its_own_under_filters(tmp_path: Path) -> None:
    index = _pack(
        tmp_path,
        {"id": "app.plain", "match": {"any": [r"\bdisk full\b"]}, "examples": ["disk full"]},
        {
            "id": "app.sourced",
            "match": {"any": [r"\bdisk full\b"], "sources": ["sentry", "datadog"]},
            "examples": ["disk full"],
        },
        {"id": "app.kinded", "match": {"any": [r"\bdisk\b"], "kinds": ["alert"]}, "examples": ["disk"]},
        {
            "id": "app.typed",
            "match": {"any": [r"\bfull\b"], "exception_type": r"^OSError$"},
            "examples": [{"text": "full", "exception_type": "OSError"}],
        },
        {"id": "app.always", "match": {"any": [r"d\w+k"]}, "examples": ["disk"]},
    )
    for text in ["disk full", "OSError: disk full", "the desk", "nothing"]:
        for source in [None, "", "sentry", "datadog", "github"]:
            for kind in [None, "", "alert", "metric"]:
                for exception_type in [None, "OSError", "KeyError"]:
                    event = {"source": source, "kind": kind, "exception_type": exception_type}
                    slow = {p.id for p in index.patterns if p.find(text, **event) is not None}
                    fast = index.matches(text, **event)
                    assert {match.pattern.id for match in fast} == slow, (text, event)
                    for match in fast:
                        hit = match.pattern.find(text, **event)
                        assert hit is not None and match.specificity[0] == hit.confirmed


def test_ties_go_to_the_earlier_pattern(tmp_path: Path) -> None:
    index = _pack(
        tmp_path,
        {"id": "app.first", "match": {"any": [r"\bboom\b"]}, "examples": ["boom"]},
        {"id": "app.second", "match": {"any": [r"\bboom\b"]}, "examples": ["boom"]},
    )
    assert [m.pattern.id for m in index.matches("boom")] == ["app.first", "app.second"]


def test_declared_keywords_index_a_regex_with_no_readable_word(tmp_path: Path) -> None:
    pattern = {"id": "app.lint", "match": {"any": [r"\d+ problems? \("]}, "examples": ["3 problems (3 errors)"]}
    index = _pack(tmp_path, pattern)
    assert index.unindexed == ["app.lint"]  # still found: it is simply run for every lookup
    assert index.best("1 problem (1 error)").pattern.id == "app.lint"  # type: ignore[union-attr]
    index = _pack(tmp_path, {**pattern, "keywords": ["problem", "problems"]})
    assert index.unindexed == []
    assert index.best("1 problem (1 error)").pattern.id == "app.lint"  # type: ignore[union-attr]
    assert index.best("nothing to see") is None


def test_only_the_start_of_a_huge_text_is_searched(tmp_path: Path) -> None:
    index = _pack(tmp_path, {"id": "app.boom", "match": {"any": [r"\bboom\b"]}, "examples": ["boom"]})
    assert index.best("x" * 10 + " boom") is not None
    assert index.best("x" * MAX_TEXT + " boom") is None


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (r"ModuleNotFoundError: No module named", [{"no", "module"}]),  # edge words may be parts of longer words
        (r"\bModuleNotFoundError: No module named\b", [{"modulenotfounderror", "no", "module", "named"}]),
        (r"^FATAL:  sorry, too many clients$", [{"fatal", "sorry", "too", "many", "clients"}]),
        (r"\berrors? found\b", [{"found"}]),  # an optional letter leaves the word unknown
        (r"\bconnect ECONNREFUSED \S+:\d+", [{"connect", "econnrefused"}]),
        (r"\b(?:moderate|medium) severity\b", [{"severity"}]),  # words inside groups are not required
        (r"\bfoo\b|\bbar baz\b", [{"foo"}, {"bar", "baz"}]),  # one set per top-level branch
        (r"\bx\s+y\b", [{"x", "y"}]),
        (r"\bx\s*y\b", [set()]),
        (r"\b\[Errno 111\] refused\b", [{"errno", "111", "refused"}]),
        (r"\bCVE-\d{4}-\d{4,}\b", [{"cve"}]),
        (r"\bdial tcp [^\n]+ refused\b", [{"dial", "tcp", "refused"}]),
        (r"\bTest\w+ failed\b", [{"failed"}]),
        (r"(?x) spaced \b words \b", [set()]),  # verbose mode: spaces mean nothing, read nothing
        (r"\ba{2}b\b", [set()]),
        (r"(?:\bNXDOMAIN\b)[\s\S]*?\bsvc1\b", [{"nxdomain", "svc1"}]),  # a plain group is read through
        (r"(?P<name>\bfoo bar\b) baz", [{"foo", "bar"}]),
        (r"(\bab)+ cd\b", [{"cd"}]),  # a repeated group is not
        (r"(?=\bfoo\b)bar\b", [set()]),  # nor a lookahead
        (r"\ba(?: b)?\b", [set()]),
        (r"\bweird{brace}\b", [{"weird", "brace"}]),
    ],
)
def test_required_words_read_from_a_regex(regex: str, expected: list[set[str]]) -> None:
    assert [set(branch.words) for branch in branches(regex)] == expected


_ALPHABET = "abc _-:.'\"()[]{}|\\?*+^$sdbwW0123"


@settings(max_examples=400, deadline=None)
@given(regex=st.text(alphabet=_ALPHABET, max_size=24), text=st.text(alphabet="abc _-:.'\"()[]{}0123\n", max_size=40))
def test_every_reported_word_is_in_every_text_the_regex_matches(regex: str, text: str) -> None:
    try:
        compiled = re.compile(regex, re.I)
    except (re.error, FutureWarning):  # warnings are errors in the test run; "[[" draws one
        return
    found = compiled.search(text)
    if found is None:
        return
    words = set(re.findall(r"\w+", text.lower()))
    assert any(branch.words <= words for branch in branches(regex)), (regex, text)
