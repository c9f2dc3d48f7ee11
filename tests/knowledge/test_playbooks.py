"""The shipped playbooks: they load, name only real patterns, select the most specific first, and seed once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select as sql_select

from liberation_guardian.knowledge.pack import Pack, shipped_pack
from liberation_guardian.knowledge.playbooks import (
    Playbook,
    PlaybookError,
    load_playbooks,
    select,
    shipped_playbooks,
)
from liberation_guardian.learn.patterns import seed_playbooks
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Playbook as PlaybookRow
from liberation_guardian.store.models import utcnow
from liberation_guardian.triage.category import TAXONOMY

PLAYBOOKS = shipped_playbooks()
PATTERNS = shipped_pack()
# The situations a small team meets most, each with the playbook it should be handed.
EXPECTED = {
    "hosts.disk-full", "hosts.memory-exhaustion", "hosts.cpu-saturation", "hosts.service-down",
    "clusters.node-not-ready", "clusters.crash-loop", "connectivity.certificate-expiry", "connectivity.dns-failure",
    "connectivity.link-down", "data.connections-exhausted", "data.replication-lag", "data.queue-backlog",
    "data.backup-failed", "spend.cost-spike", "security.leaked-credential", "security.suspected-breach",
    "delivery.failed-deploy",
}  # fmt: skip

GOOD = """\
version: 1
playbooks:
  - id: {stem}.{name}
    title: A test playbook
    category: {category}
    applies_to:
      - {rule}
    steps: [one step, two step, three step, four step, five step]
    verify: [it works]
