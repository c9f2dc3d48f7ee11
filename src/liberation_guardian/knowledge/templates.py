"""Message templates: texts that differ only in their variable parts share one template.

`TemplateMiner` is an online miner in the manner of Drain. A text is first masked: the
parts that vary between occurrences of one problem (numbers, hex ids, UUIDs, IP
addresses, emails, URLs, paths, quoted strings, durations, timestamps) become typed
placeholders such as `<num>` or `<ip>`. The masked tokens then descend a tree of fixed
depth: first by token count, then by the leading tokens (a token holding a placeholder or
a digit goes down the `<*>` branch, and so does any token once a node has `max_children`).
The leaf holds a few templates; the text joins the one whose literal tokens it agrees
with most, if that agreement reaches `similarity`, and the template turns every
disagreeing position into `<*>`. Otherwise the text starts a new template.

A template's id is a hash of the masked form of the first text that created it, kept as
the template generalizes, so the same texts added in the same order give the same ids in
any process. `match` finds the template a text belongs to without changing anything.

This module knows texts only; what happened to the incidents behind a template is kept
by `learn/memory.py`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

WILDCARD = "<*>"

# Only the start of a long text (a stack trace, a whole log) is mined: the headline is there.
MAX_CHARS = 2_000
MAX_TOKENS = 48

# Quoted strings go first, as the one placeholder that may hold spaces. Every other mask
# stays within a token and needs a digit, `@`, `/` or `\\` in it, so only such tokens are
# searched (three times faster than searching the whole text). Within a token, one
# alternation is tried left to right: the longer shapes (a URL, a timestamp, a UUID) come
# before the numbers inside them.
_STRING = re.compile(r"(?<!\w)'[^'\n]{0,200}'(?!\w)" r'|"[^"\n]{0,200}"')
_SPECIAL_TOKEN = re.compile(r"(?<!\S)[^\s\d@/\\]*+[\d@/\\]\S*")
# (placeholder, regex, whether every match holds a `:`, `/`, `@` or `\\`)
_MASKS = [
    ("url", r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", True),
    ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", True),
    ("time", r"\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b", False),
    ("time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", True),
    ("uuid", r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", False),
    ("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b", False),
    ("ip", r"(?<![\w:])(?=[0-9a-f:]*\d)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{1,4}\b", True),
    ("path", r"(?<![\w/.])(?:~|\.{1,2})?(?:/[\w.@%+~-]+){2,}/?", True),
    ("path", r"\b[a-z]:\\(?:[\w.@%+~-]+\\)*[\w.@%+~-]+", True),
    ("dur", r"(?<![\w.])\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))*\b", False),
    ("hex", r"\b0x[0-9a-f]+\b", False),
    ("hex", r"(?<!\w)(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", False),
    ("num", r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*", False),
]
_PLACEHOLDERS = {f"{name}{n}": f"<{name}>" for n, (name, _, _) in enumerate(_MASKS)}


def _alternation(plain_only: bool) -> re.Pattern[str]:
    masks = [(n, name, regex) for n, (name, regex, special) in enumerate(_MASKS) if not (plain_only and special)]
    return re.compile("|".join(f"(?P<{name}{n}>{regex})" for n, name, regex in masks), re.I)


_MASK = _alternation(plain_only=False)
# A token without `:`, `/`, `@` or `\\` cannot hold a URL, an email, a time of day, an IPv6
# address or a path: the shorter alternation gives the same answer sooner.
_PLAIN = _alternation(plain_only=True)
_DIGIT = re.compile(r"\d")


def _placeholder(found: re.Match[str]) -> str:
    return _PLACEHOLDERS[found.lastgroup or ""]


def _mask_token(found: re.Match[str]) -> str:
    token = found.group()
    if token.isdigit():
        return "<num>"
    if ":" in token or "/" in token or "@" in token or "\\" in token:
        return _MASK.sub(_placeholder, token)
    return _PLAIN.sub(_placeholder, token)


def mask(text: str) -> str:
    """The text with its variable parts replaced by typed placeholders (`<num>`, `<ip>`, `<uuid>`...)."""
    text = text[:MAX_CHARS]
    if "'" in text or '"' in text:
        text = _STRING.sub("<str>", text)
    return _SPECIAL_TOKEN.sub(_mask_token, text)


def tokenize(text: str) -> tuple[str, ...]:
    """The masked tokens of a text, at most `MAX_TOKENS` of them."""
    return tuple(mask(text).split()[:MAX_TOKENS])


def is_variable(token: str) -> bool:
    """Whether a token holds a placeholder or a digit, and so says little about the problem."""
    return "<" in token or _DIGIT.search(token) is not None


@dataclass(frozen=True)
class Template:
    """A template as it stands: its stable id, its tokens (`<*>` where texts differ) and how many texts it holds."""

    id: str
    tokens: tuple[str, ...]
    count: int

    @property
    def text(self) -> str:
        """The tokens joined by spaces."""
        return " ".join(self.tokens)


@dataclass(frozen=True)
class Fit:
    """The template a text belongs to, and the share of its positions the text fits (a `<*>` fits anything)."""

    template: Template
    similarity: float


class _Cluster:
    __slots__ = ("id", "tokens", "count", "_frozen")

    def __init__(self, id: str, tokens: list[str]) -> None:
        self.id = id
        self.tokens = tokens
        self.count = 1
        self._frozen: Template | None = None

    def freeze(self) -> Template:
        if self._frozen is None:
            self._frozen = Template(self.id, tuple(self.tokens), self.count)
        return self._frozen

    def absorb(self, tokens: tuple[str, ...]) -> None:
        """Count one more text and turn every position where it differs into a wildcard."""
        self.count += 1
        self._frozen = None
        template = self.tokens
        for position, token in enumerate(tokens):
            if template[position] != token and template[position] != WILDCARD:
                template[position] = WILDCARD


class _Node:
    __slots__ = ("children", "clusters")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.clusters: list[_Cluster] = []


class TemplateMiner:
    """Groups texts into templates as they arrive.

    Usage::

        miner = TemplateMiner()
        miner.add("Disk usage on web-3 is 91%")
        added = miner.add("Disk usage on db-12 is 97%")
        added.text       # 'Disk usage on <*> is <num>%'
        miner.match("Disk usage on cache-1 is 88%").template.id == added.id   # True
    """

    def __init__(self, *, depth: int = 2, similarity: float = 0.5, max_children: int = 100) -> None:
        if depth < 1 or max_children < 2 or not 0 < similarity <= 1:
            raise ValueError("depth >= 1, max_children >= 2 and 0 < similarity <= 1 are required")
        self.depth = depth
        self.similarity = similarity
        self.max_children = max_children
        self._root: dict[int, _Node] = {}
        self._by_id: dict[str, _Cluster] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Template]:
        return (cluster.freeze() for cluster in self._by_id.values())

    def get(self, template_id: str) -> Template | None:
        """The template with this id, or None."""
        cluster = self._by_id.get(template_id)
        return cluster.freeze() if cluster is not None else None

    def add(self, text: str) -> Template:
        """File a text under its template, generalizing it or starting a new one; returns the template."""
        return self.add_tokens(tokenize(text))

    def add_tokens(self, tokens: tuple[str, ...]) -> Template:
        """`add` for a text already tokenized with `tokenize`."""
        leaf = self._leaf(tokens, create=True)
        assert leaf is not None
        cluster = _best(leaf.clusters, tokens, self.similarity)
        if cluster is None:
            cluster = _Cluster(self._new_id(tokens), list(tokens))
            leaf.clusters.append(cluster)
            self._by_id[cluster.id] = cluster
            return cluster.freeze()
        cluster.absorb(tokens)
        return cluster.freeze()

    def match(self, text: str) -> Fit | None:
        """The template `add` would file the text under, without changing it; None when it would start a new one."""
        return self.match_tokens(tokenize(text))

    def match_tokens(self, tokens: tuple[str, ...]) -> Fit | None:
        """`match` for a text already tokenized with `tokenize`."""
        leaf = self._leaf(tokens, create=False)
        if leaf is None:
            return None
        cluster = _best(leaf.clusters, tokens, self.similarity)
        if cluster is None:
            return None
        fits = sum(1 for have, got in zip(cluster.tokens, tokens, strict=True) if have == got or have == WILDCARD)
        return Fit(cluster.freeze(), fits / len(tokens) if tokens else 1.0)

    def _leaf(self, tokens: tuple[str, ...], *, create: bool) -> _Node | None:
        node = self._root.get(len(tokens))
        if node is None:
            if not create:
                return None
            node = self._root[len(tokens)] = _Node()
        for token in tokens[: self.depth]:
            key = WILDCARD if is_variable(token) else token
            child = node.children.get(key)
            if child is None and key != WILDCARD:
                if create and len(node.children) < self.max_children:
                    child = node.children[key] = _Node()
                else:
                    # A full node sends new words down the wildcard branch, and so does a lookup.
                    child = node.children.get(WILDCARD)
            if child is None:
                if not create:
                    return None
                child = node.children[WILDCARD] = _Node()
            node = child
        return node

    def _new_id(self, tokens: tuple[str, ...]) -> str:
        base = hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).hexdigest()
        candidate, suffix = base, 1
        while candidate in self._by_id:
            # Texts whose template generalized away from them can start a template with a taken id.
            suffix += 1
            candidate = f"{base}-{suffix}"
        return candidate


def _best(clusters: list[_Cluster], tokens: tuple[str, ...], threshold: float) -> _Cluster | None:
    """The cluster agreeing with most literal tokens (then with most wildcards), if it reaches the threshold."""
    best: _Cluster | None = None
    best_key = (-1, -1)
    for cluster in clusters:
        same = wild = 0
        for have, got in zip(cluster.tokens, tokens, strict=True):
            if have == got:
                same += 1
            elif have == WILDCARD:
                wild += 1
        key = (same, wild)
        if key > best_key:
            best, best_key = cluster, key
    if best is None or not tokens:
        return best
    return best if best_key[0] / len(tokens) >= threshold else None
