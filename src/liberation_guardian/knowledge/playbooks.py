"""Infrastructure playbooks: the procedures a small team follows for a kind of incident, as data.

A playbook folder holds YAML files (`hosts.yml`, `data.yml`, ...), each with a `version`
and a list of `playbooks`. A playbook has an id (`<file stem>.<name>`), a title, the
category it belongs to, ordered `steps` (5 to 12, one line each, with commands where they
help), a `verify` list (how to know it worked), and `applies_to`: the rules that select it.

A rule names any of these, and matches an incident when every field it names matches:

    patterns:   [linux.disk-full, ...]   the pattern that decided is one of these (weight 8)
    kinds:      [secret_scanning_alert]  the event's kind is one of these (weight 4)
    words:      'no space left|disk full' a regex found in the event's title or message (weight 3)
    tags:       [disk]                   the matched pattern carries all of these tags (weight 2 each)
    categories: [infrastructure]         the decision's category is one of these (weight 1)

A playbook applies when any of its rules matches; its specificity is the weight of the best
rule that matched, and `select` answers the most specific playbooks first (then by id), so
a playbook named by the very pattern that decided outranks one that only shares its
category. The shipped playbooks live beside this module; `load_playbooks(folder)` reads
another folder. Loading checks what a typo could break and names the file and playbook id:
ids, categories from the taxonomy, pattern ids that exist in the shipped pattern pack,
regexes that compile. This module knows definitions only: it neither stores nor decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import ConfigError
from liberation_guardian.knowledge._folder import Definition, DefinitionFile, Strict, read_folder
from liberation_guardian.knowledge.pack import _ID, Pack, Slug, shipped_pack
from liberation_guardian.triage.category import TAXONOMY

SHIPPED = Path(__file__).with_name("playbooks")

# How much each field of a rule says about an incident; a rule's specificity is the sum of its fields.
WEIGHTS = {"patterns": 8, "kinds": 4, "words": 3, "tags": 2, "categories": 1}

Line = Annotated[str, Field(min_length=3, max_length=600, pattern=r"^[^\n]*$")]


class PlaybookError(ConfigError):
    """A playbook file is unreadable or a playbook in it is invalid; names the file and the playbook id."""

    def __init__(self, message: str, *, file: str, playbook_id: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.playbook_id = playbook_id
        where = f"{file}, playbook {playbook_id!r}" if playbook_id else file
        super().__init__(message, path=where, line=line)


class Rule(Strict):
    """One way a playbook is selected: every field it names must match the incident."""

    patterns: list[str] = Field(default_factory=list, description="Pattern ids; the decision's pattern is one")
    kinds: list[Slug] = Field(default_factory=list, description="Event kinds; the event's kind is one")
    words: str | None = Field(default=None, description="Regex searched case-insensitively in title and message")
    tags: list[Slug] = Field(default_factory=list, description="Tags the matched pattern must all carry")
    categories: list[str] = Field(default_factory=list, description="Categories; the decision's category is one")

    _regex: re.Pattern[str] | None = None

    @field_validator("words")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"regex '{value}' does not compile: {exc}") from None
        return value

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in TAXONOMY]
        if unknown:
            raise ValueError(f"{unknown} not in the taxonomy: {', '.join(TAXONOMY)}")
        return value

    @model_validator(mode="after")
    def _names_something(self) -> Rule:
        if not self.named():
            raise ValueError(f"a rule must name at least one of {', '.join(WEIGHTS)}")
        return self

    def named(self) -> list[str]:
        """The fields this rule sets."""
        return [name for name in WEIGHTS if getattr(self, name)]

    @property
    def specificity(self) -> int:
        """How much a match of this rule says: the sum of its fields' weights (each tag counts)."""
        return sum(WEIGHTS[name] * (len(self.tags) if name == "tags" else 1) for name in self.named())

    def matches(self, incident: Subject) -> bool:
        """Whether every field this rule names matches the incident."""
        if self.patterns and incident.pattern_id not in self.patterns:
            return False
        if self.kinds and incident.kind not in self.kinds:
            return False
        if self.categories and incident.category not in self.categories:
            return False
        if self.tags and not set(self.tags) <= incident.tags:
            return False
        if self.words is not None:
            if self._regex is None:
                self._regex = re.compile(self.words, re.IGNORECASE)
            return bool(incident.text) and self._regex.search(incident.text) is not None
        return True


