"""The `routing` section: receivers, the routing tree, inhibition, escalation and on-call.

It is shaped like Prometheus Alertmanager's configuration on purpose (a tree of routes
with `matchers`, `continue`, `group_by`, `group_wait`, `group_interval` and
`repeat_interval`; `inhibit_rules` with `source_matchers`, `target_matchers` and
`equal`) so that whoever knows one reads the other. Durations are written the same way
too: `30s`, `5m`, `4h`, `1d`, or combined as `1h30m`.

Everything here has a default that reproduces the plain behaviour: escalations go to
`decision_rules.escalate.conditions.notification_channels` at once, routine incidents to
Slack and the outgoing webhook, informational ones to the log only (see `defaults.py`
in `dispatch`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `5m`, `1h30m`, `2d` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 4h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m or 4h")
    text = value.strip()
    if text == "0":
        return timedelta(0)
    parts = _DURATION.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration; write it as 30s, 5m, 4h, 1d or 1h30m")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReceiverConfig(_Strict):
    """One entry of `routing.receivers`: a named set of channels.

    Usage::

        receivers:
          oncall: {channels: [pagerduty, slack]}
          alice: {channels: [sms, email], to: {sms: ["+4915112345678"], email: [alice@example.com]}}
    """

    channels: list[str] = Field(
        default_factory=list, description="Channel names under integrations.notifications; empty sends nothing."
    )
    to: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per channel, the addresses this receiver uses instead of the channel's own (email, sms).",
    )

    @model_validator(mode="after")
    def _to_names_a_listed_channel(self) -> ReceiverConfig:
        for channel in self.to:
            if channel not in self.channels:
                raise ValueError(f"to.{channel}: the receiver does not list the channel {channel!r}")
        return self


class RouteConfig(_Strict):
    """A node of the routing tree; children inherit every timing and `group_by` they do not set.

    `matchers` use Alertmanager's syntax: `name="value"`, `name!="value"`, `name=~"regex"`,
    `name!~"regex"` (regular expressions are anchored). Labels an incident has: `source`,
    `service`, `environment`, `severity`, `category`, `action`, `kind`, `status`, `title`,
    `team` (from `routing.services`) and every label of its latest event.
    """

    receiver: str | None = Field(default=None, description="Receiver name; inherited from the parent when unset.")
    matchers: list[str] = Field(default_factory=list, description="All must match for this route to match.")
    continue_: bool = Field(
        default=False, alias="continue", description="Keep matching the following sibling routes after this one."
    )
    group_by: list[str] | None = Field(
        default=None,
        description="Labels whose values form one notification group; `incident` (default) groups per incident, "
        "`...` puts everything in one group.",
    )
    group_wait: Duration | None = Field(
        default=None, description="How long a new group waits for more incidents before its first message."
    )
    group_interval: Duration | None = Field(
        default=None, description="How long a group waits after a message before telling about changes."
    )
    repeat_interval: Duration | None = Field(
        default=None, description="How long before a message is sent again about incidents still open."
    )
    escalation_policy: str | None = Field(
        default=None, description="Escalation policy for incidents whose decision is `escalate`."
    )
    digest: Literal["hourly", "daily"] | None = Field(
        default=None,
        description="Summarize this route's incidents in one message per hour or day instead of one each.",
    )
    routes: list[RouteConfig] = Field(default_factory=list, description="Child routes, tried in order.")


class InhibitRuleConfig(_Strict):
    """One entry of `routing.inhibit_rules`: an open source incident mutes matching targets."""

    source_matchers: list[str] = Field(description='The incident that mutes others (e.g. `alertname="NodeDown"`).')
    target_matchers: list[str] = Field(description="The incidents it mutes.")
    equal: list[str] = Field(
        default_factory=list, description="Labels that must have the same value on source and target."
    )


class EscalationStep(_Strict):
    """One step: notify these receivers or schedules, then wait for an acknowledgement."""

    notify: list[str] = Field(min_length=1, description="Receiver or schedule names.")
    wait: Duration = Field(
        default=timedelta(minutes=5), description="How long to wait for an acknowledgement before the next step."
    )


class EscalationPolicyConfig(_Strict):
    """One entry of `routing.escalation_policies`."""

    steps: list[EscalationStep] = Field(min_length=1, description="Tried in order until someone acknowledges.")
    repeat: int = Field(default=0, ge=0, le=20, description="Times to go through all steps again when nobody answers.")


class ScheduleOverride(_Strict):
    """Someone else is on call from `start` to `end`."""

    receiver: str = Field(description="Receiver on call instead of the rotation.")
    start: datetime = Field(description="When the override begins (schedule's time zone unless one is given).")
    end: datetime = Field(description="When the rotation takes over again.")

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleOverride:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ScheduleConfig(_Strict):
    """One entry of `routing.schedules`: an on-call rotation over receivers.

    Usage::

        schedules:
          primary:
            rotation: weekly
            handoff_day: monday
            handoff_time: "09:00"
            start: 2026-01-05
            timezone: Europe/Berlin
            participants: [alice, bob, carol]
    """

    participants: list[str] = Field(min_length=1, description="Receiver names, in rotation order.")
    rotation: Literal["daily", "weekly"] = Field(default="weekly", description="How often on-call hands off.")
    handoff_time: time = Field(default=time(9, 0), description="Local time of the handoff.")
    handoff_day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = Field(
        default="monday", description="Day of the weekly handoff."
    )
    start: date = Field(default=date(2026, 1, 5), description="A date from which the first participant is on call.")
    timezone: str = Field(default="UTC", description="IANA time zone of handoff_time.")
    overrides: list[ScheduleOverride] = Field(default_factory=list, description="Temporary replacements.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone") from exc
        return value


class ServiceConfig(_Strict):
    """One entry of `routing.services`: who owns a service."""

    team: str = Field(description="Owning team; becomes the incident label `team` for matchers.")
    receiver: str | None = Field(
        default=None, description="Receiver that owns the service; its incidents go there unless a route says else."
    )


class RoutingConfig(_Strict):
    """`routing`: receivers, the routing tree, inhibition, escalation and on-call."""

    receivers: dict[str, ReceiverConfig] = Field(
        default_factory=dict, description="Named sets of channels; `default`, `escalation`, `log` and `none` exist."
    )
    route: RouteConfig | None = Field(
        default=None, description="The root of the routing tree; unset uses the built-in tree."
    )
    inhibit_rules: list[InhibitRuleConfig] = Field(
        default_factory=list, description="Open incidents that mute the incidents they explain."
    )
    escalation_policies: dict[str, EscalationPolicyConfig] = Field(
        default_factory=dict, description="Named step-by-step escalations, used by routes' escalation_policy."
    )
    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict, description="On-call rotations, usable wherever an escalation step names a receiver."
    )
    services: dict[str, ServiceConfig] = Field(
        default_factory=dict, description="Service ownership: the team label and the receiver of each service."
    )
