"""PagerDuty webhooks: V3 webhook subscriptions and legacy V2 webhook extensions.

Event kinds (`kind` is PagerDuty's event type):

- V3 (`{"event": {...}}`), `event.data` an incident: `incident.triggered`, `.acknowledged`,
  `.unacknowledged`, `.escalated`, `.reassigned`, `.delegated`, `.priority_updated`, `.reopened`,
  `.resolved` and any other event about an incident: one event for the incident, resolved when the
  event is `incident.resolved` or the incident's status is `resolved`, firing otherwise (an
  acknowledged incident is still firing, with `extra["acknowledged"]`).
- V3 events whose data only refers to an incident (`incident.annotated`, `incident.responder.added`,
  `incident.responder.replied`, `incident.status_update_published`, ...): activity that needs no
  action; info, resolved, keyed `pagerduty:<incident id>:activity` so it neither reopens nor
  closes the incident.
- V3 `service.created`, `service.updated`, `service.deleted` and other non-incident events: info,
  resolved, keyed `pagerduty:<resource type>:<id>`.
- V3 `pagey.ping` (the subscription's test event): no event.
- V2 (`{"messages": [...]}`): `incident.trigger`, `.acknowledge`, `.unacknowledge`, `.assign`,
  `.escalate`, `.delegate`, `.resolve`: one event per message, as for V3; `incident.annotate`
  is activity.

Signature: V3 deliveries carry `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>`, with
several comma-separated `v1=` values while PagerDuty rotates the subscription secret; one match
is enough. `previous_webhook_secret_env` names a second secret accepted alongside the current one
while you rotate yours. V2 extensions sign nothing: PagerDuty sends the user and password of the
extension URL (`https://user:secret@host/...`) as Basic authentication, which is accepted instead
of a signature when the request has no `X-PagerDuty-Signature`.

Severity: the incident's priority when it is one of PagerDuty's standard P1-P5, else its urgency:

| priority / urgency       | Severity |
|--------------------------|----------|
| P1                       | critical |
| P2, urgency high         | high     |
| P3, urgency low, neither | medium   |
| P4                       | low      |
| P5                       | info     |
| activity, service events | info     |

Grouping key: `pagerduty:<incident id>`, the same for every event of one incident. The id is
also `extra["incident_id"]`: with `acknowledge_upstream` and a REST API key,
`act/upstream/pagerduty.py` acknowledges the PagerDuty incident when its incident here is
acknowledged (by anyone but PagerDuty).

Vendor docs: https://developer.pagerduty.com/docs/webhooks/overview (V3),
https://developer.pagerduty.com/docs/webhooks/webhook-signatures, and the V2 overview in
PagerDuty/developer-docs `docs/webhooks/09-V2-Overview.md`.
Fixtures: pagerduty/v3-incident-priority_updated.json, pagerduty/v3-service-updated.json,
pagerduty/v2-incident-trigger.json, pagerduty/v2-incident-resolve.json, and under
tests/sources/payloads/pagerduty/: v3-incident-triggered.json, v3-incident-acknowledged.json,
v3-incident-resolved.json, v3-incident-annotated.json, v3-pagey-ping.json.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, text
from liberation_guardian.sources._signatures import hmac_hex, require_any_hmac, require_bearer_or_basic
from liberation_guardian.sources._upstream import api_base_url, require_for
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_PRIORITIES: dict[str, Severity] = {
    "1": Severity.critical,
    "2": Severity.high,
    "3": Severity.medium,
    "4": Severity.low,
    "5": Severity.info,
}
_URGENCIES: dict[str, Severity] = {"high": Severity.high, "low": Severity.medium}
_STANDARD_PRIORITY = re.compile(r"^\s*p([1-5])\s*$", re.I)
_RESOLVING = frozenset({"incident.resolved", "incident.resolve"})
_ACKNOWLEDGING = frozenset({"incident.acknowledged", "incident.acknowledge"})
_V2_ACTIVITY = frozenset({"incident.annotate"})
_ACTIVITY_TITLES = {
    "incident.annotated": "Note added",
    "incident.annotate": "Note added",
    "incident.responder.added": "Responder added",
    "incident.responder.replied": "Responder replied",
    "incident.status_update_published": "Status update published",
}
_SIGNATURE = "X-PagerDuty-Signature"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DEFAULT_API_URL = "https://api.pagerduty.com"

Payload = Mapping[str, Any]


class PagerDutyConfig(SourceConfig):
    """Keys accepted under `integrations.incident_management.pagerduty`."""

    previous_webhook_secret_env: str | None = Field(
        default=None,
        description=(
            "Variable holding the previous subscription secret, accepted alongside webhook_secret_env "
            "while you rotate it; has no effect without webhook_secret_env."
        ),
    )
    acknowledge_upstream: bool = Field(
        default=False,
        description=(
            "When Liberation Guardian acknowledges an incident that came from PagerDuty (by a decision or a "
            "person, never PagerDuty's own acknowledgement), acknowledge it in PagerDuty too; needs api_token_env "
            "and from_email."
        ),
    )
    api_token_env: str | None = Field(
        default=None, description="Variable holding a PagerDuty REST API key allowed to update incidents."
    )
    from_email: str | None = Field(
        default=None,
        description="Email address of the PagerDuty user the change is made as (the REST API's From header).",
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="PagerDuty REST API base URL; incidents are updated at its /incidents/."
    )

    @field_validator("from_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError("must be an email address such as oncall@example.com")
        return value

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return api_base_url(value)

    @model_validator(mode="after")
    def _upstream_complete(self) -> PagerDutyConfig:
        if self.enabled and self.acknowledge_upstream:
            require_for(
                "acknowledge_upstream",
                {"api_token_env": self.api_token_env, "from_email": self.from_email},
                "PagerDuty's REST API needs a key and the From address of a user to acknowledge an incident",
            )
        return self


class PagerDutySource(Source):
    """PagerDuty V3 webhook subscriptions and V2 webhook extensions."""

    name: ClassVar[str] = "pagerduty"
    group: ClassVar[str] = "incident_management"
    config_model: ClassVar[type[SourceConfig]] = PagerDutyConfig
    auth_scheme: ClassVar[str] = "X-PagerDuty-Signature: v1=<hex HMAC-SHA256> (V3); Basic auth in the URL (V2)"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check a `v1=` signature against the current (or previous) secret, or V2's Basic credentials."""
        if self.secret is None:
            return
        given = headers.get(_SIGNATURE.lower())
        if given is None and headers.get("authorization"):
            require_bearer_or_basic(self.secret, headers.get("authorization"))
            return
        if not given:
            raise Unauthorized(f"missing signature header {_SIGNATURE}")
        candidates = [part.strip()[3:] for part in given.split(",") if part.strip().lower().startswith("v1=")]
        if not candidates:
            raise Unauthorized(f"{_SIGNATURE} holds no v1= signature")
        previous = self.secrets.get("previous_webhook_secret")
        try:
            require_any_hmac(self.secret, body, candidates, header=_SIGNATURE)
        except Unauthorized:
            if not previous:
                raise
            require_any_hmac(previous, body, candidates, header=_SIGNATURE)

    def sign(self, body: bytes) -> dict[str, str]:
        """The `X-PagerDuty-Signature` a V3 subscription with this secret would send."""
        return {} if self.secret is None else {_SIGNATURE: f"v1={hmac_hex(self.secret, body)}"}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn a V3 event into at most one event, or each V2 message into one."""
        payload = load_json_object(body)
        event = payload.get("event")
        if isinstance(event, dict):
            return _v3(event)
        messages = payload.get("messages")
        if isinstance(messages, list):
            return [_v2(message, index) for index, message in enumerate(messages)]
        raise PayloadInvalid("not a PagerDuty payload: no `event` object (V3 webhook) and no `messages` list (V2)")


def _v3(event: Payload) -> list[NormalizedEvent]:
    event_type = text(event.get("event_type"))
    if event_type is None:
        raise PayloadInvalid("PagerDuty V3 payload has no event.event_type")
    if event_type == "pagey.ping":
        return []
    data = event.get("data")
    if not isinstance(data, dict):
        raise PayloadInvalid(f"PagerDuty {event_type} event has no event.data object")
    occurred = parse_time(event.get("occurred_at"))
    extra = _scalars(event_id=event.get("id"), agent=_object(event.get("agent")).get("summary"))
    if data.get("type") == "incident":
        return [_incident(data, kind=event_type, occurred=occurred, message="", extra=extra)]
    incident = _object(data.get("incident"))
    if _identifier(incident.get("id")):
        message = first_text(data.get("content"), data.get("message")) or ""
        return [_activity(incident, kind=event_type, occurred=occurred, message=message, extra=extra)]
    return [_resource(data, kind=event_type, resource=text(event.get("resource_type")), occurred=occurred)]


def _v2(message: object, index: int) -> NormalizedEvent:
    if not isinstance(message, dict):
        raise PayloadInvalid(f"messages[{index}] is not a JSON object")
    event_type = text(message.get("event"))
    incident = message.get("incident")
    if event_type is None or not isinstance(incident, dict):
        raise PayloadInvalid(f"messages[{index}] has no `event` and `incident` object, which every V2 message has")
    entries = message.get("log_entries")
    entry = next((item for item in entries if isinstance(item, dict)), {}) if isinstance(entries, list) else {}
    channel = _object(entry.get("channel"))
    occurred = parse_time(message.get("created_on"))
    extra = _scalars(message_id=message.get("id"), agent=_object(entry.get("agent")).get("summary"))
    if event_type in _V2_ACTIVITY:
        note = first_text(channel.get("summary"), entry.get("note")) or ""
        return _activity(incident, kind=event_type, occurred=occurred, message=note, extra=extra)
    details = (
        first_text(channel.get("details"), channel.get("summary"), entry.get("summary"), incident.get("description"))
        or ""
    )
    return _incident(incident, kind=event_type, occurred=occurred, message=details, extra=extra)


def _incident(
    incident: Payload, *, kind: str, occurred: datetime | None, message: str, extra: dict[str, Any]
) -> NormalizedEvent:
    """The event for a PagerDuty incident object (V3 `event.data` or V2 `messages[].incident`)."""
    incident_id = _identifier(incident.get("id"))
    status = (text(incident.get("status")) or "").strip().lower()
    priority = text(_object(incident.get("priority")).get("summary"))
    urgency = (text(incident.get("urgency")) or "").strip().lower()
    service = _object(incident.get("service"))
    number = _identifier(incident.get("number")) or _identifier(incident.get("incident_number"))
    labels = {
        key: value
        for key, value in {
            "status": status,
            "urgency": urgency,
            "priority": priority,
            "incident_number": number,
            "incident_key": text(incident.get("incident_key")),
            "service_id": _identifier(service.get("id")),
        }.items()
        if value
    }
    if incident_id:
        extra = {**extra, "incident_id": incident_id}
    if status == "acknowledged" or kind in _ACKNOWLEDGING:
        extra = {**extra, "acknowledged": True}
    assignees = _summaries(incident.get("assignees")) or _summaries(
        [_object(item).get("assignee") for item in _list(incident.get("assignments"))]
    )
    if assignees:
        extra = {**extra, "assignees": assignees}
    bridge = _object(incident.get("conference_bridge"))
    return NormalizedEvent(
        source=PagerDutySource.name,
        kind=kind,
        status=Status.resolved if kind in _RESOLVING or status == "resolved" else Status.firing,
        severity=_severity(priority, urgency),
        title=first_text(incident.get("title"), incident.get("summary"), incident.get("description"))
        or f"PagerDuty incident {incident_id or ''}".strip(),
        message=message,
        service=first_text(service.get("summary"), service.get("name")),
        grouping_key=f"pagerduty:{incident_id}" if incident_id else None,
        labels=labels,
        links=_links(
            ("PagerDuty incident", incident.get("html_url")), ("Conference bridge", bridge.get("conference_url"))
        ),
        occurred_at=occurred or parse_time(incident.get("created_at")),
        extra=extra,
    )


def _activity(
    incident: Payload, *, kind: str, occurred: datetime | None, message: str, extra: dict[str, Any]
) -> NormalizedEvent:
    """An event about an incident that changes nothing about whether it is open."""
    incident_id = _identifier(incident.get("id"))
    subject = first_text(incident.get("title"), incident.get("summary")) or f"incident {incident_id}"
    service = _object(incident.get("service"))
    return NormalizedEvent(
        source=PagerDutySource.name,
        kind=kind,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{_ACTIVITY_TITLES.get(kind, kind)}: {subject}",
        message=message,
        service=first_text(service.get("summary"), service.get("name")),
        grouping_key=f"pagerduty:{incident_id}:activity" if incident_id else None,
        labels={"incident_id": incident_id} if incident_id else {},
        links=_links(("PagerDuty incident", incident.get("html_url"))),
        occurred_at=occurred,
        extra=extra,
    )


def _resource(data: Payload, *, kind: str, resource: str | None, occurred: datetime | None) -> NormalizedEvent:
    """A change to something that is not an incident, such as a service: recorded, nothing to do."""
    resource = resource or text(data.get("type")) or kind.partition(".")[0]
    resource_id = _identifier(data.get("id"))
    name = first_text(data.get("summary"), data.get("name"))
    return NormalizedEvent(
        source=PagerDutySource.name,
        kind=kind,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{kind}: {name}" if name else kind,
        service=name if resource == "service" else None,
        grouping_key=f"pagerduty:{resource}:{resource_id}" if resource_id else None,
        links=_links((f"PagerDuty {resource}", data.get("html_url"))),
        occurred_at=occurred,
    )


def _severity(priority: str | None, urgency: str) -> Severity:
    """Severity from a standard P1-P5 priority, else from the urgency; medium without either."""
    if priority and (match := _STANDARD_PRIORITY.match(priority)):
        return _PRIORITIES[match.group(1)]
    return _URGENCIES.get(urgency, Severity.medium)


def _links(*candidates: tuple[str, object]) -> list[Link]:
    return [link for title, url in candidates if (link := http_link(title, url)) is not None]


def _summaries(value: object) -> list[str]:
    return [summary for item in _list(value) if (summary := text(_object(item).get("summary")))]


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _identifier(value: object) -> str | None:
    """An id or number sent as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    found = text(value)
    return found.strip() if found else None


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-blank strings, for `extra`."""
    return {key: value for key, value in values.items() if isinstance(value, str) and value.strip()}
