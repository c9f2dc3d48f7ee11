"""New Relic alerts through a Workflows webhook destination: one event per issue notification.

Event kinds: `issue`, one per delivery of a workflow's webhook channel. The default payload
template sends `id` (the issue id), `issueUrl`, `title`, `priority`, `impactedEntities`,
`totalIncidents`, `state`, `trigger`, `isCorrelated`, `createdAt`, `updatedAt`, `sources`,
`alertPolicyNames`, `alertConditionNames` and `workflowName`; custom templates that keep these
names (or add `issueId`, `description`, `environment`, `service`) read the same way.

Authentication: New Relic signs nothing. A webhook destination can use Basic authentication or
a bearer token; when `webhook_secret_env` is set, `Authorization` must carry the secret as the
bearer token or as the Basic password.

Status: `state` CLOSED (or DEACTIVATED) is resolved; CREATED, ACTIVATED, ACKNOWLEDGED and
anything else is firing.

Severity from `priority`:

| New Relic priority | Severity |
|--------------------|----------|
| CRITICAL           | critical |
| HIGH               | high     |
| MEDIUM             | medium   |
| LOW                | low      |
| missing or other   | high     |
| any, state CLOSED  | info     |

Grouping key: `newrelic:issue:<issue id>`, the id taken from `issueId`, else from the issue page
URL (`.../issues/<id>`), else from `id`, so an issue's creation, activation, acknowledgement and
closing join one incident.

Vendor docs: https://docs.newrelic.com/docs/alerts/get-notified/notification-integrations/#webhook
(payload template variables: https://docs.newrelic.com/docs/alerts/get-notified/custom-notification-templates/)
Fixtures: newrelic/workflow-issue-created.json, newrelic/workflow-issue-closed.json
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, text
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_PRIORITIES: dict[str, Severity] = {
    "critical": Severity.critical,
    "high": Severity.high,
    "medium": Severity.medium,
    "low": Severity.low,
}
_STATES = frozenset({"created", "activated", "acknowledged", "closed", "deactivated"})
_CLOSED = frozenset({"closed", "deactivated"})
_ISSUE_IN_URL = re.compile(r"/issues/([0-9A-Za-z-]+)")


class NewRelicSource(Source):
    """New Relic Workflows webhook notifications."""

    name: ClassVar[str] = "newrelic"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "Authorization: Bearer <secret> or Basic with the secret as password"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as bearer token or Basic password when one is configured."""
        if self.secret is None:
            return
        require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The bearer `Authorization` a destination with token authentication sends."""
        return {} if self.secret is None else {"Authorization": f"Bearer {self.secret}"}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one workflow notification into one event."""
        payload = load_json_object(body)
        state = (text(payload.get("state")) or "").strip().lower()
        issue_url = first_text(payload.get("issueUrl"), payload.get("issuePageUrl"))
        if issue_url is None and text(payload.get("issueId")) is None and state not in _STATES:
            raise PayloadInvalid(
                "not a New Relic workflow payload: no issueUrl, no issueId and no issue `state` "
                "(CREATED, ACTIVATED, ACKNOWLEDGED, CLOSED)"
            )
        closed = state in _CLOSED
        entities = _strings(payload.get("impactedEntities"))
        priority = (text(payload.get("priority")) or "").strip().lower()
        issue_id = _issue_id(payload, issue_url)
        return [
            NormalizedEvent(
                source=self.name,
                kind="issue",
                status=Status.resolved if closed else Status.firing,
                severity=Severity.info if closed else _PRIORITIES.get(priority, Severity.high),
                title=first_text(payload.get("title"), *_strings(payload.get("alertConditionNames")))
                or "New Relic issue",
                message=first_text(payload.get("description"), payload.get("details")) or "",
                service=first_text(payload.get("service"), *entities),
                environment=first_text(payload.get("environment"), payload.get("env")),
                grouping_key=f"newrelic:issue:{issue_id}" if issue_id else None,
                labels=_labels(
                    priority=priority.upper(),
                    state=state.upper(),
                    trigger=payload.get("trigger"),
                    policy=", ".join(_strings(payload.get("alertPolicyNames"))),
                    condition=", ".join(_strings(payload.get("alertConditionNames"))),
                    workflow=payload.get("workflowName"),
                    entities=", ".join(entities),
                ),
                links=[link for link in (http_link("New Relic issue", issue_url),) if link is not None],
                occurred_at=(parse_time(payload.get("closedAt")) if closed else None)
                or parse_time(payload.get("updatedAt"))
                or parse_time(payload.get("createdAt")),
                extra=_extra(payload),
            )
        ]


def _issue_id(payload: Mapping[str, Any], issue_url: str | None) -> str | None:
    """The issue id: `issueId`, else the id in the issue page URL, else `id` (the default template's issue id)."""
    if found := text(payload.get("issueId")):
        return found.strip()
    if issue_url and (match := _ISSUE_IN_URL.search(issue_url)):
        return match.group(1)
    return (text(payload.get("id")) or "").strip() or None


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item.strip()]


def _labels(**values: object) -> dict[str, str]:
    return {key: value for key, value in values.items() if isinstance(value, str) and value.strip()}


def _extra(payload: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if identifier := text(payload.get("id")):
        extra["id"] = identifier
    incidents = payload.get("totalIncidents")
    if isinstance(incidents, int) and not isinstance(incidents, bool) and 0 <= incidents < 2**31:
        extra["total_incidents"] = incidents
    if isinstance(payload.get("isCorrelated"), bool):
        extra["is_correlated"] = payload["isCorrelated"]
    if sources := _strings(payload.get("sources")):
        extra["sources"] = sources
    return extra
