"""`upstream-pagerduty`: acknowledge a PagerDuty incident when its incident is acknowledged here.

With `acknowledge_upstream: true` under `integrations.incident_management.pagerduty`,
acknowledging an incident whose events came from a PagerDuty incident (a decision of
`auto_acknowledge`, or a person through the API, the CLI or Slack) sends

    PUT {api_url}/incidents/{incident id}
    Authorization: Token token=<key from api_token_env>
    Accept: application/vnd.pagerduty+json;version=2
    From: <from_email>
    {"incident": {"type": "incident_reference", "status": "acknowledged"}}

PagerDuty answers 200 with the incident. An acknowledgement that came from PagerDuty
itself (`acknowledged_by` `pagerduty:<who>`) is never sent back. The incident id is
`extra["incident_id"]` of the incident's PagerDuty events. PagerDuty's error answers
(`{"error": {"message": ..., "errors": [...]}}`) are quoted in the reason.
Format: https://developer.pagerduty.com/api-reference/ (Incidents: Update an incident).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.upstream.base import UpstreamAction
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.pagerduty import PagerDutyConfig

ACCEPT = "application/vnd.pagerduty+json;version=2"
# PagerDuty ids are letters and digits; anything else could steer the request to another API path.
INCIDENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")
ACKNOWLEDGE = {"incident": {"type": "incident_reference", "status": "acknowledged"}}


class PagerDutyAcknowledge(UpstreamAction):
    """Acknowledges the PagerDuty incident of an incident acknowledged here."""

    name: ClassVar[str] = "upstream-pagerduty"
    source: ClassVar[str] = "pagerduty"

    def __init__(self, source_config: SourceConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(source_config, PagerDutyConfig):
            raise TypeError(f"upstream-pagerduty needs a PagerDutyConfig, got {type(source_config).__name__}")
        super().__init__(source_config, secrets)
        self.pagerduty = source_config

    @classmethod
    def wanted(cls, config: SourceConfig) -> bool:
        """True when `acknowledge_upstream` is on (the config model then requires the key and From address)."""
        return isinstance(config, PagerDutyConfig) and config.acknowledge_upstream

    @classmethod
    def reference(cls, extra: Mapping[str, Any]) -> dict[str, str]:
        """`{"incident_id": ...}` from a PagerDuty event's `extra`, when it names an incident."""
        found = extra.get("incident_id")
        return {"incident_id": found} if isinstance(found, str) and INCIDENT_ID.fullmatch(found) else {}

    @classmethod
    def knows(cls, extra: Mapping[str, Any]) -> bool:
        """True for an event saying the PagerDuty incident is acknowledged (`extra["acknowledged"]`)."""
        return extra.get("acknowledged") is True

    def send(self, notification: Notification) -> None:
        """Acknowledge the incident; raise `DeliveryFailed` unless PagerDuty answers 2xx."""
        incident_id = self.upstream_id(notification, "incident_id", INCIDENT_ID)
        token = self.token(self.pagerduty.api_token_env)
        if not self.pagerduty.from_email:
            raise DeliveryFailed(f"{self.name}: from_email is not configured", retryable=False)
        headers = {"Authorization": f"Token token={token}", "Accept": ACCEPT, "From": self.pagerduty.from_email}
        self.put(f"{self.pagerduty.api_url}/incidents/{incident_id}", ACKNOWLEDGE, headers)

    def error_message(self, body: Any) -> str | None:
        """PagerDuty's `error.message`, with its `error.errors` in brackets."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return None
        message: str = error["message"]
        errors = error.get("errors")
        if isinstance(errors, list) and errors:
            message += " (" + "; ".join(str(item) for item in errors) + ")"
        return message
