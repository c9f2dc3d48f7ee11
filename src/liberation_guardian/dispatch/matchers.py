"""Label matchers as Alertmanager writes them: `name="value"`, `!=`, `=~` and `!~`.

Regular expressions are anchored (they must match the whole value), and a label that is
absent matches as the empty string, both as in Alertmanager, so `team!=""` means "has a
team" and `team=""` means "has none".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, value: str, *, is_regex: bool = False, is_equal: bool = True) -> Matcher:
        """A matcher, with its regular expression compiled (ValueError names a bad one)."""
        pattern = None
        if is_regex:
            try:
                pattern = re.compile(f"(?:{value})\\Z", re.DOTALL)
            except re.error as exc:
                raise ValueError(f"{name}: {value!r} is not a valid regular expression ({exc})") from exc
        return cls(name, value, is_regex, is_equal, pattern)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`severity="critical"`, `service=~"pay.*"`, `env!=staging` (quotes optional)."""
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(f'{text!r} is not a matcher; write it as name="value", name!=, name=~ or name!~')
        name, op, raw = found.groups()
        value = _unquote(raw)
        return cls.build(name, value, is_regex=op in ("=~", "!~"), is_equal=op in ("=", "=~"))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this condition."""
        actual = labels.get(self.name, "")
        if self.is_regex:
            assert self._pattern is not None
            hit = self._pattern.match(actual) is not None
        else:
            hit = actual == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f'{self.name}{op}"{self.value}"'

    def as_api(self) -> dict[str, Any]:
        """The Alertmanager API shape: name, value, isRegex, isEqual."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return raw


def parse_all(texts: Iterable[str], where: str) -> tuple[Matcher, ...]:
    """Parse config matchers, naming `where[index]` in the error."""
    found = []
    for index, text in enumerate(texts):
        try:
            found.append(Matcher.parse(text))
        except ValueError as exc:
            raise ValueError(f"{where}[{index}]: {exc}") from None
    return tuple(found)


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (true for none)."""
    return all(m.matches(labels) for m in matchers)
