"""Taking the names out of a pattern before it leaves the instance.

`Anonymizer.text` replaces URLs, email addresses, IP addresses, host names and the
names the store knows (services, repositories, hosts and the like from incident labels)
with placeholders such as `<host>`. `Anonymizer.regex` does the same inside a regular
expression, where a name is usually escaped (`db1\\.example\\.com`), and puts `\\S+` in its
place so that the expression still matches what it matched before.

It is deliberately eager: a version number that looks like an address, or a word that
is also a service's name, goes too. What leaves must never carry a name; a pattern that
no longer matches its examples afterwards is not exported at all (`learn/sharing.py`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.store.models import Event, Incident

# Incident labels whose values name something of the instance's own.
NAME_LABELS = frozenset(
    {"repository", "repo", "project", "host", "hostname", "instance", "node", "device", "pod", "server", "cluster"}
)
WILDCARD = r"\S+"
_MIN_NAME = 3
_TLDS = (
    "com|net|org|io|dev|app|ai|co|cloud|tech|info|biz|me|us|uk|de|fr|nl|eu|ca|au|jp|in|br|ch|se|no|es|it|pl|"
    "local|localdomain|internal|intranet|lan|corp|home|svc|cluster|example|test|invalid"
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.I)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])", re.I)
# Inside a regex an address is often half spelled out (`10\.0\.0\.\d+`): its prefix names the network.
_IPV4_PREFIX = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}")
_HOST = re.compile(rf"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![\w-])(?!\.\w)", re.I)


def known_names(session: Session) -> set[str]:
    """Services, repositories, hosts and the like that the store's incidents and events name."""
    names: set[str] = set()
    names.update(name for name in session.scalars(select(Incident.service).distinct()) if name)
    names.update(name for name in session.scalars(select(Event.service).distinct()) if name)
    for labels in session.scalars(select(Incident.labels)):
        for key, value in (labels or {}).items():
            if key in NAME_LABELS and isinstance(value, str):
                names.add(value)
                # `acme/web`: the owner and the repository are names on their own too.
                names.update(part for part in re.split(r"[/:]", value) if part)
    return {name.strip() for name in names if len(name.strip()) >= _MIN_NAME and not name.strip().isdigit()}


class Anonymizer:
    """Replaces what names the instance, in plain text and inside regular expressions.

    Usage::

        anonymizer = Anonymizer(known_names(session))
        anonymizer.text("db1.example.com refused 10.0.0.7")  # '<host> refused <ip>'
        anonymizer.regex(r"db1\\.example\\.com refused")      # '\\S+ refused'
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        ordered = sorted(set(names), key=lambda name: (-len(name), name))
        alternation = "|".join(re.escape(name) for name in ordered)
        self._names = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.I) if ordered else None

    def text(self, value: str) -> str:
        """`value` with every name replaced by a placeholder saying what it was."""
        for placeholder, finder in self._finders():
            value = _replace(value, finder, placeholder)
        return value

    def regex(self, source: str) -> str:
        """A regular expression with every name it spells out replaced by `\\S+`."""
        view, spans = _literal_view(source)
        found: list[tuple[int, int]] = _spans(_IPV4_PREFIX)(view)
        for _placeholder, finder in self._finders():
            found.extend(finder(view))
        if not found:
            return source
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        pieces, last = [], 0
        for start, end in merged:
            pieces.append(source[last : spans[start][0]])
            pieces.append(WILDCARD)
            last = spans[end - 1][1]
        pieces.append(source[last:])
        return "".join(pieces)

    def _finders(self) -> list[tuple[str, Callable[[str], list[tuple[int, int]]]]]:
        finders: list[tuple[str, Callable[[str], list[tuple[int, int]]]]] = [
            ("<url>", _spans(_URL)),
            ("<email>", _spans(_EMAIL)),
            ("<ip>", _addresses),
            ("<host>", _spans(_HOST)),
        ]
        if self._names is not None:
            finders.append(("<name>", _spans(self._names)))
        return finders


def _spans(pattern: re.Pattern[str]) -> Callable[[str], list[tuple[int, int]]]:
    return lambda text: [match.span() for match in pattern.finditer(text)]


def _addresses(text: str) -> list[tuple[int, int]]:
    """Spans of valid IPv4 and IPv6 addresses (a clock time like 12:30:45 is not one)."""
    spans = []
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if not any(char.isalnum() for char in match.group()):
                continue  # a bare `::` is punctuation, not an address
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            spans.append(match.span())
    return spans


def _replace(value: str, finder: Callable[[str], list[tuple[int, int]]], placeholder: str) -> str:
    pieces: list[str] = []
    last = 0
    for start, end in sorted(finder(value)):
        if start < last:
            continue
        pieces.extend((value[last:start], placeholder))
        last = end
    pieces.append(value[last:])
    return "".join(pieces)


def _literal_view(source: str) -> tuple[str, list[tuple[int, int]]]:
    """The regex as the text it spells (`\\.` read as `.`), with each character's span in the source.

    Escapes of letters and digits (`\\d`, `\\s`, `\\b`) become a NUL, which no finder takes as
    part of a name, so a name never swallows a class or an anchor.
    """
    view: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    while position < len(source):
        char = source[position]
        if char == "\\" and position + 1 < len(source):
            escaped = source[position + 1]
            view.append("\0" if escaped.isalnum() else escaped)
            spans.append((position, position + 2))
            position += 2
            continue
        view.append(char)
        spans.append((position, position + 1))
        position += 1
    return "".join(view), spans
