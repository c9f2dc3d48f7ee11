"""Masking variable parts and mining message templates, on made-up and real webhook texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liberation_guardian import sources
from liberation_guardian.knowledge import templates
from liberation_guardian.knowledge.templates import WILDCARD, TemplateMiner, mask, tokenize


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Disk usage on web-3 is 91%", "Disk usage on web-<num> is <num>%"),
        ("GET https://api.example.com/v1/orders?id=5 failed after 3012ms", "GET <url> failed after <dur>"),
        ("login by bob@example.com from 10.0.0.12:5432", "login by <email> from <ip>"),
        ("peer fe80::1ff:fe23:4567:890a refused", "peer <ip> refused"),
        ("request 123e4567-e89b-12d3-a456-426614174000 lost", "request <uuid> lost"),
        ("job 3f2a9c1b and pointer 0x7ffd1234 crashed", "job <hex> and pointer <hex> crashed"),
        ("KeyError: 'DATABASE_URL' in /srv/app/worker.py", "KeyError: <str> in <path>"),
        ('reason "connection reset by peer" at 12:30:45', "reason <str> at <time>"),
        (
            "started 2024-03-01T12:00:01Z, took 1h30m, retried after 250ms",
            "started <time>, took <dur>, retried after <dur>",
        ),
        ("C:\\Users\\build\\app.log is full", "<path> is full"),
        # Versions, words with digits inside and plain hex-looking words are left to the miner.
        ("release v1.2.3 of deadbeef on node2 can't start", "release v1.2.3 of deadbeef on node2 can't start"),
    ],
)
def test_variable_parts_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[a-f0-9:./@\\'\"-]{1,12}", fullmatch=True),
            st.from_regex(r"[a-z]{1,6}[-_.]?\d{0,6}(ms|s|m|h)?", fullmatch=True),
            st.sampled_from(["2024-03-01T12:00:01Z", "10.0.0.1:80", "fe80::1", "x@y.io", "/a/b", "1h30m", "0x1f"]),
        ),
        max_size=12,
    ),
    st.sampled_from([" ", "\n", "  "]),
)
def test_masking_token_by_token_equals_masking_the_whole_text(words: list[str], space: str) -> None:
    text = space.join(words)
    whole = templates._STRING.sub("<str>", text)
    assert mask(text) == templates._MASK.sub(templates._placeholder, whole)


def test_texts_differing_in_variable_parts_share_one_template() -> None:
    miner = TemplateMiner()
    first = miner.add("Replication lag on db-3 is 42 seconds")
    miner.add("Replication lag on db-17 is 3 seconds")
    last = miner.add("Replication lag on replica-b is 7 seconds")
    assert len(miner) == 1
    assert last.id == first.id  # the id of the first text, kept as the template generalizes
    assert last.text == f"Replication lag on {WILDCARD} is <num> seconds"
    assert last.count == 3


def test_different_problems_get_different_templates() -> None:
    miner = TemplateMiner()
    lag = miner.add("Replication lag on db-3 is 42 seconds")
    disk = miner.add("Disk almost full on db-3 (91% used)")
    longer = miner.add("Replication lag on db-3 is 42 seconds and rising")
    assert len({lag.id, disk.id, longer.id}) == 3
    assert miner.match("Disk almost full on cache-9 (97% used)").template.id == disk.id  # type: ignore[union-attr]


def test_match_finds_the_template_without_changing_anything() -> None:
    miner = TemplateMiner()
    miner.add("Certificate for api.example.com expires in 6 days")
    before = list(miner)
    fit = miner.match("Certificate for shop.example.org expires in 2 days")
    assert fit is not None and fit.template.id == before[0].id
    assert fit.similarity == pytest.approx(6 / 7)  # the host differs: one position of seven
    assert list(miner) == before  # no count bumped, no position generalized
    assert miner.match("Queue orders-dlq has 513 messages waiting") is None
    assert len(miner) == 1


def test_ids_are_the_same_in_another_miner_fed_the_same_texts() -> None:
    texts = [f"Worker {n} of pool batch-{n % 3} exited with code {n * 7}" for n in range(20)]
    texts += [f"Cron job cleanup-{n} missed its schedule by {n}m" for n in range(5)]
    one, two = TemplateMiner(), TemplateMiner()
    assert [one.add(text).id for text in texts] == [two.add(text).id for text in texts]
    assert sorted(template.id for template in one) == sorted(template.id for template in two)


def test_a_full_node_sends_new_leading_words_down_the_wildcard_branch() -> None:
    miner = TemplateMiner(max_children=2, depth=1)
    ids = [miner.add(f"{word} failed on host").id for word in ("alpha", "beta", "gamma", "delta")]
    assert len(set(ids[:2])) == 2
    # gamma and delta share the wildcard branch, where they agree on three of four words.
    assert ids[2] == ids[3]
    fit = miner.match("omega failed on host")
    assert fit is not None and fit.template.id == ids[2] and fit.similarity == 1.0


def test_long_texts_are_cut_to_their_head() -> None:
    trace = "RuntimeError: worker stalled\n" + "\n".join(
        f'  File "/app/m{n}.py", line {n}, in f{n}' for n in range(500)
    )
    tokens = tokenize(trace)
    assert len(tokens) == 48 and tokens[:3] == ("RuntimeError:", "worker", "stalled")


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="similarity"):
        TemplateMiner(similarity=0)


def _fixture_texts(fixtures: Path) -> list[str]:
    """The text (title, then message) of every event the shared fixtures hold, parsed by their sources."""
    registry = sources.registry()
    texts = []
    for folder in sorted(path for path in fixtures.iterdir() if path.name in registry):
        source = registry[folder.name]
        for path in sorted(folder.glob("*.json")):
            for event in source(source.config_model(), {}).parse({}, path.read_bytes()):
                texts.append(f"{event.title}\n{event.message}" if event.message else event.title)
    return texts


def test_real_webhook_texts_each_find_their_template(fixtures_dir: Path) -> None:
    texts = _fixture_texts(fixtures_dir)
    assert len(texts) > 40
    miner = TemplateMiner()
    added = [miner.add(text) for text in texts]
    assert len(miner) < len(texts)  # resolved and firing twins, repeated alert shapes
    for text, template in zip(texts, added, strict=True):
        fit = miner.match(text)
        assert fit is not None, text
        assert fit.template.id == template.id
    again = TemplateMiner()
    assert [again.add(text).id for text in texts] == [template.id for template in added]