class Playbook(Definition):
    """A procedure for a kind of incident: the steps in order, and how to know it worked."""

    id: str = Field(pattern=_ID, max_length=128, description="Stable slug, `<file stem>.<name>`")
    title: str = Field(min_length=3, max_length=120)
    category: str
    applies_to: list[Rule] = Field(min_length=1)
    steps: list[Line] = Field(min_length=5, max_length=12)
    verify: list[Line] = Field(min_length=1, max_length=6)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in TAXONOMY:
            raise ValueError(f"{value!r} is not one of {', '.join(TAXONOMY)}")
        return value

    def specificity(self, incident: Subject) -> int:
        """The specificity of the best rule that matches the incident; 0 when none does."""
        return max((rule.specificity for rule in self.applies_to if rule.matches(incident)), default=0)

    def selectors(self) -> list[dict[str, Any]]:
        """The rules as plain data, only the fields each sets (how the store keeps `applies_to`)."""
        return [rule.model_dump(mode="json", include=set(rule.named())) for rule in self.applies_to]


@dataclass(frozen=True)
class Subject:
    """What selection reads of an incident: its decision's category and pattern, the event's kind and text."""

    category: str | None = None
    pattern_id: str | None = None
    kind: str | None = None
    tags: frozenset[str] = frozenset()
    text: str = ""


class PlaybookFile(DefinitionFile):
    """One file of playbooks: a version and its playbooks."""

    playbooks: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Playbooks:
    """Every playbook of a folder, in file order, with the file each came from."""

    playbooks: tuple[Playbook, ...]
    versions: dict[str, int] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.playbooks)

    def __iter__(self) -> Iterator[Playbook]:
        return iter(self.playbooks)

    def get(self, playbook_id: str) -> Playbook:
        """The playbook with this id; KeyError when there is none."""
        for playbook in self.playbooks:
            if playbook.id == playbook_id:
                return playbook
        raise KeyError(playbook_id)


def select(
    playbooks: Iterable[Playbook],
    *,
    category: str | None = None,
    pattern_id: str | None = None,
    kind: str | None = None,
    tags: Iterable[str] = (),
    text: str = "",
) -> list[Playbook]:
    """The playbooks that apply to an incident, the most specific first, then by id."""
    subject = Subject(category, pattern_id, kind, frozenset(tags), text)
    scored = [(playbook.specificity(subject), playbook) for playbook in playbooks]
    return [playbook for score, playbook in sorted(scored, key=lambda pair: (-pair[0], pair[1].id)) if score > 0]


@cache
def shipped_playbooks() -> Playbooks:
    """The shipped playbooks, read and checked once per process."""
    return load_playbooks()


def load_playbooks(folder: Path | None = None, *, pack: Pack | None = None) -> Playbooks:
    """Read and validate every `*.yml` of `folder` (the shipped playbooks by default).

    Pattern ids in `applies_to` must exist in `pack` (the shipped pattern pack by default).
    """
    read = read_folder(
        SHIPPED if folder is None else folder,
        key="playbooks",
        file_model=PlaybookFile,
        entry_model=Playbook,
        noun="playbook",
        fail=lambda message, file, entry, line: PlaybookError(message, file=file, playbook_id=entry, line=line),
    )
    known = {pattern.id for pattern in (shipped_pack() if pack is None else pack)}
    for playbook in read.entries:
        missing = sorted({name for rule in playbook.applies_to for name in rule.patterns} - known)
        if missing:
            raise PlaybookError(
                f"applies_to names patterns the pattern pack does not have: {missing}",
                file=read.origin[playbook.id],
                playbook_id=playbook.id,
            )
    return Playbooks(read.entries, read.versions, read.origin)