"""


def _write(folder: Path, stem: str = "ops", *, name: str = "thing", category: str = "database", rule: str = "") -> Path:
    text = GOOD.format(stem=stem, name=name, category=category, rule=rule or "{patterns: [linux.disk-full]}")
    path = folder / f"{stem}.yml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped playbooks ---------------------------------------------------------------------------------------------


def test_the_shipped_playbooks_cover_the_usual_situations() -> None:
    assert len(PLAYBOOKS) >= 15
    assert {playbook.id for playbook in PLAYBOOKS} == EXPECTED
    assert len({playbook.title for playbook in PLAYBOOKS}) == len(PLAYBOOKS)


def test_every_playbook_has_ordered_steps_checks_and_a_category_of_the_taxonomy() -> None:
    for playbook in PLAYBOOKS:
        assert playbook.category in TAXONOMY, playbook.id
        assert 5 <= len(playbook.steps) <= 12, playbook.id
        assert playbook.verify, playbook.id
        assert len(set(playbook.steps)) == len(playbook.steps), playbook.id
        assert PLAYBOOKS.origin[playbook.id] == f"{playbook.id.split('.')[0]}.yml"


def test_every_referenced_pattern_exists_in_the_shipped_pack_and_selects_its_playbook_first() -> None:
    named = Counter(name for playbook in PLAYBOOKS for rule in playbook.applies_to for name in rule.patterns)
    known = {pattern.id for pattern in PATTERNS}
    assert set(named) <= known, set(named) - known
    assert [name for name, count in named.items() if count > 1] == []  # one pattern, one procedure
    for playbook in PLAYBOOKS:
        for name in {name for rule in playbook.applies_to for name in rule.patterns}:
            pattern = PATTERNS.get(name)
            found = select(PLAYBOOKS, category=pattern.category, pattern_id=name, tags=pattern.tags)
            assert found[0].id == playbook.id, (name, [p.id for p in found])


def test_words_select_a_playbook_when_no_pattern_matched() -> None:
    # An alert no pattern recognised still gets the playbook when its words say what it is.
    for text, category, wanted in [
        ("Filesystem /var on worker-3 is full: no space left on device", "infrastructure", "hosts.disk-full"),
        ("Node worker-7 is NotReady", "infrastructure", "clusters.node-not-ready"),
        ("Replica orders-db-2 is lagging 340 seconds behind its primary", "database", "data.replication-lag"),
        ("Nightly backup of orders-db failed: pg_dump exited with status 1", "other", "data.backup-failed"),
        ("IPsec tunnel to the Frankfurt office is down", "network", "connectivity.link-down"),
        ("Deployment checkout failed: ProgressDeadlineExceeded", "availability", "delivery.failed-deploy"),
    ]:
        found = select(PLAYBOOKS, category=category, text=text)
        assert found and found[0].id == wanted, (text, [p.id for p in found])


# -- selection ---------------------------------------------------------------------------------------------------------


def test_selection_puts_the_most_specific_rule_first() -> None:
    # The pattern names the disk playbook; the category alone names the catch-all of availability.
    found = select(PLAYBOOKS, category="availability", pattern_id="kubernetes.crashloop", tags=["kubernetes"])
    assert [p.id for p in found] == ["clusters.crash-loop", "hosts.service-down"]
    assert [p.id for p in select(PLAYBOOKS, category="availability")] == ["hosts.service-down"]


def test_a_kind_selects_without_any_pattern_and_outranks_words() -> None:
    found = select(PLAYBOOKS, category="security", kind="secret_scanning_alert", text="Leaked secret in acme/app")
    assert found[0].id == "security.leaked-credential"
    assert select(PLAYBOOKS, kind="deployment") == [PLAYBOOKS.get("delivery.failed-deploy")]


def test_every_field_of_a_rule_must_match() -> None:
    # Replication lag needs the database category with its tag; a replicated Kafka topic is not a database.
    assert select(PLAYBOOKS, category="infrastructure", tags=["kafka", "replication"]) == []
    assert [p.id for p in select(PLAYBOOKS, category="database", tags=["replication"])] == ["data.replication-lag"]
    # Tags are all-of: the leaked-credential rule wants both.
    assert select(PLAYBOOKS, category="configuration", tags=["secret"]) == []


def test_ties_are_broken_by_id_and_nothing_applies_to_an_unknown_situation() -> None:
    first = select(PLAYBOOKS, category="infrastructure", text="memory pressure and disk full on worker-1")
    again = select(PLAYBOOKS, category="infrastructure", text="memory pressure and disk full on worker-1")
    assert [p.id for p in first] == [p.id for p in again] == ["hosts.disk-full", "hosts.memory-exhaustion"]
    assert select(PLAYBOOKS, category="application", text="KeyError: 'plan'") == []
    assert select(PLAYBOOKS) == []


def test_words_need_text() -> None:
    assert select(PLAYBOOKS, category="network", text="") == []
    assert [p.id for p in select(PLAYBOOKS, category="network", text="DNS SERVFAIL for api.internal")] == [
        "connectivity.dns-failure"
    ]


# -- validation --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "{patterns: [linux.no-such-pattern]}"}, "pattern pack does not have: ['linux.no-such-pattern']"),
        ({"category": "plumbing"}, "category: 'plumbing' is not one of application"),
        ({"rule": "{categories: [plumbing]}"}, "applies_to.0.categories: ['plumbing'] not in the taxonomy"),
        ({"rule": "{words: 'disk (full'}"}, "applies_to.0.words: regex 'disk (full' does not compile"),
        ({"rule": "{}"}, "a rule must name at least one of patterns, kinds, words, tags, categories"),
        ({"rule": "{kinds: [Not A Slug]}"}, "applies_to.0.kinds.0"),
        ({"rule": "{pattern: linux.disk-full}"}, "applies_to.0.pattern: Extra inputs are not permitted"),
    ],
)
def test_an_invalid_playbook_is_refused_naming_its_file_and_id(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    _write(tmp_path, **kwargs)
    with pytest.raises(PlaybookError) as refused:
        load_playbooks(tmp_path)
    assert refused.value.file == "ops.yml" and refused.value.playbook_id == "ops.thing"
    assert str(refused.value).startswith("ops.yml, playbook 'ops.thing': ")
    assert message in str(refused.value)


def test_too_few_steps_a_multi_line_step_and_a_missing_check_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path)
    text = path.read_text(encoding="utf-8")
    for broken, message in [
        (text.replace(", five step]", "]"), "steps: List should have at least 5 items"),
        (text.replace("one step", '"one\\nstep"'), "steps.0: String should match pattern"),
        (text.replace("    verify: [it works]\n", ""), "verify: Field required"),
    ]:
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(PlaybookError, match=message) as refused:
            load_playbooks(tmp_path)
        assert refused.value.playbook_id == "ops.thing"


def test_ids_must_be_unique_and_start_with_their_file(tmp_path: Path) -> None:
    path = _write(tmp_path)
    text = path.read_text(encoding="utf-8")
    twice = text + text.split("playbooks:\n", 1)[1]
    path.write_text(twice, encoding="utf-8")
    with pytest.raises(PlaybookError, match="duplicate id, first defined in ops.yml") as refused:
        load_playbooks(tmp_path)
    assert (refused.value.file, refused.value.playbook_id) == ("ops.yml", "ops.thing")
    path.write_text(text, encoding="utf-8")
    path.rename(tmp_path / "elsewhere.yml")
    with pytest.raises(PlaybookError, match="the id must start with the file's stem 'elsewhere'"):
        load_playbooks(tmp_path)


def test_unreadable_files_and_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="no such playbook folder"):
        load_playbooks(tmp_path / "missing")
    with pytest.raises(PlaybookError, match="holds no \\*.yml playbook files"):
        load_playbooks(tmp_path)
    path = _write(tmp_path)
    path.write_text("version: 1\nplaybooks:\n  - id: ops.a\n    id: ops.b\n", encoding="utf-8")
    with pytest.raises(PlaybookError, match="line 4") as refused:
        load_playbooks(tmp_path)
    assert "appears twice" in str(refused.value) and refused.value.file == "ops.yml"
    path.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(PlaybookError, match="ops.yml: playbooks: Field required"):
        load_playbooks(tmp_path)


def test_pattern_ids_are_checked_against_the_pack_given(tmp_path: Path) -> None:
    _write(tmp_path, rule="{patterns: [python.module-not-found]}")
    assert len(load_playbooks(tmp_path)) == 1
    linux_only = Pack(tuple(pattern for pattern in PATTERNS if pattern.id.startswith("linux.")))
    with pytest.raises(PlaybookError, match="python.module-not-found"):
        load_playbooks(tmp_path, pack=linux_only)


def test_a_valid_folder_loads_with_its_selectors_as_plain_data(tmp_path: Path) -> None:
    _write(tmp_path, rule="{categories: [database], tags: [replication]}")
    (playbook,) = load_playbooks(tmp_path)
    assert isinstance(playbook, Playbook)
    assert playbook.selectors() == [{"tags": ["replication"], "categories": ["database"]}]
    assert playbook.applies_to[0].specificity == 3


# -- seeding the store -------------------------------------------------------------------------------------------------


def test_seeding_is_idempotent_updates_changed_definitions_and_leaves_other_origins_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    migrate(engine)
    factory = sessions(engine)
    now = utcnow()
    try:
        with transaction(factory) as session:
            session.add(
                PlaybookRow(
                    id="team.our-failover", origin="human", title="Our failover", category="database", steps="a"
                )
            )
            session.add(PlaybookRow(id="hosts.retired", origin="builtin", title="Gone", category="other", steps="b"))
            assert seed_playbooks(session, now) == len(PLAYBOOKS) + 1  # every shipped one added, the retired dropped
        with transaction(factory) as session:
            assert seed_playbooks(session, now + timedelta(minutes=1)) == 0
            row = session.get(PlaybookRow, "hosts.disk-full")
            assert row is not None
            row.steps = "edited by hand"
        with transaction(factory) as session:
            assert seed_playbooks(session, now + timedelta(minutes=2)) == 1
        with factory() as session:
            rows = {row.id: row for row in session.scalars(sql_select(PlaybookRow))}
        assert set(rows) == {playbook.id for playbook in PLAYBOOKS} | {"team.our-failover"}
        disk = rows["hosts.disk-full"]
        assert disk.steps.splitlines() == PLAYBOOKS.get("hosts.disk-full").steps
        assert disk.created_at == now and disk.updated_at == now + timedelta(minutes=2)
        assert rows["spend.cost-spike"].updated_at == now
        assert rows["team.our-failover"].steps == "a" and rows["team.our-failover"].origin == "human"
        assert rows["security.leaked-credential"].applies_to[1] == {"kinds": ["secret_scanning_alert"]}
    finally:
        engine.dispose()
