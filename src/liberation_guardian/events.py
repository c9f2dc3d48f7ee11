"""The shared vocabulary: the normalized event every source produces, and its parts.

A source turns one payload into one or more `NormalizedEvent`s. Everything after
parsing (grouping, triage, notification) reads only these fields, never the raw
payload, so adding a source never touches the later stages.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    """How bad an event is, from `critical` (wake someone) down to `info`."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        """4 for critical down to 0 for info, so severities compare by number."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
    Severity.info: 0,
}


class Status(StrEnum):
    """Whether the problem an event reports is happening (`firing`) or over (`resolved`)."""

    firing = "firing"
    resolved = "resolved"


class UserImpact(StrEnum):
    """How many users an event is known to affect, as the decision rules name it."""

    none = "none"
    single_user = "single_user"
    multiple_users = "multiple_users"

    @property
    def rank(self) -> int:
        """0 for none, 1 for a single user, 2 for several."""
        return list(UserImpact).index(self)


class Frequency(StrEnum):
    """How often an incident recurs, as the decision rules name it."""

    first_time = "first_time"
    occasional = "occasional"
    frequent = "frequent"

    @property
    def rank(self) -> int:
        """0 for first_time, 1 for occasional, 2 for frequent."""
        return list(Frequency).index(self)


class StackFrame(BaseModel):
    """One frame of a stack trace, innermost last, as the error tracker sent it."""

    model_config = ConfigDict(frozen=True)

    filename: str | None = None
    function: str | None = None
    module: str | None = None
    lineno: int | None = None
    in_app: bool | None = None


class Link(BaseModel):
    """A link back to the tool that sent the event (issue page, graph, runbook, silence)."""

    model_config = ConfigDict(frozen=True)

    title: str
    url: str


class NormalizedEvent(BaseModel):
    """One observation from one source, in the shape every later stage reads.

    `grouping_key` is the tool's own notion of "the same problem" (Sentry's issue id,
    Alertmanager's alert fingerprint) when it has one; the grouping stage derives the
    `fingerprint` from it, or from type, message and frames when there is none.
    """

    source: str
    kind: str = Field(description="What sort of event this is for its source: alert, error, metric_alert...")
    status: Status = Status.firing
    severity: Severity = Severity.medium
    title: str
    message: str = ""
    service: str | None = None
    environment: str | None = None
    grouping_key: str | None = None
    exception_type: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    stack_frames: list[StackFrame] = Field(default_factory=list)
    user_impact: UserImpact | None = None
    links: list[Link] = Field(default_factory=list)
    occurred_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="Source-specific details worth keeping")
