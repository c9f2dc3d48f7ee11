"""What every channel module provides: a config model and `send`.

A channel module under `act/notify/` defines one `Channel` subclass whose `name` is
its key under `integrations.notifications`. `send` delivers one `Notification` or
raises `DeliveryFailed(retryable=...)`; retries, backoff and the delivery log live in
the delivery stage around every channel, never inside one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from liberation_guardian.events import Link, Severity


class ChannelConfig(BaseModel):
    """Keys every channel accepts under `integrations.notifications.<name>`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Send notifications through this channel.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Give up on one attempt after this long.")


class GroupedIncident(BaseModel):
    """One incident listed in a grouped message."""

    incident_id: int
    title: str
    severity: Severity
    transition: str
    incident_url: str | None = None


class Notification(BaseModel):
    """One message about one incident transition, the same for every channel.

    `idempotency_key` is unique per incident transition and channel; channels that can
    pass it on (an `Idempotency-Key` header) do, so a receiver can drop a repeat.
    """

    idempotency_key: str
    incident_id: int
    transition: str = Field(description="opened, reopened, severity_raised, acknowledged or resolved")
    action: str = Field(description="escalate, auto_fix, investigate or auto_acknowledge")
    severity: Severity
    title: str
    summary: str = ""
    rationale: str = ""
    category: str = ""
    source: str
    service: str | None = None
    environment: str | None = None
    occurrences: int = 1
    links: list[Link] = Field(default_factory=list)
    incident_url: str | None = None
    instance: str = "Liberation Guardian"
    note: str = Field(default="", description="Why this message is sent now: an escalation step, a repeat.")
    incidents: list[GroupedIncident] = Field(
        default_factory=list, description="Every incident of a grouped message; empty for a single incident."
    )
    recipients: list[str] | None = Field(
        default=None, description="Addresses chosen by the receiver, for channels that address people."
    )

    def headline(self) -> str:
        """One line: what happened and what was decided, e.g. `[CRITICAL] escalate: Instance down`."""
        if self.incidents:
            return f"[{self.severity.value.upper()}] {len(self.incidents)} incidents: {self.title}"
        if self.transition == "resolved":
            return f"[RESOLVED] {self.title}"
        if self.transition == "acknowledged":
            return f"[ACKNOWLEDGED] {self.title}"
        verb = {
            "escalate": "needs a human",
            "auto_fix": "fix proposed",
            "investigate": "to investigate",
            "auto_acknowledge": "acknowledged",
        }.get(self.action, self.action)
        return f"[{self.severity.value.upper()}] {self.title} ({verb})"

    def text(self) -> str:
        """The plain-text body every channel can fall back to."""
        lines = [self.headline(), ""]
        if self.note:
            lines += [self.note, ""]
        for item in self.incidents:
            state = "resolved" if item.transition == "resolved" else item.severity.value
            lines.append(
                f"- #{item.incident_id} [{state}] {item.title}" + (f" {item.incident_url}" if item.incident_url else "")
            )
        if self.incidents:
            lines.append("")
        if self.summary and self.summary != self.title:
            lines += [self.summary, ""]
        where = ", ".join(
            part
            for part in (
                f"source {self.source}",
                f"service {self.service}" if self.service else "",
                f"environment {self.environment}" if self.environment else "",
                f"{self.occurrences} occurrence{'s' if self.occurrences != 1 else ''}",
            )
            if part
        )
        lines.append(where)
        if self.transition not in ("resolved", "acknowledged"):
            lines.append(f"Decision: {self.action} (category {self.category or 'unknown'})")
            if self.rationale:
                lines += ["", self.rationale]
        for link in self.links:
            lines.append(f"{link.title}: {link.url}")
        if self.incident_url:
            lines.append(f"Incident: {self.incident_url}")
        lines.append(f"— {self.instance}, incident #{self.incident_id}")
        return "\n".join(lines)


class Channel(ABC):
    """One way to reach people: Slack, email, a webhook, the log."""

    name: ClassVar[str]
    config_model: ClassVar[type[ChannelConfig]] = ChannelConfig
    # Channels that keep one alert per incident (PagerDuty, Opsgenie) get a grouped message as one per incident.
    per_incident: ClassVar[bool] = False

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        self.config = config
        self.secrets = secrets

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver one notification, or raise `DeliveryFailed` saying whether a retry may help."""
