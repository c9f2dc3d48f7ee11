"""The `pagerduty` channel: incidents as alerts through the PagerDuty Events API v2, both ways.

Every notification is one `POST {api_url}/v2/enqueue` carrying the integration key
(`routing_key`) and a `dedup_key` that is the same for every transition of one incident
(`<instance-slug>-incident-<id>`), so PagerDuty keeps one alert per incident:

    transition                          event_action
    opened, reopened, severity_raised   trigger       (full payload)
    acknowledged                        acknowledge   (routing_key, event_action, dedup_key only)
    resolved                            resolve       (routing_key, event_action, dedup_key only)

Severity mapping: critical -> critical, high -> error, medium -> warning, low and info -> info.

Failures: 202 (`{"status": "success", ...}`) and any other 2xx is delivered; 429, 5xx,
connection errors and timeouts are retryable; a 400 (`{"status": "invalid event",
"message": ..., "errors": [...]}`) and any other 4xx are not, with PagerDuty's message
and errors in the reason. The routing key never appears in a reason.
Format: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from liberation_guardian.act.notify._json_api import JsonApi, check_base_url, clip, incident_key, web_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

DEFAULT_API_URL = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"

# PagerDuty's documented limits; a longer summary is cut by PagerDuty itself, we cut it visibly.
_SUMMARY_MAX = 1024
_FIELD_MAX = 255

SEVERITY = {
    Severity.critical: "critical",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "info",
    Severity.info: "info",
}

EVENT_ACTION = {
    "opened": "trigger",
    "reopened": "trigger",
    "severity_raised": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}


class PagerDutyConfig(ChannelConfig):
    """Keys of `integrations.notifications.pagerduty`.

    Usage::

        pagerduty:
          routing_key_env: PAGERDUTY_ROUTING_KEY
    """

    routing_key_env: str | None = Field(
        default=None, description="Variable holding the Events API v2 integration key (routing key) of the service."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Events API base URL; events are POSTed to its /v2/enqueue."
    )

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _key_when_enabled(self) -> PagerDutyConfig:
        if self.enabled and not self.routing_key_env:
            raise ValueError("routing_key_env is required when the channel is enabled")
        return self


def build_event(notification: Notification, routing_key: str) -> dict[str, Any]:
    """The Events API v2 event for one notification."""
    n = notification
    action = EVENT_ACTION.get(n.transition)
    if action is None:
        raise ValueError(f"unknown transition {n.transition!r}")
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": incident_key(n)}
    if action != "trigger":
        return event
    payload: dict[str, Any] = {
        "summary": clip(n.headline(), _SUMMARY_MAX),
        # PagerDuty wants the affected system here; the service says that best, the reporting tool otherwise.
        "source": clip(n.service or n.source, _FIELD_MAX),
        "severity": SEVERITY[n.severity],
    }
    if n.environment:
        payload["group"] = clip(n.environment, _FIELD_MAX)
    if n.category:
        payload["class"] = clip(n.category, _FIELD_MAX)
    payload["custom_details"] = _details(n)
    event["payload"] = payload
    links = [{"href": link.url, "text": link.title} for link in n.links if web_url(link.url)]
    if n.incident_url and web_url(n.incident_url):
        links.insert(0, {"href": n.incident_url, "text": f"Incident #{n.incident_id} in {n.instance}"})
        event["client_url"] = n.incident_url
    event["client"] = n.instance
    if links:
        event["links"] = links
    return event


def _details(n: Notification) -> dict[str, Any]:
    """The custom details PagerDuty shows as a table on the alert."""
    details: dict[str, Any] = {
        "decision": n.action,
        "category": n.category or "unknown",
        "reported by": n.source,
        "occurrences": n.occurrences,
        "incident": n.incident_id,
        "transition": n.transition,
    }
    if n.service:
        details["service"] = n.service
    if n.environment:
        details["environment"] = n.environment
    if n.summary and n.summary != n.title:
        details["summary"] = n.summary
    if n.rationale:
        details["rationale"] = n.rationale
    details["text"] = n.text()
    return details


class PagerDutyChannel(Channel):
    """Triggers, acknowledges and resolves one PagerDuty alert per incident."""

    name = "pagerduty"
    per_incident = True
    config_model = PagerDutyConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, PagerDutyConfig):
            raise TypeError(f"pagerduty channel needs a PagerDutyConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.pagerduty_config = config
        self.api = JsonApi(
            self.name, config.api_url, timeout=config.timeout_seconds, secrets=[secrets.get("routing_key", "")]
        )

    def send(self, notification: Notification) -> None:
        """Enqueue the event; raise `DeliveryFailed` unless PagerDuty answers 2xx."""
        routing_key = self.secrets.get("routing_key")
        if not routing_key:
            raise DeliveryFailed(
                f"pagerduty: variable {self.pagerduty_config.routing_key_env} (routing_key_env) is empty or unset",
                retryable=False,
            )
        try:
            event = build_event(notification, routing_key)
        except ValueError as exc:
            raise DeliveryFailed(f"pagerduty: {exc}", retryable=False) from None
        self.api.request("POST", ENQUEUE_PATH, event)

    def close(self) -> None:
        """Close the connection pool."""
        self.api.close()
