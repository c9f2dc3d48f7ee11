"""Finding the most specific known pattern for an event, without running every regex.

`PatternIndex` files each regular expression of a pack under one whole word the
expression cannot match without (read from the expression by `_literals`, or the
pattern's declared `keywords`), choosing the word fewest other expressions share. A
lookup splits the event's text into lowercase words, collects the expressions filed
under those words, drops those whose other required words are missing, and runs only
the rest. With thousands of patterns a lookup runs a handful of expressions.

When several patterns match, the most specific wins, judged in this order:

1. how many of its declared filters the event positively meets (exception type,
   source, kind): a pattern written for `psycopg2.OperationalError` from Sentry says
   more than one written for any text;
2. how much literal text its matching expression spells out;
3. how long the matched span is;
4. its position in the pack (earlier files and patterns first), so ties are stable.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from liberation_guardian.knowledge._literals import branches
from liberation_guardian.knowledge.pack import Pattern

# Only the start of a very long text (a whole log, a huge trace) is searched; the problem's headline is there.
MAX_TEXT = 65_536

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Match:
    """A pattern that matched an event: which of its regexes, and the matched span of the text.

    `specificity` is what ranked it: (filters the event confirmed, literal characters of
    the regex, length of the matched span).
    """

    pattern: Pattern
    regex: str
    span: tuple[int, int]
    matched: str
    specificity: tuple[int, int, int]


class _Entry:
    """One branch of one regex, filed under one word of one table."""

    __slots__ = ("order", "position", "regex", "required", "weight", "priority", "kinds", "type_regex")

    def __init__(self, order: int, position: int, pattern: Pattern, required: frozenset[str], weight: int) -> None:
        self.order = order  # position of the pattern in the pack
        self.position = position  # position of the regex in the pattern's `match.any`
        self.regex = pattern.regexes[position]
        self.required = required  # words besides the one it is filed under
        self.weight = weight
        self.priority = pattern.priority
        self.kinds = frozenset(pattern.match.kinds)
        self.type_regex = re.compile(pattern.match.exception_type, re.I) if pattern.match.exception_type else None


class _Table:
    """Entries by word, for the patterns of one source filter (or of none)."""

    def __init__(self) -> None:
        self.postings: dict[str, list[_Entry]] = {}
        self.always: list[_Entry] = []


_Hit = tuple[tuple[int, int, int, int, int], _Entry, tuple[int, int]]


class PatternIndex:
    """Answers "which known pattern is this event?" for one pack.

    Patterns restricted to some sources are filed in a table per source, so a lookup for
    a Sentry event never even looks at patterns written only for Datadog.

    Usage::

        index = PatternIndex(load_pack())
        found = index.best("ModuleNotFoundError: No module named 'yaml'", source="sentry")
        if found is not None:
            print(found.pattern.id, found.pattern.action)
    """

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.patterns = tuple(patterns)
        self._general = _Table()
        self._by_source: dict[str, _Table] = {}
        self._build()

    def best(
        self, text: str, *, source: str | None = None, kind: str | None = None, exception_type: str | None = None
    ) -> Match | None:
        """The most specific pattern matching the event, or None when no pattern does."""
        text = text[:MAX_TEXT]
        hits = self._hits(text, source, kind, exception_type)
        return self._match(text, max(hits.values(), key=_rank)) if hits else None

    def matches(
        self, text: str, *, source: str | None = None, kind: str | None = None, exception_type: str | None = None
    ) -> list[Match]:
        """Every pattern matching the event, most specific first."""
        text = text[:MAX_TEXT]
        hits = self._hits(text, source, kind, exception_type)
        return [self._match(text, hit) for hit in sorted(hits.values(), key=_rank, reverse=True)]

    @property
    def unindexed(self) -> list[str]:
        """Ids of patterns with a regex that has no required word, and so runs for every lookup."""
        tables = [self._general, *self._by_source.values()]
        return sorted({self.patterns[entry.order].id for table in tables for entry in table.always})

    @property
    def keys(self) -> int:
        """How many distinct words the index files expressions under."""
        tables = [self._general, *self._by_source.values()]
        return len({word for table in tables for word in table.postings})

    def _hits(self, text: str, source: str | None, kind: str | None, exception_type: str | None) -> dict[int, _Hit]:
        words = set(_WORDS.findall(text.lower()))
        if source is None:
            tables = [self._general, *self._by_source.values()]
        else:
            tables = [self._general]
            if source in self._by_source:
                tables.append(self._by_source[source])
        hits: dict[int, _Hit] = {}
        for table in tables:
            # A source table only confirms the filter when the event's source is known (it is then that source).
            confirmed = 1 if source and table is not self._general else 0
            postings = table.postings
            for word in words:
                bucket = postings.get(word)
                if bucket is None:
                    continue
                for entry in bucket:
                    # The cheap check first: every other word the regex cannot match without.
                    if not entry.required or entry.required <= words:
                        _consider(entry, text, kind, exception_type, confirmed, hits)
            for entry in table.always:
                _consider(entry, text, kind, exception_type, confirmed, hits)
        return hits

    def _match(self, text: str, hit: _Hit) -> Match:
        key, entry, span = hit
        pattern = self.patterns[entry.order]
        confirmed, _, weight, length, _ = key
        specificity = (confirmed, weight, length)
        return Match(pattern, pattern.match.any[entry.position], span, text[span[0] : span[1]], specificity)

    def _build(self) -> None:
        pending: list[tuple[_Table, _Entry, frozenset[str]]] = []
        frequency: dict[tuple[int, str], int] = defaultdict(int)
        for order, pattern in enumerate(self.patterns):
            tables = [self._by_source.setdefault(name, _Table()) for name in pattern.match.sources] or [self._general]
            for position, regex in enumerate(pattern.match.any):
                parts = branches(regex)
                weight = min(part.literal_length for part in parts)
                for table in tables:
                    if pattern.keywords:
                        entry = _Entry(order, position, pattern, frozenset(), weight)
                        for keyword in pattern.keywords:
                            table.postings.setdefault(keyword, []).append(entry)
                        continue
                    for part in parts:
                        pending.append((table, _Entry(order, position, pattern, part.words, weight), part.words))
                        for word in part.words:
                            frequency[id(table), word] += 1
        for table, entry, words in pending:
            if not words:
                table.always.append(entry)
                continue
            # The rarest word makes the shortest candidate lists; a longer word is the tie-breaker.
            key = min(words, key=lambda word: (frequency[id(table), word], -len(word), word))
            entry.required = words - {key}
            table.postings.setdefault(key, []).append(entry)


def _consider(
    entry: _Entry, text: str, kind: str | None, exception_type: str | None, confirmed: int, hits: dict[int, _Hit]
) -> None:
    """Run one candidate regex and keep its hit when it beats the pattern's hit so far."""
    if entry.kinds and kind is not None:
        if kind not in entry.kinds:
            return
        confirmed += 1 if kind else 0
    found = entry.regex.search(text)
    if found is None:
        return
    if entry.type_regex is not None:
        if entry.type_regex.search(exception_type or text) is None:
            return
        confirmed += 1
    start, end = found.span()
    key = (confirmed, entry.priority, entry.weight, end - start, -entry.order)
    if entry.order not in hits or hits[entry.order][0] < key:
        hits[entry.order] = (key, entry, (start, end))


def _rank(hit: _Hit) -> tuple[int, int, int, int, int]:
    return hit[0]
