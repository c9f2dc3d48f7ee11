"""The `opsgenie` channel: incidents as Opsgenie alerts through the Alert API v2, both ways.

Every request carries `Authorization: GenieKey <key>`. The alert's `alias` is the same
for every transition of one incident (`<instance-slug>-incident-<id>`), so Opsgenie keeps
one alert per incident and later requests address it by alias:

    transition          request
    opened, reopened    POST /v2/alerts                              create (deduplicated on alias while open)
    severity_raised     POST /v2/alerts, then                        create, so a closed alert comes back
                        PUT  /v2/alerts/{alias}/priority             because create does not change an open one
    acknowledged        POST /v2/alerts/{alias}/acknowledge?identifierType=alias
    resolved            POST /v2/alerts/{alias}/close?identifierType=alias

Priority mapping: critical P1, high P2, medium P3, low P4, info P5. `message`,
`description` and `note` are HTML-escaped because Opsgenie renders HTML in them.

Failures: 202 (`{"result": "Request will be processed", "requestId": ...}`) and any
other 2xx is delivered. Opsgenie processes requests asynchronously, so a 202 means
accepted, not applied. 429, 5xx, connection errors and timeouts are retryable; other 4xx
(401 bad key, 403, 422 `{"message": ..., "errors": {...}}`) are not, with Opsgenie's
message in the reason. The key never appears in a reason.
Format: https://docs.opsgenie.com/docs/alert-api
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from liberation_guardian.act.notify._json_api import JsonApi, check_base_url, clip, clip_escaped, incident_key
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

DEFAULT_API_URL = "https://api.opsgenie.com"
ALERTS_PATH = "/v2/alerts"

# Opsgenie's documented field limits; longer values make the request fail with 422.
_MESSAGE_MAX = 130
_DESCRIPTION_MAX = 15000
_NOTE_MAX = 25000
_SHORT_MAX = 100  # source, user
_ENTITY_MAX = 512
_TAG_MAX = 50
_TAGS_MAX = 20
_DETAILS_MAX = 8000  # keys and values of `details` together
# Our own caps per detail, so one long link cannot use up the whole details budget.
_DETAIL_KEY_MAX = 100
_DETAIL_VALUE_MAX = 1000

PRIORITY = {
    Severity.critical: "P1",
    Severity.high: "P2",
    Severity.medium: "P3",
    Severity.low: "P4",
    Severity.info: "P5",
}

_TRANSITIONS = frozenset({"opened", "reopened", "severity_raised", "acknowledged", "resolved"})


class OpsgenieResponder(BaseModel):
    """One team, user, escalation or schedule the alert is routed to.

    Usage::

        responders:
          - {type: team, name: Platform}
          - {type: user, username: oncall@example.com}
          - {type: schedule, id: 80564037-1984-4f38-b98e-8a1f662df552}
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["team", "user", "escalation", "schedule"] = Field(
        description="What the responder is: team, user, escalation or schedule."
    )
    id: str | None = Field(default=None, description="Its Opsgenie id.")
    name: str | None = Field(default=None, description="Its name (teams, escalations, schedules).")
    username: str | None = Field(default=None, description="The user's username, usually an email (users).")

    @model_validator(mode="after")
    def _one_identifier(self) -> OpsgenieResponder:
        given = [key for key in ("id", "name", "username") if getattr(self, key)]
        if len(given) != 1:
            raise ValueError(f"a {self.type} responder needs exactly one of id, name, username")
        if self.type == "user" and self.name:
            raise ValueError("a user responder is named by username (or id), not name")
        if self.type != "user" and self.username:
            raise ValueError(f"a {self.type} responder is named by name (or id), not username")
        return self

    def wire(self) -> dict[str, str]:
        """The responder as the Alert API expects it."""
        key = "id" if self.id else "name" if self.name else "username"
        return {"type": self.type, key: str(getattr(self, key))}


class OpsgenieConfig(ChannelConfig):
    """Keys of `integrations.notifications.opsgenie`.

    Usage::

        opsgenie:
          api_key_env: OPSGENIE_API_KEY
          api_url: https://api.eu.opsgenie.com   # EU accounts
          responders: [{type: team, name: Platform}]
          tags: [guardian]
    """

    api_key_env: str | None = Field(
        default=None, description="Variable holding the key of an Opsgenie API integration (sent as GenieKey)."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Alert API base URL; https://api.eu.opsgenie.com for EU accounts."
    )
    responders: list[OpsgenieResponder] = Field(
        default_factory=list,
        description="Teams, users, escalations or schedules to notify; each a type and one of id, name, username.",
    )
    tags: list[str] = Field(default_factory=list, description="Extra tags on every alert (50 characters each).")

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("tags")
    @classmethod
    def _short_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not tag.strip() or len(tag) > _TAG_MAX:
                raise ValueError(f"tag {tag!r} must be 1 to {_TAG_MAX} characters")
        if len(value) > _TAGS_MAX - 4:
            raise ValueError(f"at most {_TAGS_MAX - 4} tags: Opsgenie keeps 20 and the channel adds up to 4")
        return value

    @model_validator(mode="after")
    def _key_when_enabled(self) -> OpsgenieConfig:
        if self.enabled and not self.api_key_env:
            raise ValueError("api_key_env is required when the channel is enabled")
        return self


