"""Whole words a regular expression cannot match without, read from its source text.

The pattern index files each regular expression under one word that every text it
matches must contain, so a lookup only runs the expressions whose word is in the text.
Getting this wrong in the unsafe direction would make a pattern silently unreachable, so
the reader is deliberately conservative: it only reports a word when the expression
spells it out at its top level, with a literal non-word character, `\\b`, `\\s`, `^` or
`$` on both sides. Anything it does not fully understand (groups, classes, repetition,
inline verbose mode) ends a run of literal text without a boundary. An expression with
nothing to report is simply run for every lookup.

A top-level alternation `a|b` is read as separate branches: a text matched by the whole
expression is matched by one branch, so it contains that branch's words.
"""

from __future__ import annotations

from dataclasses import dataclass

# Markers between literal characters: a guaranteed word boundary, or anything else.
_SEP = "\x00sep"
_UNKNOWN = "\x00unknown"

_QUANTIFIERS = "*+?{"
# Escapes that stand for one non-word character or a zero-width boundary.
_SEPARATING_ESCAPES = {"b": _SEP, "s": _SEP, "W": _SEP, "A": _SEP, "Z": _SEP}
_LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_OPAQUE_ESCAPES = set("BSdDwxuUN0123456789")


@dataclass(frozen=True)
class Branch:
    """One top-level alternative of an expression: its required whole words and literal length."""

    words: frozenset[str]
    literal_length: int


def branches(regex: str) -> list[Branch]:
    """The branches of `regex`, each with the lowercase whole words any match must contain."""
    if _uses_verbose_mode(regex):
        return [Branch(frozenset(), 0)]
    return [_read_branch(part) for part in _split_top_level(regex)]


def is_word_char(char: str) -> bool:
    """Whether `char` is a word character in the sense of `\\w`."""
    return char.isalnum() or char == "_"


def _uses_verbose_mode(regex: str) -> bool:
    # Inline flags only appear at the start in Python 3.11+; verbose mode makes spaces meaningless.
    if not regex.startswith("(?"):
        return False
    end = regex.find(")")
    flags = regex[2:end] if end > 0 else ""
    return flags.isalpha() and "x" in flags


def _split_top_level(regex: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(regex, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
        i += 1
    parts.append(regex[start:])
    return parts


def _class_end(regex: str, i: int) -> int:
    """The index just after the character class that starts at `i`."""
    i += 1
    if i < len(regex) and regex[i] == "^":
        i += 1
    if i < len(regex) and regex[i] == "]":
        i += 1
    while i < len(regex) and regex[i] != "]":
        i += 2 if regex[i] == "\\" else 1
    return i + 1


def _group_end(regex: str, i: int) -> int:
    """The index just after the group that starts at `i`."""
    depth = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(regex, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _quantifier(regex: str, i: int) -> tuple[int, int] | None:
    """(minimum count, index after) when a quantifier starts at `i`, else None."""
    if i >= len(regex) or regex[i] not in _QUANTIFIERS:
        return None
    char = regex[i]
    if char == "{":
        end = regex.find("}", i)
        body = regex[i + 1 : end] if end > 0 else ""
        low = body.split(",", 1)[0]
        if end < 0 or not body or not all(part.isdigit() or part == "" for part in body.split(",", 1)):
            return None  # not a quantifier: Python reads the brace literally
        minimum, after = (int(low) if low else 0), end + 1
    else:
        minimum, after = (1 if char == "+" else 0), i + 1
    if after < len(regex) and regex[after] in "?+":
        after += 1  # lazy or possessive form
    return minimum, after


def _atoms(regex: str) -> list[str]:
    """The branch as literal characters and markers, with quantifiers already applied."""
    items: list[str] = [_UNKNOWN]
    i = 0
    while i < len(regex):
        char = regex[i]
        group = False
        if char == "\\" and i + 1 < len(regex):
            atoms, i = [_escape(regex[i + 1])], i + 2
        elif char == "[":
            atoms, i = [_UNKNOWN], _class_end(regex, i)
        elif char == "(":
            end = _group_end(regex, i)
            atoms, i, group = _group(regex[i:end]), end, True
        elif char in "^$":
            atoms, i = [_SEP], i + 1
        elif char == ".":
            atoms, i = [_UNKNOWN], i + 1
        else:
            atoms, i = [char], i + 1
        quantified = _quantifier(regex, i)
        if quantified is not None:
            minimum, i = quantified
            if group or minimum == 0 or (len(atoms[0]) == 1 and is_word_char(atoms[0])):
                atoms = [_UNKNOWN]  # optional, repeated as a whole, or a word character repeated
        items.extend(atoms)
    items.append(_UNKNOWN)
    return items


def _escape(escaped: str) -> str:
    if escaped in _SEPARATING_ESCAPES:
        return _SEPARATING_ESCAPES[escaped]
    if escaped in _LITERAL_ESCAPES:
        return _LITERAL_ESCAPES[escaped]
    if escaped in _OPAQUE_ESCAPES or escaped.isalpha():
        return _UNKNOWN
    return escaped


def _group(group: str) -> list[str]:
    """A group's contents spliced in place when it is a plain sequence; one unknown atom otherwise."""
    if group.startswith("(?:"):
        inner = group[3:-1]
    elif group.startswith("(?P<"):
        inner = group[group.find(">") + 1 : -1]
    elif group.startswith("(?"):
        return [_UNKNOWN]  # lookaround, inline flags, back-references: not plain text
    else:
        inner = group[1:-1]
    if not group.endswith(")") or len(_split_top_level(inner)) > 1:
        return [_UNKNOWN]  # unterminated, or an alternation: no word is certain
    return _atoms(inner)[1:-1]


def _read_branch(regex: str) -> Branch:
    items = _atoms(regex)
    words: set[str] = set()
    literal_length = sum(1 for item in items if len(item) == 1)
    word = ""
    left_bounded = False
    for item in items:
        if len(item) == 1 and is_word_char(item):
            word += item
            continue
        bounded = item == _SEP or len(item) == 1
        if word and left_bounded and bounded:
            words.add(word.lower())
        word = ""
        left_bounded = bounded
    return Branch(frozenset(words), literal_length)
