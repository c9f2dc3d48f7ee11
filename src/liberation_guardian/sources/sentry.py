"""Sentry webhooks: integration-platform resources and the legacy WebHooks plugin.

Event kinds (`kind` is the resource name):

- `issue`: an issue was created, resolved, assigned, archived or unresolved (`data.issue`).
- `error`: an error event was stored (`data.error`).
- `event_alert`: an issue alert rule fired for an event (`data.event`).
- `metric_alert`: a metric alert went critical, warning or resolved (`data.metric_alert`).
- `legacy_plugin`: the legacy WebHooks plugin body (top-level `project`, `level`, `event`, `url`).
- `installation` and `comment` resources produce no event: there is nothing to triage.

The resource is read from the `Sentry-Hook-Resource` header; without it the body is sniffed.

Signature: `Sentry-Hook-Signature` is the hex HMAC-SHA256 of the raw body keyed with the
integration's client secret. The legacy plugin signs nothing, so it only works with no
secret configured.

Severity from the event or issue `level`, and from the metric alert `action`:

| Sentry value                 | Severity | Status   |
|------------------------------|----------|----------|
| level fatal (or critical)    | critical | firing   |
| level error, or no level     | high     | firing   |
| level warning                | medium   | firing   |
| level info, debug            | info     | firing   |
| metric_alert action critical | critical | firing   |
| metric_alert action warning  | medium   | firing   |
| metric_alert action resolved | info     | resolved |
| issue action resolved        | (level)  | resolved |

`extra["issue_id"]` holds the Sentry issue id (every kind but `metric_alert`): with
`auto_acknowledge` and an API token, `act/upstream/sentry.py` sets that issue's status when
its incident is acknowledged here.

Vendor docs: https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
Fixtures: sentry/issue-created.json, sentry/event_alert-triggered.json,
sentry/metric_alert-resolved.json, sentry/legacy-webhooks-plugin-event.json
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, StackFrame, Status, UserImpact
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources._upstream import api_base_url, require_for
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_LEVELS: dict[str, Severity] = {
    "fatal": Severity.critical,
    "critical": Severity.critical,
    "error": Severity.high,
    "warning": Severity.medium,
    "info": Severity.info,
    "debug": Severity.info,
}
_METRIC_ACTIONS: dict[str, Severity] = {
    "critical": Severity.critical,
    "warning": Severity.medium,
    "resolved": Severity.info,
}
# Resources Sentry sends that describe no problem to triage.
_NOTHING_TO_TRIAGE = frozenset({"installation", "comment"})
_PROJECT_IN_API_URL = re.compile(r"/projects/[^/]+/([^/]+)/")
_ORGANIZATION = re.compile(r"[A-Za-z0-9_-]+")
_UPSTREAM_KEYS = frozenset({"api_token_env", "organization", "acknowledge_as", "api_url"})
DEFAULT_API_URL = "https://sentry.io"

Payload = Mapping[str, Any]


class SentryConfig(SourceConfig):
    """Keys accepted under `integrations.observability.sentry`."""

    dsn_env: str | None = Field(
        default=None,
        description="Variable holding a Sentry DSN or API token for lookups; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )
    auto_acknowledge: bool = Field(
        default=False,
        description=(
            "When Liberation Guardian acknowledges an incident that came from a Sentry issue (by a decision or "
            "a person), set the issue's status in Sentry to acknowledge_as; needs api_token_env and organization."
        ),
    )
    acknowledge_as: Literal["ignored", "resolved"] = Field(
        default="ignored",
        description="The status an acknowledged incident's Sentry issue is set to: ignored (archived) or resolved.",
    )
    api_token_env: str | None = Field(
        default=None,
        description="Variable holding a Sentry auth token with the event:write scope, used to update issues.",
    )
    organization: str | None = Field(
        default=None, description="Slug of the Sentry organization the issues belong to (as in its sentry.io URLs)."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL,
        description="Sentry's address (your own for self-hosted Sentry); issues are updated under its /api/0/.",
    )

    @field_validator("organization")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not _ORGANIZATION.fullmatch(value):
            raise ValueError("must be an organization slug: letters, digits, '-' and '_'")
        return value

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return api_base_url(value)

    @model_validator(mode="after")
    def _upstream_complete(self) -> SentryConfig:
        # `auto_acknowledge: true` alone is accepted and reported as having no effect (`idle_keys`):
        # once any key for talking to Sentry is given, the others are required.
        if self.enabled and self.auto_acknowledge and _UPSTREAM_KEYS & self.model_fields_set:
            require_for(
                "auto_acknowledge",
                {"api_token_env": self.api_token_env, "organization": self.organization},
                "Sentry's API needs both to update an issue",
            )
        return self

    def idle_keys(self) -> list[str]:
        """`auto_acknowledge` when it is on but nothing says how to reach Sentry."""
        if self.auto_acknowledge and not (self.api_token_env and self.organization):
            return ["auto_acknowledge (Sentry is not told: set api_token_env and organization)"]
        return []


class SentrySource(Source):
    """Sentry integration-platform webhooks and legacy WebHooks plugin posts."""

    name: ClassVar[str] = "sentry"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = SentryConfig
    auth_scheme: ClassVar[str] = "HMAC-SHA256 hex in Sentry-Hook-Signature"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `Sentry-Hook-Signature` against the raw body when a client secret is configured."""
        if self.secret is None:
            return
        require_hmac(self.secret, body, headers.get("sentry-hook-signature"), header="Sentry-Hook-Signature")

    def sign(self, body: bytes) -> dict[str, str]:
        """The `Sentry-Hook-Signature` Sentry would send for `body`, when a client secret is configured."""
        return {} if self.secret is None else {"Sentry-Hook-Signature": hmac_hex(self.secret, body)}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one Sentry delivery into at most one event."""
        payload = load_json_object(body)
        resource = (headers.get("sentry-hook-resource") or "").strip().lower() or _sniff(payload)
        if resource in _NOTHING_TO_TRIAGE:
            return []
        build = _BUILDERS.get(resource)
        if build is None:
            raise PayloadInvalid(f"unsupported Sentry-Hook-Resource {resource!r}")
        return [build(payload)]


def _sniff(payload: Payload) -> str:
    """Name the resource a body without `Sentry-Hook-Resource` belongs to."""
    data = payload.get("data")
    if isinstance(data, dict):
        for key in ("issue", "metric_alert", "error", "installation", "comment"):
            if isinstance(data.get(key), dict):
                return key
        if isinstance(data.get("event"), dict):
            return "event_alert"
    if isinstance(payload.get("event"), dict) and any(
        key in payload for key in ("project", "project_slug", "project_name")
    ):
        return "legacy_plugin"
    raise PayloadInvalid(
        "not a Sentry payload: no data.issue, data.error, data.event or data.metric_alert object "
        "(integration platform) and no top-level project and event (legacy WebHooks plugin)"
    )


def _section(payload: Payload, key: str, resource: str) -> Payload:
    """`data.<key>` as an object, raising `PayloadInvalid` naming it when it is missing."""
    data = payload.get("data")
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise PayloadInvalid(f"Sentry {resource} payload has no data.{key} object")
    return section


def _issue(payload: Payload) -> NormalizedEvent:
    issue = _section(payload, "issue", "issue")
    metadata = _object(issue.get("metadata"))
    project = _object(issue.get("project"))
    issue_id = _identifier(issue.get("id"))
    action = text(payload.get("action"))
    return NormalizedEvent(
        source=SentrySource.name,
        kind="issue",
        status=Status.resolved if action == "resolved" else Status.firing,
        severity=_level(issue.get("level")),
        title=first_text(issue.get("title"), _metadata_title(metadata), issue.get("culprit"))
        or f"Sentry issue {issue_id or ''}".strip(),
        message=text(metadata.get("value")) or "",
        service=first_text(project.get("slug"), project.get("name")),
        grouping_key=f"sentry:issue:{issue_id}" if issue_id else None,
        exception_type=text(metadata.get("type")),
        user_impact=_user_impact(issue.get("userCount")),
        links=_links(("Sentry issue", issue.get("permalink")), ("Sentry issue", issue.get("web_url"))),
        occurred_at=parse_time(issue.get("lastSeen")) or parse_time(issue.get("firstSeen")),
        extra=_scalars(
            action=action,
            issue_id=issue_id,
            short_id=issue.get("shortId"),
            culprit=issue.get("culprit"),
            platform=issue.get("platform"),
            substatus=issue.get("substatus"),
            count=issue.get("count"),
        ),
    )


def _event_alert(payload: Payload) -> NormalizedEvent:
    data = _object(payload.get("data"))
    return _from_event(
        _section(payload, "event", "event_alert"),
        kind="event_alert",
        extra=_scalars(action=payload.get("action"), triggered_rule=data.get("triggered_rule")),
    )


def _error(payload: Payload) -> NormalizedEvent:
    return _from_event(_section(payload, "error", "error"), kind="error", extra=_scalars(action=payload.get("action")))


def _legacy_plugin(payload: Payload) -> NormalizedEvent:
    event = payload.get("event")
    if not isinstance(event, dict):
        raise PayloadInvalid("Sentry legacy plugin payload has no `event` object")
    return _from_event(
        event,
        kind="legacy_plugin",
        level=payload.get("level"),
        issue_id=payload.get("id"),
        service=first_text(payload.get("project_slug"), payload.get("project"), payload.get("project_name")),
        title=first_text(payload.get("message"), payload.get("culprit")),
        links=[("Sentry issue", payload.get("url"))],
        extra=_scalars(culprit=payload.get("culprit")),
    )


def _from_event(
    event: Payload,
    *,
    kind: str,
    level: object = None,
    issue_id: object = None,
    service: str | None = None,
    title: str | None = None,
    links: list[tuple[str, object]] | None = None,
    extra: dict[str, Any],
) -> NormalizedEvent:
    """Build an event from a Sentry event object (`data.event`, `data.error` or the legacy `event`)."""
    metadata = _object(event.get("metadata"))
    tags = _tags(event.get("tags"))
    issue = _identifier(event.get("issue_id")) or _identifier(issue_id)
    return NormalizedEvent(
        source=SentrySource.name,
        kind=kind,
        severity=_level(event.get("level") or level or tags.get("level")),
        title=first_text(event.get("title"), _metadata_title(metadata), title, event.get("culprit")) or "Sentry event",
        message=first_text(metadata.get("value"), event.get("message")) or "",
        service=service or _project_from_url(event.get("url")),
        environment=first_text(event.get("environment"), tags.get("environment")),
        grouping_key=f"sentry:issue:{issue}" if issue else None,
        exception_type=text(metadata.get("type")),
        labels=tags,
        stack_frames=_frames(event.get("exception")),
        links=_links(
            *(links or []),
            ("Sentry event", event.get("web_url")),
            ("Sentry issue (API)", event.get("issue_url")),
        ),
        occurred_at=parse_time(event.get("datetime")) or parse_time(event.get("timestamp")),
        extra={**extra, **_scalars(issue_id=issue, event_id=event.get("event_id"), platform=event.get("platform"))},
    )


def _metric_alert(payload: Payload) -> NormalizedEvent:
    data = _object(payload.get("data"))
    incident = _section(payload, "metric_alert", "metric_alert")
    rule = _object(incident.get("alert_rule"))
    action = (text(payload.get("action")) or "").lower()
    resolved = action == "resolved"
    rule_id = _identifier(rule.get("id"))
    projects = rule.get("projects") or incident.get("projects")
    started = parse_time(incident.get("date_started")) or parse_time(incident.get("date_detected"))
    return NormalizedEvent(
        source=SentrySource.name,
        kind="metric_alert",
        status=Status.resolved if resolved else Status.firing,
        severity=_METRIC_ACTIONS.get(action, Severity.high),
        title=first_text(rule.get("name"), data.get("description_title"), incident.get("title"))
        or "Sentry metric alert",
        message=text(data.get("description_text")) or "",
        service=first_text(*projects) if isinstance(projects, list) else None,
        environment=text(rule.get("environment")),
        grouping_key=f"sentry:metric_alert:{rule_id}" if rule_id else None,
        links=_links(("Sentry alert", data.get("web_url"))),
        occurred_at=(parse_time(incident.get("date_closed")) if resolved else None) or started,
        extra=_scalars(
            action=action,
            incident_id=incident.get("id"),
            identifier=incident.get("identifier"),
            aggregate=rule.get("aggregate"),
            query=rule.get("query"),
        ),
    )


_BUILDERS: dict[str, Callable[[Payload], NormalizedEvent]] = {
    "issue": _issue,
    "error": _error,
    "event_alert": _event_alert,
    "metric_alert": _metric_alert,
    "legacy_plugin": _legacy_plugin,
}


def _level(value: object) -> Severity:
    """Severity for a Sentry level; Sentry's own default level is `error`, hence high."""
    if isinstance(value, str):
        return _LEVELS.get(value.strip().lower(), Severity.high)
    return Severity.high


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if _is_plain_number(value) and isinstance(value, int):
        return str(value)
    return text(value)


