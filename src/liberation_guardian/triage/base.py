"""The decider protocol and the chain that asks each decider in turn.

The chain is the seam later deciders plug into (knowledge base, similarity, offline
classifier, LLM providers): each is one object with a `name` and `decide`, and
`pipeline/build.py` lists them in order. The last decider always answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from liberation_guardian.events import Frequency, Severity, UserImpact


class Action(StrEnum):
    """What a decision asks for."""

    escalate = "escalate"
    auto_fix = "auto_fix"
    auto_acknowledge = "auto_acknowledge"
    investigate = "investigate"


@dataclass(frozen=True)
class Case:
    """What a decider sees: the event that caused a transition and the state of its incident."""

    source: str
    kind: str
    title: str
    message: str
    severity: Severity
    category: str
    transition: str
    frequency: Frequency
    user_impact: UserImpact | None
    occurrences: int
    fix_attempts: int
    service: str | None = None
    environment: str | None = None
    exception_type: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and message as one text, which rule patterns are matched against."""
        return f"{self.title}\n{self.message}" if self.message and self.message != self.title else self.title


@dataclass(frozen=True)
class Verdict:
    """A decider's answer: the action, with everything a human needs to trust or correct it."""

    action: Action
    severity: Severity
    category: str
    confidence: float
    decided_by: str
    rationale: str
    matched: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Decider(Protocol):
    """One link of the triage chain."""

    name: str

    def decide(self, case: Case) -> Verdict | None:
        """Return a verdict, or None to let the next decider answer."""
        ...


@runtime_checkable
class Learner(Protocol):
    """A decider that keeps an in-memory view of what the store has learned.

    `sync` reads only what is new since its last call (feedback, resolutions, pattern
    evidence), so calling it before every decision is cheap; deciding never queries.
    """

    def sync(self, session: Session) -> None:
        """Catch up with the store."""
        ...


class TriageChain:
    """Asks each decider in order and returns the first verdict."""

    def __init__(self, deciders: Sequence[Decider]) -> None:
        if not deciders:
            raise ValueError("a triage chain needs at least one decider")
        self.deciders = list(deciders)

    def sync(self, session: Session) -> None:
        """Let every learning decider catch up with the store before the next decision."""
        for decider in self.deciders:
            if isinstance(decider, Learner):
                decider.sync(session)

    def decide(self, case: Case) -> Verdict:
        """The first verdict of the chain; the last decider must always answer."""
        for decider in self.deciders:
            verdict = decider.decide(case)
            if verdict is not None:
                return verdict
        raise RuntimeError(f"no decider answered; the last one ({self.deciders[-1].name}) must always answer")
