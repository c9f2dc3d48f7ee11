"""Splunk On-Call (VictorOps) custom outbound webhooks for incidents: one event per delivery.

Event kinds: `incident`, sent by an outbound webhook subscribed to Any-Incident,
Incident-Triggered, Incident-Acknowledged or Incident-Resolved. The payload is a template the
user writes from Splunk On-Call's `${{INCIDENT.*}}`, `${{ALERT.*}}` and `${{STATE.*}}` variables;
this source reads it either flat, one key per variable (`"INCIDENT.INCIDENT_ID": "9"`, the shape
of the documented example), or nested (`{"incident": {"incident_id": "9"}, "alert": {...}}`).
Names are matched case-insensitively. Chat, paging and on-call subscriptions carry no incident
and are refused with 422.

Signature: Splunk On-Call signs nothing. When `webhook_secret_env` is set the request must carry
the secret: by default in `Authorization` (a bearer token, or the password of Basic credentials),
or verbatim in the header named by `auth_header`, sent as a custom header of the webhook.

Severity from the alert's message type (`ALERT.message_type`, else `ALERT.entity_state`,
`STATE.CURRENT_STATE`, `INCIDENT.ENTITY_STATE`):

| message type / state            | Severity |
|---------------------------------|----------|
| CRITICAL                        | critical |
| WARNING                         | medium   |
| INFO                            | info     |
| RECOVERY, OK, UP, RESOLVED      | info     |
| missing or anything else        | high (an incident pages someone) |

Status: resolved when `INCIDENT.CURRENT_PHASE` is RESOLVED, or, without a phase, when the
message type is RECOVERY, RESOLVED, OK or UP; firing otherwise. The incident's phase wins
because the `ALERT.*` fields describe the alert that opened the incident, so a resolution can
still carry the CRITICAL alert (as the documented example does): it is then resolved with
severity critical. An acknowledged incident (phase ACKED) stays firing, marked in `extra`.

Grouping key: `victorops:<incident number>` from `INCIDENT.INCIDENT_NAME` (without its `#`),
else `INCIDENT.INCIDENT_ID`, else `STATE.INCIDENT_NAME`; without any of them
`victorops:entity:<ALERT.entity_id or STATE.ENTITY_ID>`.

Vendor docs: https://help.victorops.com/knowledge-base/custom-outbound-webhooks/
Fixtures: victorops/outbound-webhook-incident-raw.json, and under
tests/sources/payloads/victorops/: incident-triggered-warning.json, incident-acknowledged.json,
incident-resolved-nested.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, text
from liberation_guardian.sources._signatures import SharedSecretConfig, require_shared_secret, shared_secret_headers
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_SEVERITIES: dict[str, Severity] = {
    "critical": Severity.critical,
    "warning": Severity.medium,
    "info": Severity.info,
    "recovery": Severity.info,
    "resolved": Severity.info,
    "ok": Severity.info,
    "up": Severity.info,
}
_RECOVERED = frozenset({"recovery", "resolved", "ok", "up"})
_SECTIONS = ("incident", "alert", "state")
# Keys only Splunk On-Call sends; a nested body needs one, since `incident.incident_id` alone is
# also how Google Cloud Monitoring's notifications start.
_IDENTIFYING = (
    "incident.incident_name",
    "incident.current_phase",
    "incident.entity_state",
    "alert.entity_id",
    "alert.message_type",
    "alert.vo_uuid",
    "state.entity_id",
    "state.current_state",
)

Fields = Mapping[str, object]


class VictorOpsConfig(SharedSecretConfig):
    """Keys accepted under `integrations.incident_management.victorops`."""


class VictorOpsSource(Source):
    """Splunk On-Call custom outbound webhook deliveries for incidents."""

    name: ClassVar[str] = "victorops"
    group: ClassVar[str] = "incident_management"
    config_model: ClassVar[type[SourceConfig]] = VictorOpsConfig
    auth_scheme: ClassVar[str] = "Authorization: Bearer/Basic with the secret, or the secret in `auth_header`"

    @property
    def _auth_header(self) -> str | None:
        return getattr(self.config, "auth_header", None)

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the shared secret when one is configured."""
        if self.secret is not None:
            require_shared_secret(self.secret, headers, self._auth_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The custom header the outbound webhook would send."""
        return shared_secret_headers(self.secret, self._auth_header)

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one incident notification into one event."""
        fields, flat = _flatten(load_json_object(body))
        if not flat and not any(key in fields for key in _IDENTIFYING):
            raise PayloadInvalid(
                "not a Splunk On-Call incident payload: no INCIDENT.*, ALERT.* or STATE.* keys, and no "
                "incident, alert or state object with Splunk On-Call's fields (current_phase, entity_id, message_type)"
            )
        return [_event(fields)]


def _flatten(payload: Mapping[str, Any]) -> tuple[dict[str, object], bool]:
    """Lower-cased `section.name` keys from the flat or the nested shape, and whether any key was flat."""
    fields: dict[str, object] = {}
    flat = False
    for key, value in payload.items():
        lowered = key.strip().lower()
        section, dot, rest = lowered.partition(".")
        if dot and rest and section in _SECTIONS:
            flat = True
            fields[lowered] = value
    for key, value in payload.items():
        lowered = key.strip().lower()
        if lowered in _SECTIONS and isinstance(value, dict):
            _nest(fields, lowered, value)
    return fields, flat


def _nest(fields: dict[str, object], prefix: str, section: Mapping[str, Any], depth: int = 0) -> None:
    for key, value in section.items():
        name = f"{prefix}.{key.strip().lower()}"
        # Splunk On-Call's deepest variable (INCIDENT.POLICIES_PAGED.0.POLICY.NAME) is four levels down.
        if isinstance(value, dict) and depth < 4:
            _nest(fields, name, value, depth + 1)
        else:
            fields.setdefault(name, value)


def _event(fields: Fields) -> NormalizedEvent:
    phase = (_text(fields, "incident.current_phase") or "").upper()
    message_type = _text(fields, "alert.message_type", "alert.alert_type")
    state = message_type or _text(fields, "alert.entity_state", "state.current_state", "incident.entity_state")
    if phase:
        resolved = phase == "RESOLVED"
    else:
        resolved = (message_type or "").lower() in _RECOVERED or (
            _text(fields, "state.current_alert_phase") or ""
        ).upper() == "RESOLVED"
    severity = _SEVERITIES.get((state or "").lower(), Severity.high)
    occurred = parse_time(fields.get("state.resolved_at")) if resolved else None
    occurred = (
        occurred or parse_time(fields.get("alert.vo_alert_rcv_time")) or parse_time(fields.get("alert.timestamp"))
    )
    occurred = occurred or parse_time(fields.get("incident.incident_timestamp"))
    labels = {
        key: value
        for key, value in {
            "incident_id": _text(fields, "incident.incident_id"),
            "entity_id": _text(fields, "alert.entity_id", "state.entity_id"),
            "host": _text(fields, "incident.host", "state.host"),
            "monitoring_tool": _text(fields, "alert.monitoring_tool", "incident.monitor_type"),
            "routing_key": _text(fields, "alert.routing_key"),
            "teams_paged": ",".join(_indexed(fields, "incident.teams_paged")),
        }.items()
        if value
    }
    extra: dict[str, Any] = {
        key: value
        for key, value in {
            "phase": phase,
            "message_type": message_type,
            "entity_state": state,
            "acknowledged_by": _text(fields, "state.acked_by", "incident.policies_paged.0.acked_by"),
            "resolved_by": _text(fields, "state.resolved_by"),
        }.items()
        if value
    }
    if phase == "ACKED" or (message_type or "").upper() == "ACKNOWLEDGEMENT":
        extra["acknowledged"] = True
    tags = _indexed(fields, "incident.tags")
    if tags:
        extra["tags"] = tags
    return NormalizedEvent(
        source=VictorOpsSource.name,
        kind="incident",
        status=Status.resolved if resolved else Status.firing,
        severity=severity,
        title=_text(
            fields,
            "alert.entity_display_name",
            "incident.entity_display_name",
            "alert.state_message",
            "incident.service",
            "alert.entity_id",
        )
        or "Splunk On-Call incident",
        message=_text(fields, "alert.state_message", "alert.hostoutput") or "",
        service=_text(fields, "incident.service", "state.service", "alert.service"),
        grouping_key=_grouping_key(fields),
        labels=labels,
        links=_links(fields),
        occurred_at=occurred,
        extra=extra,
    )


def _grouping_key(fields: Fields) -> str | None:
    number = _text(fields, "incident.incident_name", "incident.incident_id", "state.incident_name")
    if number:
        return f"victorops:{number.lstrip('#').strip() or number}"
    entity = _text(fields, "alert.entity_id", "state.entity_id")
    return f"victorops:entity:{entity}" if entity else None


def _links(fields: Fields) -> list[Link]:
    candidates = [("More information", fields.get("state.info_url")), ("Alert", fields.get("alert.alert_url"))]
    return [link for title, url in candidates if (link := http_link(title, url)) is not None]


def _text(fields: Fields, *keys: str) -> str | None:
    """The first of `keys` holding text (or a plain integer, as ids sometimes are)."""
    for key in keys:
        value = fields.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return str(value)
        if found := first_text(value):
            return found.strip()
    return None


def _indexed(fields: Fields, prefix: str) -> list[str]:
    """The values of `prefix.0`, `prefix.1`, ... (Splunk On-Call's way of sending a list)."""
    values: list[str] = []
    for index in range(1000):
        value = text(fields.get(f"{prefix}.{index}"))
        if value is None:
            break
        values.append(value)
    return values
