"""What an agent sees (`Situation`), what it answers (`Advice`), and the impact estimate they share.

A `Situation` is read from the store once per incident transition (`situation.py`) and
handed to the analysis agent and to the specialist that takes the incident's category; each
answers with an `Advice`, which the stage stores as a `Recommendation` row. Agents never
query the database themselves, so they are plain functions of their input and easy to test.

The situation also carries the playbook that applies (knowledge/playbooks.py). Each agent
names it in its evidence and lets its steps replace the generic part of its plan
(`with_playbook`): what only the agent knows (the pod, the change, the package) comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from liberation_guardian.events import Frequency, Severity, UserImpact
from liberation_guardian.knowledge.playbooks import Playbook


@dataclass(frozen=True)
class Change:
    """A deploy, CI failure, configuration or code change seen shortly before the incident."""

    event_id: int
    change: str  # deploy | ci_failure | config_change | code_change
    title: str
    source: str
    service: str | None
    environment: str | None
    at: datetime
    minutes_before: float
    scope: str  # service | repository | global

    def as_evidence(self) -> dict[str, Any]:
        """The change as stored in a recommendation's evidence."""
        return {
            "event_id": self.event_id,
            "change": self.change,
            "title": self.title,
            "source": self.source,
            "service": self.service,
            "environment": self.environment,
            "minutes_before": round(self.minutes_before, 1),
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Related:
    """Another incident of the same service, open or seen recently."""

    incident_id: int
    title: str
    status: str
    severity: str
    category: str | None
    minutes_before: float  # how long before this incident it was first seen; negative when after

    def as_evidence(self) -> dict[str, Any]:
        """The incident as stored in a recommendation's evidence."""
        return {
            "incident_id": self.incident_id,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "category": self.category,
            "minutes_before": round(self.minutes_before, 1),
        }


@dataclass(frozen=True)
class Situation:
    """One incident transition as the agents see it: the event, the decision, and what surrounds them."""

    incident_id: int
    transition: str
    transition_seq: int
    decision_id: int | None
    event_id: int
    at: datetime
    source: str
    kind: str
    title: str
    message: str
    severity: Severity
    category: str
    action: str
    decided_by: str
    confidence: float
    frequency: Frequency
    occurrences: int
    user_impact: UserImpact | None = None
    service: str | None = None
    environment: str | None = None
    exception_type: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    pattern_id: str | None = None
    pattern_title: str | None = None
    runbook: tuple[str, ...] = ()
    fix_template: str | None = None
    changes: tuple[Change, ...] = ()
    related: tuple[Related, ...] = ()
    window_minutes: int = 30
    playbook: Playbook | None = None

    @property
    def text(self) -> str:
        """Title and message as one text, which the specialists read for their keywords."""
        return f"{self.title}\n{self.message}" if self.message and self.message != self.title else self.title

    @property
    def where(self) -> str:
        """` in <service>` (and environment) when known, for sentences."""
        parts = [part for part in (self.service, self.environment) if part]
        return f" in {' / '.join(parts)}" if parts else ""

    def label(self, *names: str) -> str | None:
        """The first of these labels the event carries (exact name, then case-insensitively)."""
        lowered = {key.lower(): value for key, value in self.labels.items()}
        for name in names:
            value = self.labels.get(name) or lowered.get(name.lower())
            if value:
                return value
        return None


@dataclass(frozen=True)
class Hypothesis:
    """One possible cause, how likely the evidence makes it (0 to 1), and the evidence."""

    cause: str
    likelihood: float
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The hypothesis as stored."""
        return {"cause": self.cause, "likelihood": round(self.likelihood, 2), "evidence": self.evidence}


@dataclass(frozen=True)
class Advice:
    """An agent's recommendation before it is stored."""

    agent: str
    kind: str
    summary: str
    hypotheses: tuple[Hypothesis, ...] = ()
    impact: dict[str, Any] = field(default_factory=dict)
    plan: tuple[str, ...] = ()
    prevention: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class Agent(Protocol):
    """The analysis agent or a specialist: a name and advice for a situation."""

    name: str

    def advise(self, situation: Situation) -> Advice:
        """The recommendation for this situation."""
        ...


def with_playbook(specific: list[str], generic: list[str], playbook: Playbook | None) -> list[str]:
    """A plan: the agent's specific steps, then the playbook's steps and checks in place of its generic ones."""
    if playbook is None:
        return specific + generic
    return specific + playbook_steps(playbook) + [playbook_checks(playbook)]


def playbook_steps(playbook: Playbook) -> list[str]:
    """The playbook's steps as plan steps, each naming the playbook (as runbook steps name their pattern)."""
    return [f"Playbook ({playbook.id}): {step}" for step in playbook.steps]


def playbook_checks(playbook: Playbook) -> str:
    """The playbook's checks as one plan step."""
    return f"Verify ({playbook.id}): {' '.join(playbook.verify)}"


def playbook_evidence(playbook: Playbook | None) -> dict[str, str] | None:
    """The playbook as a recommendation's evidence names it: id and title."""
    return None if playbook is None else {"id": playbook.id, "title": playbook.title}


_USERS = {None: 0, UserImpact.none: 0, UserImpact.single_user: 1, UserImpact.multiple_users: 3}
_ENVIRONMENTS = {"production": 2, "prod": 2, "staging": 0.5}
_LEVELS = ((10, "critical"), (7, "high"), (4, "medium"), (0, "low"))


def impact_of(situation: Situation) -> dict[str, Any]:
    """How bad the incident is for the business: a level with the factors behind it.

    Severity counts twice; users hit, production, how often it recurs and how many other
    incidents of the service are open add to it. The factors are kept as sentences.
    """
    s = situation
    factors = [f"reported {s.severity.value}"]
    score = s.severity.rank * 2.0
    if s.user_impact is not None and s.user_impact != UserImpact.none:
        factors.append(s.user_impact.value.replace("_", " ") + " affected")
    score += _USERS[s.user_impact]
    environment = (s.environment or "").lower()
    if environment in _ENVIRONMENTS:
        score += _ENVIRONMENTS[environment]
        factors.append(f"in {environment}")
    if s.frequency != Frequency.first_time:
        score += 2 if s.frequency == Frequency.frequent else 1
        factors.append(f"{s.occurrences} occurrences ({s.frequency.value})")
    open_related = [r for r in s.related if r.status in ("open", "acknowledged")]
    if open_related:
        score += min(2, len(open_related))
        factors.append(f"{len(open_related)} other open incident(s){' in ' + s.service if s.service else ''}")
    level = next(name for floor, name in _LEVELS if score >= floor)
    summary = f"{level.capitalize()} impact: {', '.join(factors)}."
    return {"level": level, "score": round(score, 1), "factors": factors, "summary": summary}
