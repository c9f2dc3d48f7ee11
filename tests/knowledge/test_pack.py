"""The shipped pattern pack: it loads, covers every stack and category, and every example finds its own pattern."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from liberation_guardian import sources
from liberation_guardian.events import Severity
from liberation_guardian.knowledge import PackError, Pattern, PatternIndex, load_pack
from liberation_guardian.knowledge.pack import FIX_TEMPLATES, SHIPPED
from liberation_guardian.triage.base import Action

PACK = load_pack()
INDEX = PatternIndex(PACK)
STACKS = {
    "python", "javascript", "java", "go", "ruby", "databases", "kubernetes", "containers", "network", "cloud", "ci",
    "dependencies", "linux", "messaging",
}  # fmt: skip
CATEGORIES = {
    "application", "availability", "ci", "configuration", "cost", "database", "dependency", "infrastructure",
    "network", "performance", "security",
}  # fmt: skip
EXAMPLES = [(pattern, number) for pattern in PACK for number in range(len(pattern.examples))]


def _brute_force(text: str) -> set[str]:
    """Every pattern whose regexes match, found the slow way: by running all of them."""
    return {pattern.id for pattern in PACK if pattern.find(text) is not None}


def test_the_shipped_pack_loads_with_at_least_200_patterns() -> None:
    assert len(PACK) >= 200
    assert len({pattern.id for pattern in PACK}) == len(PACK)


def test_every_stack_has_a_versioned_file() -> None:
    assert set(PACK.stacks) == STACKS
    assert all(version >= 1 for version in PACK.versions.values())
    per_file = Counter(PACK.origin.values())
    assert all(per_file[f"{stack}.yml"] >= 6 for stack in STACKS), per_file


def test_every_category_but_other_is_covered() -> None:
    # `other` is for what fits nowhere; a known pattern always knows its category.
    assert {pattern.category for pattern in PACK} == CATEGORIES


def test_every_action_and_severity_is_used() -> None:
    assert {pattern.action for pattern in PACK} == set(Action)
    assert {pattern.severity for pattern in PACK} == set(Severity)


def test_every_fix_template_named_by_the_pack_is_known_and_used() -> None:
    used = {pattern.fix_template for pattern in PACK if pattern.fix_template}
    assert used == FIX_TEMPLATES


def test_source_filters_name_real_sources() -> None:
    named = {name for pattern in PACK for name in pattern.match.sources}
    named |= {example.source for pattern in PACK for example in pattern.examples if example.source}
    assert named <= set(sources.registry())


def test_no_shipped_pattern_is_run_for_every_lookup() -> None:
    assert INDEX.unindexed == []


@pytest.mark.parametrize(("pattern", "number"), EXAMPLES, ids=[f"{p.id}[{n}]" for p, n in EXAMPLES])
def test_each_example_finds_its_own_pattern(pattern: Pattern, number: int) -> None:
    example = pattern.examples[number]
    assert pattern.match_example(example) is not None
    found = INDEX.best(example.text, source=example.source, kind=example.kind, exception_type=example.exception_type)
    assert found is not None
    assert found.pattern.id == pattern.id or found.pattern.id in pattern.shadowed_by, found.pattern.id
    assert found.matched == example.text[found.span[0] : found.span[1]]
    assert re.search(found.regex, found.matched, re.I)


def test_every_declared_shadow_is_really_needed() -> None:
    for pattern in PACK:
        winners = set()
        for example in pattern.examples:
            found = INDEX.best(example.text, exception_type=example.exception_type)
            assert found is not None
            winners.add(found.pattern.id)
        assert set(pattern.shadowed_by) == winners - {pattern.id}, pattern.id


@pytest.mark.parametrize(("pattern", "number"), EXAMPLES[::7], ids=[f"{p.id}[{n}]" for p, n in EXAMPLES[::7]])
def test_the_index_finds_exactly_what_running_every_regex_finds(pattern: Pattern, number: int) -> None:
    text = pattern.examples[number].text
    assert {match.pattern.id for match in INDEX.matches(text)} == _brute_force(text)


_FRAGMENTS = [example.text for pattern in PACK for example in pattern.examples]


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=3),
    cuts=st.tuples(st.integers(0, 40), st.integers(0, 40)),
    noise=st.text(max_size=20),
)
def test_the_index_agrees_with_brute_force_on_mixed_and_cut_examples(
    parts: list[str], cuts: tuple[int, int], noise: str
) -> None:
    text = noise.join(parts)
    text = text[cuts[0] : len(text) - cuts[1]]
    assert {match.pattern.id for match in INDEX.matches(text)} == _brute_force(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=400),
    source=st.none() | st.sampled_from(["sentry", "github", "kubernetes", "x"]),
    kind=st.none() | st.text(max_size=10),
    exception_type=st.none() | st.text(max_size=30),
)
def test_best_never_raises_on_random_text(
    text: str, source: str | None, kind: str | None, exception_type: str | None
) -> None:
    found = INDEX.best(text, source=source, kind=kind, exception_type=exception_type)
    assert found is None or found.pattern in PACK.patterns


def test_the_default_folder_is_the_packaged_one() -> None:
    assert SHIPPED.is_dir() and SHIPPED.parent.name == "knowledge"
    assert len(load_pack(SHIPPED)) == len(PACK)


# --- bad packs give clear errors naming the file and the pattern ---------------------------------------------------


def _pattern(pattern_id: str, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": pattern_id,
        "title": "Something broke",
        "match": {"any": [r"\bsomething broke\b"]},
        "category": "application",
        "severity": "medium",
        "action": "investigate",
        "runbook": ["Look at it.", "Fix it.", "Test it."],
        "examples": ["oh no, something broke again"],
    }
    entry.update(changes)
    return entry


def _write(folder: Path, name: str, *patterns: dict[str, object], version: object = 1) -> None:
    document = {"version": version, "patterns": list(patterns)}
    (folder / name).write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")


def _error(folder: Path) -> PackError:
    with pytest.raises(PackError) as raised:
        load_pack(folder)
    return raised.value


def test_a_duplicate_id_is_named(tmp_path: Path) -> None:
    # Ids start with their file's stem, so two files can never clash; a file can repeat an id.
    _write(tmp_path, "app.yml", _pattern("app.broke"), _pattern("app.broke"))
    error = _error(tmp_path)
    assert (error.file, error.pattern_id) == ("app.yml", "app.broke")
    assert "duplicate id" in str(error) and "first defined in app.yml" in str(error)


def test_a_regex_that_does_not_compile_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke", match={"any": ["something (broke"]}))
    error = _error(tmp_path)
    assert (error.file, error.pattern_id) == ("app.yml", "app.broke")
    assert "match.any" in str(error) and "'something (broke' does not compile" in str(error)


def test_an_unknown_category_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke", category="weather"))
    error = _error(tmp_path)
    assert str(error).startswith("app.yml, pattern 'app.broke': category: 'weather' is not one of application")


def test_an_unknown_action_severity_and_fix_template_are_named(tmp_path: Path) -> None:
    for field, value, expected in [
        ("action", "panic", "action: Input should be 'escalate'"),
        ("severity", "urgent", "severity: Input should be 'critical'"),
        ("fix_template", "make-it-work", "fix_template: unknown fix_template 'make-it-work'"),
    ]:
        _write(tmp_path, "app.yml", _pattern("app.broke", **{field: value}))
        error = _error(tmp_path)
        assert error.pattern_id == "app.broke" and expected in str(error), str(error)


def test_an_example_its_pattern_does_not_match_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke"), _pattern("app.other", examples=["all is well"]))
    error = _error(tmp_path)
    assert (error.file, error.pattern_id) == ("app.yml", "app.other")
    assert str(error) == "app.yml, pattern 'app.other': examples[0] is not matched by the pattern: 'all is well'"


def test_an_example_outside_the_pattern_filters_is_not_matched(tmp_path: Path) -> None:
    filtered = _pattern(
        "app.broke",
        match={"any": [r"\bsomething broke\b"], "sources": ["sentry"]},
        examples=[{"text": "something broke", "source": "github"}],
    )
    _write(tmp_path, "app.yml", filtered)
    assert "is not matched by the pattern" in str(_error(tmp_path))


def test_keywords_must_appear_in_every_example(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke", keywords=["exploded"]))
    assert "contains none of the keywords ['exploded']" in str(_error(tmp_path))


def test_an_id_must_start_with_its_file_stem(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("web.broke"))
    error = _error(tmp_path)
    assert (error.file, error.pattern_id) == ("app.yml", "web.broke")
    assert "must start with the file's stem 'app'" in str(error)


def test_shadowed_by_must_name_known_patterns(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke", shadowed_by=["app.missing"]))
    assert "shadowed_by names unknown patterns: ['app.missing']" in str(_error(tmp_path))


def test_unknown_keys_and_short_runbooks_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "app.yml", _pattern("app.broke", owner="me"))
    assert "owner: Extra inputs are not permitted" in str(_error(tmp_path))
    _write(tmp_path, "app.yml", _pattern("app.broke", runbook=["Fix it."]))
    assert "runbook: List should have at least 3 items" in str(_error(tmp_path))


def test_a_file_without_version_or_patterns_is_named(tmp_path: Path) -> None:
    (tmp_path / "app.yml").write_text("patterns: []\n", encoding="utf-8")
    error = _error(tmp_path)
    assert error.file == "app.yml" and error.pattern_id is None
    assert "version: Field required" in str(error) and "patterns: List should have at least 1 item" in str(error)
    _write(tmp_path, "app.yml", _pattern("app.broke"), version="1")
    assert "version: Input should be a valid integer" in str(_error(tmp_path))


def test_broken_yaml_and_repeated_keys_give_the_line(tmp_path: Path) -> None:
    (tmp_path / "app.yml").write_text("version: 1\npatterns:\n  - id: app.a\n    id: app.b\n", encoding="utf-8")
    error = _error(tmp_path)
    assert (error.file, error.line) == ("app.yml", 4)
    assert "key 'id' appears twice" in str(error)
    (tmp_path / "app.yml").write_text("version: 1\npatterns: [\n", encoding="utf-8")
    assert _error(tmp_path).line is not None


def test_a_missing_or_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert "no *.yml pattern files" in str(_error(tmp_path))
    assert "no such pattern folder" in str(_error(tmp_path / "missing"))
