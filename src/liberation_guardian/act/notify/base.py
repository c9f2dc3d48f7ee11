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

from liberation_guardian.act.notify import templates
from liberation_guardian.events import Link, Severity


class ChannelConfig(BaseModel):
    """Keys every channel accepts under `integrations.notifications.<name>`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Send notifications through this channel.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Give up on one attempt after this long.")
    rate_limit_per_minute: int | None = Field(
        default=None,
        gt=0,
        description="Most messages sent per minute through this channel; more wait their turn (none: no limit).",
    )


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
    upstream: dict[str, str] = Field(
        default_factory=dict,
        description="The source tool's own ids for the incident (a Sentry issue id), for the upstream actions.",
    )

    def headline(self) -> str:
        """One line: what happened and what was decided, e.g. `[CRITICAL] Instance down (needs a human)`."""
        return templates.render(templates.HEADLINE, self)

    def text(self) -> str:
        """The plain-text body every channel can fall back to."""
        return templates.render(templates.TEXT, self)


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
