"""The pattern pack: known problems as data, read and checked before anything uses them.

A pack is a folder of YAML files, one per stack (`python.yml`, `kubernetes.yml`, ...).
Each file has a `version` and a list of `patterns`; each pattern names a problem, the
regular expressions that recognise it, what category and severity it is, what a small
team should do by default, a short runbook, and examples it must match. The shipped pack
lives beside this module; `load_pack(folder)` reads another one.

Loading checks everything a typo could break, and names the file and pattern id in the
error: ids are unique, regular expressions compile, every example is matched by its own
pattern, and category, severity, action and fix template come from the shared vocabulary.
Matching semantics (case-insensitive search, filters) live on `Pattern.find` so that the
checks here and the index in `match.py` can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import ConfigError
from liberation_guardian.events import Severity
from liberation_guardian.knowledge._folder import Definition, DefinitionFile, Strict, read_folder
from liberation_guardian.triage.base import Action
from liberation_guardian.triage.category import TAXONOMY

SHIPPED = Path(__file__).with_name("patterns")


# Kinds of mechanical fix a pattern may point at; a fixer implements each one by name.
FIX_TEMPLATES = frozenset(
    {
        "add-dependency",
        "add-env-var",
        "bump-dependency",
        "fix-image-reference",
        "fix-lint",
        "format-code",
        "pin-dependency",
        "raise-memory-limit",
        "raise-pool-size",
        "raise-timeout",
        "regenerate-lockfile",
        "renew-certificate",
        "retry-with-backoff",
        "rotate-secret",
        "scale-out",
    }
)

_ID = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$"
_SLUG = r"^[a-z0-9][a-z0-9_.-]*$"
_FLAGS = re.IGNORECASE

Slug = Annotated[str, Field(pattern=_SLUG, max_length=64)]


class PackError(ConfigError):
    """A pattern file is unreadable or a pattern in it is invalid; names the file and the pattern id."""

    def __init__(self, message: str, *, file: str, pattern_id: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.pattern_id = pattern_id
        where = f"{file}, pattern {pattern_id!r}" if pattern_id else file
        super().__init__(message, path=where, line=line)


def _compile(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, _FLAGS)
    except re.error as exc:
        raise ValueError(f"regex '{regex}' does not compile: {exc}") from None


class MatchSpec(Strict):
    """The regular expressions and filters that recognise a pattern in an event."""

    any: list[str] = Field(min_length=1, description="Regexes over the event text; one must match")
    exception_type: str | None = Field(
        default=None, description="Regex over the event's exception type (or its text when the type is unknown)"
    )
    sources: list[Slug] = Field(default_factory=list, description="Only events from these sources, when given")
    kinds: list[Slug] = Field(default_factory=list, description="Only events of these kinds, when given")

    @field_validator("any")
    @classmethod
    def _regexes_compile(cls, value: list[str]) -> list[str]:
        for regex in value:
            _compile(regex)
        return value

    @field_validator("exception_type")
    @classmethod
    def _type_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value


class Example(Strict):
    """A realistic event a pattern must match: its text, and optionally where it came from."""

    text: str = Field(min_length=1)
    source: Slug | None = None
    kind: Slug | None = None
    exception_type: str | None = None


@dataclass(frozen=True)
class Hit:
    """Which regular expression of a pattern matched, where, and which filters it confirmed."""

    regex: int
    span: tuple[int, int]
    confirmed: int = 0


@dataclass(frozen=True)
class _Compiled:
    regexes: tuple[re.Pattern[str], ...]
    exception_type: re.Pattern[str] | None


class Pattern(Definition):
    """One known problem: how to recognise it, how bad it is, and what to do about it."""

    id: str = Field(pattern=_ID, description="Stable slug, `<file stem>.<name>`")
    title: str = Field(min_length=3, max_length=120)
    match: MatchSpec
    category: str
    severity: Annotated[Severity, Field(strict=False)]
    action: Annotated[Action, Field(strict=False)]
    runbook: list[Annotated[str, Field(min_length=3)]] = Field(min_length=3, max_length=8)
    fix_template: str | None = None
    tags: list[Slug] = Field(default_factory=list)
    keywords: list[Annotated[str, Field(pattern=r"^\w+$")]] = Field(
        default_factory=list, description="Whole words, one of which every matching text contains; overrides derived"
    )
    shadowed_by: list[str] = Field(default_factory=list, description="More specific patterns its examples may match")
    priority: int = Field(
        default=0,
        ge=0,
        le=9,
        description="Ranks before specificity: a pattern that qualifies a symptom (a fix is available, the check is "
        "flapping) outranks the pattern of the symptom",
    )
    examples: list[Example] = Field(min_length=1, max_length=3)
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Where a shared pattern came from (`kb export` writes it); not matched on"
    )

    _compiled: _Compiled | None = None

    @field_validator("examples", mode="before")
    @classmethod
    def _plain_examples(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in TAXONOMY:
            raise ValueError(f"{value!r} is not one of {', '.join(TAXONOMY)}")
        return value

    @field_validator("fix_template")
    @classmethod
    def _known_template(cls, value: str | None) -> str | None:
        if value is not None and value not in FIX_TEMPLATES:
            raise ValueError(f"unknown fix_template {value!r}; known: {', '.join(sorted(FIX_TEMPLATES))}")
        return value

    @field_validator("keywords")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [word.lower() for word in value]

    @model_validator(mode="after")
    def _examples_match(self) -> Pattern:
        for number, example in enumerate(self.examples):
            if self.match_example(example) is None:
                raise ValueError(f"examples[{number}] is not matched by the pattern: {example.text[:80]!r}")
            words = set(re.findall(r"\w+", example.text.lower()))
            if self.keywords and not words.intersection(self.keywords):
                raise ValueError(f"examples[{number}] contains none of the keywords {self.keywords}")
        return self

    @property
    def regexes(self) -> tuple[re.Pattern[str], ...]:
        """The compiled `match.any` expressions, in order."""
        return self._compiled_form().regexes

    def match_example(self, example: Example) -> Hit | None:
        """`find` applied to an example."""
        return self.find(example.text, source=example.source, kind=example.kind, exception_type=example.exception_type)

    def filters_allow(self, source: str | None, kind: str | None) -> bool:
        """Whether the source and kind filters let an event through; an unknown value is not filtered."""
        spec = self.match
        if spec.sources and source is not None and source not in spec.sources:
            return False
        return not (spec.kinds and kind is not None and kind not in spec.kinds)

    def find(
        self,
        text: str,
        *,
        source: str | None = None,
        kind: str | None = None,
        exception_type: str | None = None,
    ) -> Hit | None:
        """The first of this pattern's regexes that matches the event, with the filters applied.

        This is the reference for what "matches" means; `PatternIndex` gives the same answers faster.
        """
        if not self.filters_allow(source, kind):
            return None
        for position, regex in enumerate(self._compiled_form().regexes):
            found = regex.search(text)
            if found is None:
                continue
            confirmed = self._confirmations(text, source, kind, exception_type)
            if confirmed is None:
                return None
            return Hit(position, found.span(), confirmed)
        return None

    def _confirmations(self, text: str, source: str | None, kind: str | None, exception_type: str | None) -> int | None:
        """How many declared filters the event positively meets; None when its exception type rules it out."""
        spec = self.match
        confirmed = int(bool(spec.sources and source)) + int(bool(spec.kinds and kind))
        type_regex = self._compiled_form().exception_type
        if type_regex is not None:
            if type_regex.search(exception_type if exception_type else text) is None:
                return None
            confirmed += 1
        return confirmed

    def _compiled_form(self) -> _Compiled:
        if self._compiled is None:
            type_regex = self.match.exception_type
            self._compiled = _Compiled(
                tuple(re.compile(regex, _FLAGS) for regex in self.match.any),
                re.compile(type_regex, _FLAGS) if type_regex else None,
            )
        return self._compiled


class PatternFile(DefinitionFile):
    """One file of a pack: a version and its patterns."""

    patterns: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Pack:
    """Every pattern of a pack, in file order, with the file each came from."""

    patterns: tuple[Pattern, ...]
    versions: dict[str, int] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patterns)

    def __iter__(self) -> Iterator[Pattern]:
        return iter(self.patterns)

    def get(self, pattern_id: str) -> Pattern:
        """The pattern with this id; KeyError when there is none."""
        for pattern in self.patterns:
            if pattern.id == pattern_id:
                return pattern
        raise KeyError(pattern_id)

    @property
    def stacks(self) -> list[str]:
        """The stems of the pack's files (`python`, `kubernetes`, ...), in load order."""
        return [name.removesuffix(".yml") for name in self.versions]


@cache
def shipped_pack() -> Pack:
    """The shipped pack, read and checked once per process."""
    return load_pack()


def load_pack(folder: Path | None = None) -> Pack:
    """Read and validate every `*.yml` of `folder` (the shipped pack by default)."""
    read = read_folder(
        SHIPPED if folder is None else folder,
        key="patterns",
        file_model=PatternFile,
        entry_model=Pattern,
        noun="pattern",
        fail=lambda message, file, entry, line: PackError(message, file=file, pattern_id=entry, line=line),
    )
    for pattern in read.entries:
        unknown = [name for name in pattern.shadowed_by if name not in read.origin or name == pattern.id]
        if unknown:
            raise PackError(
                f"shadowed_by names unknown patterns: {unknown}", file=read.origin[pattern.id], pattern_id=pattern.id
            )
    return Pack(read.entries, read.versions, read.origin)