def _metadata_title(metadata: Payload) -> str | None:
    kind, value = text(metadata.get("type")), text(metadata.get("value"))
    if kind and value:
        return f"{kind}: {value}"
    return kind or value


def _user_impact(value: object) -> UserImpact | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value <= 0:
        return UserImpact.none
    return UserImpact.single_user if value == 1 else UserImpact.multiple_users


def _tags(value: object) -> dict[str, str]:
    """Sentry tags, sent as [key, value] pairs or {"key", "value"} objects, as a dict."""
    tags: dict[str, str] = {}
    if not isinstance(value, list):
        return tags
    for tag in value:
        if isinstance(tag, list) and len(tag) == 2:
            key, item = tag
        elif isinstance(tag, dict):
            key, item = tag.get("key"), tag.get("value")
        else:
            continue
        if isinstance(key, str) and isinstance(item, str):
            tags[key] = item
    return tags


def _frames(exception: object) -> list[StackFrame]:
    """Frames of the last (outermost reported) exception value, innermost last as Sentry sends them."""
    values = _object(exception).get("values")
    if not isinstance(values, list) or not values:
        return []
    frames = _object(_object(values[-1]).get("stacktrace")).get("frames")
    if not isinstance(frames, list):
        return []
    return [
        StackFrame(
            filename=first_text(frame.get("filename"), frame.get("abs_path")),
            function=text(frame.get("function")),
            module=text(frame.get("module")),
            lineno=frame.get("lineno") if _is_small_int(frame.get("lineno")) else None,
            in_app=frame.get("in_app") if isinstance(frame.get("in_app"), bool) else None,
        )
        for frame in frames
        if isinstance(frame, dict)
    ]


def _is_small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _project_from_url(value: object) -> str | None:
    """The project slug inside a Sentry API URL such as `/api/0/projects/<org>/<project>/events/...`."""
    if isinstance(value, str) and (match := _PROJECT_IN_API_URL.search(value)):
        return match.group(1)
    return None


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-empty strings or plain numbers, for `extra`."""
    return {
        key: value for key, value in values.items() if (isinstance(value, str) and value) or _is_plain_number(value)
    }


def _is_plain_number(value: object) -> bool:
    """True for numbers every JSON store can hold: no booleans, infinities, NaN or 64-bit overflows."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)
