"""The lexical index: TF-IDF cosine over words, placeholders left out, kept exact as texts come and go."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from liberation_guardian.knowledge.similar import LexicalIndex, words

TEMPLATES = {
    "lag": "Replication lag on <*> is <num> seconds",
    "disk": "Disk almost full on <*> (<num>% used)",
    "cert": "Certificate for <*> expires in <dur>",
    "oom": "Container <*> was killed: out of memory (limit <num>Mi)",
    "restart": "Container <*> restarted <num> times in <dur>",
}


def _index(entries: dict[str, str]) -> LexicalIndex:
    index = LexicalIndex()
    for key, text in entries.items():
        index.add(key, text)
    return index


def test_words_leave_out_placeholders_and_numbers() -> None:
    assert words("Container <*> restarted <num> times in web-<num> 42") == [
        "container",
        "restarted",
        "times",
        "in",
        "web",
    ]


def test_the_nearest_text_shares_the_most_telling_words() -> None:
    index = _index(TEMPLATES)
    [(key, similarity)] = index.nearest("replication lag on db-4 is 12 seconds behind primary", 1)
    assert key == "lag" and 0.6 < similarity < 1.0
    assert index.nearest(TEMPLATES["cert"], 1) == [("cert", 1.0)]
    ranked = index.nearest("container api-1 was killed: out of memory", 3)
    assert [key for key, _ in ranked][:2] == ["oom", "restart"]  # "container" alone is a weaker tie
    assert ranked[0][1] > ranked[1][1] > 0
    assert index.nearest("nothing shared whatsoever", 3) == []
    [(key, similarity)] = index.nearest("nothing shared in the least", 1)  # only a short common word: weak
    assert similarity < 0.3


def test_rare_words_weigh_more_than_common_ones() -> None:
    index = _index({"a": "error in payment service", "b": "error in ledger reconciliation", "c": "error in search"})
    [(key, _)] = index.nearest("reconciliation error", 1)
    assert key == "b"


def test_replacing_removing_and_excluding() -> None:
    index = _index(TEMPLATES)
    index.add("lag", "Replica lag on <*> is <num> seconds behind")  # a template that generalized
    assert "lag" in index and len(index) == 5
    assert index.nearest("replica lag on db-2 is 3 seconds behind", 1)[0][0] == "lag"
    index.remove("lag")
    index.remove("lag")  # forgetting twice is harmless
    assert "lag" not in index and all(key != "lag" for key, _ in index.nearest("replica lag seconds behind", 5))
    assert [key for key, _ in index.nearest(TEMPLATES["cert"], 2, exclude="cert")] != ["cert"]
    assert LexicalIndex().nearest("anything") == []


def test_an_index_grown_step_by_step_answers_like_one_built_at_once() -> None:
    grown = LexicalIndex()
    query = "container web-2 restarted 5 times, out of memory"
    for key, text in TEMPLATES.items():
        grown.add(key, text)
        grown.nearest(query, 5)  # caches lengths that the next text makes stale
    assert grown.nearest(query, 5) == _index(dict(reversed(TEMPLATES.items()))).nearest(query, 5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcdef <>*0123 -", max_size=40), min_size=1, max_size=8), st.text(max_size=40))
def test_similarities_are_ranked_cosines(texts: list[str], query: str) -> None:
    index = _index({str(n): text for n, text in enumerate(texts)})
    ranked = index.nearest(query, 10)
    assert all(0.0 < similarity <= 1.0 for _, similarity in ranked)
    assert [similarity for _, similarity in ranked] == sorted((similarity for _, similarity in ranked), reverse=True)
    for threshold in (0.3, 0.8):
        # Scoring only the texts that share the heaviest words loses none above the threshold.
        assert index.nearest(query, 10, min_similarity=threshold) == [
            (key, similarity) for key, similarity in ranked if similarity >= threshold
        ]