def build_alert(notification: Notification, config: OpsgenieConfig) -> dict[str, Any]:
    """The create-alert body for one notification."""
    n = notification
    alert: dict[str, Any] = {
        "message": clip_escaped(n.headline(), _MESSAGE_MAX),
        "alias": incident_key(n),
        "description": clip_escaped(n.text(), _DESCRIPTION_MAX),
        "priority": PRIORITY[n.severity],
        "source": clip(n.instance, _SHORT_MAX),
        "tags": _tags(n, config.tags),
        "details": _details(n),
    }
    if n.service:
        alert["entity"] = clip(n.service, _ENTITY_MAX)
    if config.responders:
        alert["responders"] = [responder.wire() for responder in config.responders]
    return alert


def build_action(notification: Notification) -> dict[str, str]:
    """The body of an acknowledge or close request: who is asking, and a note for the alert's log."""
    return {
        "source": clip(notification.instance, _SHORT_MAX),
        "user": clip(notification.instance, _SHORT_MAX),
        "note": clip_escaped(notification.headline(), _NOTE_MAX),
    }


def _tags(n: Notification, configured: list[str]) -> list[str]:
    tags = [*configured, f"severity:{n.severity.value}", f"source:{n.source}"]
    if n.environment:
        tags.append(f"environment:{n.environment}")
    if n.category:
        tags.append(f"category:{n.category}")
    unique = dict.fromkeys(clip(tag, _TAG_MAX) for tag in tags)
    return list(unique)[:_TAGS_MAX]


def _details(n: Notification) -> dict[str, str]:
    """Key-value properties shown on the alert, kept within Opsgenie's 8,000-character total."""
    wanted = {
        "incident": str(n.incident_id),
        "decision": n.action,
        "category": n.category or "unknown",
        "reported by": n.source,
        "service": n.service or "",
        "environment": n.environment or "",
        "occurrences": str(n.occurrences),
        "incident url": n.incident_url or "",
        **{f"link: {link.title}": link.url for link in n.links},
    }
    details: dict[str, str] = {}
    budget = _DETAILS_MAX
    for key, value in wanted.items():
        if not value:
            continue
        key, value = clip(key, _DETAIL_KEY_MAX), clip(value, _DETAIL_VALUE_MAX)
        if len(key) + len(value) > budget:
            break
        details[key] = value
        budget -= len(key) + len(value)
    return details


class OpsgenieChannel(Channel):
    """Creates, raises, acknowledges and closes one Opsgenie alert per incident."""

    name = "opsgenie"
    per_incident = True
    config_model = OpsgenieConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, OpsgenieConfig):
            raise TypeError(f"opsgenie channel needs an OpsgenieConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.opsgenie_config = config
        self.api = JsonApi(
            self.name, config.api_url, timeout=config.timeout_seconds, secrets=[secrets.get("api_key", "")]
        )

    def send(self, notification: Notification) -> None:
        """Create, re-prioritise, acknowledge or close the incident's alert; raise `DeliveryFailed` on failure."""
        headers = {"Authorization": f"GenieKey {self._api_key()}"}
        transition = notification.transition
        if transition not in _TRANSITIONS:
            raise DeliveryFailed(f"opsgenie: unknown transition {transition!r}", retryable=False)
        alias_path = f"{ALERTS_PATH}/{quote(incident_key(notification), safe='')}"
        by_alias = {"identifierType": "alias"}
        if transition == "acknowledged":
            self.api.request(
                "POST", f"{alias_path}/acknowledge", build_action(notification), params=by_alias, headers=headers
            )
        elif transition == "resolved":
            self.api.request(
                "POST", f"{alias_path}/close", build_action(notification), params=by_alias, headers=headers
            )
        else:
            self.api.request("POST", ALERTS_PATH, build_alert(notification, self.opsgenie_config), headers=headers)
            if transition == "severity_raised":
                priority = {"priority": PRIORITY[notification.severity]}
                self.api.request("PUT", f"{alias_path}/priority", priority, params=by_alias, headers=headers)

    def _api_key(self) -> str:
        key = self.secrets.get("api_key", "").strip()
        # A header value must be one line of visible ASCII; anything else is a mangled variable.
        if not key or not key.isascii() or not key.isprintable() or " " in key:
            raise DeliveryFailed(
                f"opsgenie: variable {self.opsgenie_config.api_key_env} (api_key_env) is empty, unset or not a key",
                retryable=False,
            )
        return key

    def close(self) -> None:
        """Close the connection pool."""
        self.api.close()
