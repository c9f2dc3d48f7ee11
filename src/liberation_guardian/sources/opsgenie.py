"""Opsgenie's Webhook integration: one event per alert action.

Event kinds (`kind` is Opsgenie's `action`, spelled as Opsgenie spells it):

- `Create`: an alert was created; firing.
- `Close`, `Delete`: the alert was closed or deleted; resolved.
- `Acknowledge`, `UnAcknowledge`, `Escalate`, `EscalateToNext`, `UpdatePriority`: the alert is still
  open; firing with the alert's grouping key (an acknowledged alert is marked in `extra`).
- Every other action (`AddNote`, `AddTags`, `RemoveTags`, `AddTeam`, `AddRecipient`, `AddResponder`,
  `AssignOwnership`, `TakeOwnership`, `CustomAction`, `Snooze`, ...): activity on the alert that
  needs no action; severity info, resolved, keyed `opsgenie:<alert id>:activity` so it neither
  reopens a closed alert nor closes an open one.

Signature: Opsgenie signs nothing. When `webhook_secret_env` is set the request must carry the
secret: by default in `Authorization` (a bearer token, or the password of Basic credentials),
or verbatim in the header named by `auth_header`; the integration's custom headers (or its
Basic authentication) send it.

Severity from `alert.priority`:

| `priority`                   | Severity |
|------------------------------|----------|
| P1                           | critical |
| P2                           | high     |
| P3, missing (Opsgenie's default) | medium |
| P4                           | low      |
| P5                           | info     |
| any activity action          | info     |

Status: `Close` and `Delete` and activity actions are resolved, the rest firing.
Grouping key: `opsgenie:<alert.alertId>`, else `opsgenie:<alert.alias>`.

Vendor docs: https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-webhook/
Fixtures: opsgenie/alert-create.json, opsgenie/alert-close.json, and under
tests/sources/payloads/opsgenie/: acknowledge.json, add-note.json, escalate.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, string_map, text
from liberation_guardian.sources._signatures import SharedSecretConfig, require_shared_secret, shared_secret_headers
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_PRIORITIES: dict[str, Severity] = {
    "p1": Severity.critical,
    "p2": Severity.high,
    "p3": Severity.medium,
    "p4": Severity.low,
    "p5": Severity.info,
}
_CLOSING = frozenset({"close", "delete"})
# Actions that say the alert is still open; every other non-creating action is activity.
_STILL_OPEN = frozenset({"create", "acknowledge", "unacknowledge", "escalate", "escalatetonext", "updatepriority"})


class OpsgenieConfig(SharedSecretConfig):
    """Keys accepted under `integrations.incident_management.opsgenie`."""


class OpsgenieSource(Source):
    """Opsgenie Webhook integration deliveries."""

    name: ClassVar[str] = "opsgenie"
    group: ClassVar[str] = "incident_management"
    config_model: ClassVar[type[SourceConfig]] = OpsgenieConfig
    auth_scheme: ClassVar[str] = "Authorization: Bearer/Basic with the secret, or the secret in `auth_header`"

    @property
    def _auth_header(self) -> str | None:
        return getattr(self.config, "auth_header", None)

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the shared secret when one is configured."""
        if self.secret is not None:
            require_shared_secret(self.secret, headers, self._auth_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The header the integration's custom headers would send."""
        return shared_secret_headers(self.secret, self._auth_header)

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one alert action into one event."""
        payload = load_json_object(body)
        alert = payload.get("alert")
        alert = alert if isinstance(alert, dict) else {}
        alert_id = _identifier(alert.get("alertId")) or _identifier(alert.get("alias"))
        if alert_id is None:
            raise PayloadInvalid("not an Opsgenie payload: no `alert` object with an `alertId` or `alias`")
        action = text(payload.get("action"))
        if action is None:
            raise PayloadInvalid("Opsgenie payload has no `action`")
        return [_event(payload, alert, alert_id, action)]


def _event(payload: Mapping[str, Any], alert: Mapping[str, Any], alert_id: str, action: str) -> NormalizedEvent:
    verb = action.strip().lower()
    activity = verb not in _STILL_OPEN and verb not in _CLOSING
    details = string_map(alert.get("details"))
    tags = _strings(alert.get("tags"))
    message = text(alert.get("message"))
    if activity:
        title = f"{action}: {message}" if message else f"{action} on Opsgenie alert {alert_id}"
    else:
        title = message or f"Opsgenie alert {_identifier(alert.get('tinyId')) or alert_id}"
    labels = {**details, **({"tags": ",".join(tags)} if tags else {})}
    extra = _scalars(
        action=action,
        alert_id=alert.get("alertId"),
        alias=alert.get("alias"),
        tiny_id=alert.get("tinyId"),
        priority=alert.get("priority"),
        entity=alert.get("entity"),
        alert_source=alert.get("source"),
        username=alert.get("username"),
        owner=alert.get("owner"),
        note=alert.get("note"),
        integration=payload.get("integrationName"),
        escalation=payload.get("escalationName"),
    )
    teams = _strings(alert.get("teams"))
    if teams:
        extra["teams"] = teams
    if verb == "acknowledge":
        extra["acknowledged"] = True
    return NormalizedEvent(
        source=OpsgenieSource.name,
        kind=action,
        status=Status.resolved if activity or verb in _CLOSING else Status.firing,
        severity=Severity.info if activity else _priority(alert.get("priority")),
        title=title,
        message=(first_text(alert.get("note")) if activity else None) or text(alert.get("description")) or "",
        service=first_text(details.get("service"), alert.get("entity")),
        environment=first_text(details.get("environment"), details.get("env")),
        grouping_key=f"opsgenie:{alert_id}:activity" if activity else f"opsgenie:{alert_id}",
        labels=labels,
        occurred_at=_epoch(alert.get("updatedAt")) or _epoch(alert.get("createdAt")),
        extra=extra,
    )


def _priority(value: object) -> Severity:
    """Severity for an Opsgenie priority; Opsgenie itself defaults to P3."""
    if isinstance(value, str):
        return _PRIORITIES.get(value.strip().lower(), Severity.medium)
    return Severity.medium


def _epoch(value: object) -> datetime | None:
    """An Opsgenie timestamp: milliseconds, or nanoseconds as some `updatedAt` values are."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 10**16:
        value //= 10**6
    return parse_time(value)


def _identifier(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    found = text(value)
    return found.strip() if found else None


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item.strip()]


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-blank strings, for `extra`."""
    return {key: value for key, value in values.items() if isinstance(value, str) and value.strip()}
