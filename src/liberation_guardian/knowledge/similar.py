"""Lexical similarity: which stored texts share the most telling words with a new one.

`LexicalIndex` keeps short texts (message templates, in practice) under a key and answers
`nearest(text, k)` with the keys whose TF-IDF vectors have the highest cosine with the
text's. Words are lowercase runs of letters, digits and underscores that start with a
letter; placeholders such as `<num>` or `<*>` are dropped, since they say nothing about
the problem. An inverted index means a lookup only scores texts sharing at least one word.

Inverse document frequencies change with every text added, which would change every
stored vector's length; lengths are therefore recomputed lazily, only for texts a lookup
scores, and only when the index changed since they were last computed.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter

_PLACEHOLDER = re.compile(r"<[^<>\s]{1,8}>")
_WORD = re.compile(r"[^\W\d_]\w+")


def words(text: str) -> list[str]:
    """The lowercase words of a text that the index weighs, placeholders left out."""
    return _WORD.findall(_PLACEHOLDER.sub(" ", text).lower())


def _tf(count: int) -> float:
    return 1.0 + math.log(count)


class LexicalIndex:
    """Texts under keys, searchable by TF-IDF cosine similarity.

    Usage::

        index = LexicalIndex()
        index.add("a1", "Replication lag on <*> is <num> seconds")
        index.add("b2", "Disk usage on <*> is <num>%")
        index.nearest("replication lag on db-4 is 12 seconds behind", k=1)   # [('a1', 0.9...)]
    """

    def __init__(self) -> None:
        self._docs: dict[str, dict[str, float]] = {}
        self._postings: dict[str, dict[str, float]] = {}
        self._version = 0
        self._norms: dict[str, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def add(self, key: str, text: str) -> None:
        """Index a text under `key`, replacing what the key held before."""
        if key in self._docs:
            self.remove(key)
        vector = {word: _tf(count) for word, count in Counter(words(text)).items()}
        self._docs[key] = vector
        for word, weight in vector.items():
            self._postings.setdefault(word, {})[key] = weight
        self._version += 1

    def remove(self, key: str) -> None:
        """Forget the text under `key`, if any."""
        vector = self._docs.pop(key, None)
        if vector is None:
            return
        for word in vector:
            posting = self._postings[word]
            del posting[key]
            if not posting:
                del self._postings[word]
        self._norms.pop(key, None)
        self._version += 1

    def idf(self, word: str) -> float:
        """The inverse document frequency of a word (smoothed, so an unseen word weighs most)."""
        return math.log((1 + len(self._docs)) / (1 + len(self._postings.get(word, ())))) + 1.0

    def nearest(
        self, text: str, k: int = 5, *, exclude: str | None = None, min_similarity: float = 0.0
    ) -> list[tuple[str, float]]:
        """Up to `k` keys by decreasing cosine similarity to `text` (ties by key), at least `min_similarity`.

        Only texts sharing one of the query's heaviest words are scored: enough of them that a
        text sharing none could not reach `min_similarity` (its cosine is at most the length of
        the query's other words over the query's whole length). Common words then no longer
        make every stored text a candidate.
        """
        query = Counter(words(text))
        if not query or not self._docs:
            return []
        terms = []
        for word, count in query.items():
            idf = self.idf(word)
            terms.append((_tf(count) * idf, idf, word))
        terms.sort(reverse=True)
        squared = sum(weight * weight for weight, _, _ in terms)
        bound = min_similarity * min_similarity * squared
        candidates: set[str] = set()
        for weight, _, word in terms:
            if squared < bound:
                break
            candidates.update(self._postings.get(word, ()))
            squared -= weight * weight
        candidates.discard(exclude or "")
        norm = math.sqrt(sum(weight * weight for weight, _, _ in terms))
        ranked = []
        for key in candidates:
            vector = self._docs[key]
            dot = sum(weight * idf * vector[word] for weight, idf, word in terms if word in vector)
            similarity = dot / (norm * self._norm(key))
            if similarity >= min_similarity:
                ranked.append((-similarity, key))
        return [(key, min(1.0, round(-negative, 6))) for negative, key in heapq.nsmallest(k, ranked)]

    def _norm(self, key: str) -> float:
        cached = self._norms.get(key)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        norm = math.sqrt(sum((tf * self.idf(word)) ** 2 for word, tf in self._docs[key].items())) or 1.0
        self._norms[key] = (self._version, norm)
        return norm
