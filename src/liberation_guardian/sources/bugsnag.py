"""Bugsnag (Insight Hub) webhook notifications: error triggers, state changes, spikes and releases.

Event kinds (`kind` is the payload's `trigger.type`):

- `firstException`, `exception`, `errorEventFrequency`, `powerTen`, `reopened`: an error
  (Bugsnag's group of identical events) needs attention; firing.
- `errorStateManualChange`: a collaborator changed the error's state; `fixed`, `ignored` and
  `snoozed` resolve it (severity info), `reopened`, `unignored` and `snoozeCancelled` fire it.
- `projectSpiking`: the whole project has a spike of events; firing, high.
- `comment`, `release`, `projectSamplingStarted`, `projectApproachingRateLimit`:
  informational (severity info, status resolved). Comments get a grouping key of their own so
  that a comment never resolves the error it is about.
- Any other trigger type carrying an `error` object reads as an error event, firing.

Authentication: Bugsnag signs nothing and its webhook takes a URL only. When
`webhook_secret_env` is set, the request must carry the secret in `Authorization`, as the
password of Basic credentials written into the webhook URL
(`https://bugsnag:<secret>@host/webhook/bugsnag`) or as a bearer token.

Severity from `error.severity`, raised to at least high when `error.unhandled` is true:

| Bugsnag severity             | Severity               |
|------------------------------|------------------------|
| error                        | high                   |
| warning                      | medium (high if unhandled) |
| info                         | info (high if unhandled)   |
| missing                      | high if unhandled, else medium |
| projectSpiking               | high                   |
| resolving state change, informational triggers | info |

Grouping key: `bugsnag:error:<errorId>` for every error trigger and state change, so a `fixed`
state change resolves the incident its `firstException` opened; `bugsnag:project:<project
id>:spike` for spikes; `bugsnag:release:<id>` and `bugsnag:comment:<errorId>` for the
informational kinds. Stack frames come from `error.exceptions[0].stacktrace` (the deprecated
flat `error.stackTrace` when absent), reversed so the innermost frame is last.

Vendor docs: https://docs.bugsnag.com/product/integrations/webhook/
Fixtures: tests/sources/payloads/bugsnag/*.json (no shared fixture exists)
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, StackFrame, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_SEVERITIES: dict[str, Severity] = {"error": Severity.high, "warning": Severity.medium, "info": Severity.info}
# State changes a collaborator makes that end the problem, and ones that bring it back.
_RESOLVING_STATES = frozenset({"fixed", "ignored", "snoozed"})
_INFORMATIONAL = frozenset({"comment", "release", "projectSamplingStarted", "projectApproachingRateLimit"})

Payload = Mapping[str, Any]


class BugsnagSource(Source):
    """Bugsnag webhook-integration notifications."""

    name: ClassVar[str] = "bugsnag"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "Basic credentials in the webhook URL with the secret as password, or bearer"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password (or bearer token) when one is configured."""
        if self.secret is None:
            return
        require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` an HTTP client derives from `https://bugsnag:<secret>@host/...`."""
        if self.secret is None:
            return {}
        credentials = base64.b64encode(f"bugsnag:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one Bugsnag notification into one event."""
        payload = load_json_object(body)
        trigger = payload.get("trigger")
        trigger_type = text(trigger.get("type")) if isinstance(trigger, dict) else None
        if trigger_type is None or not any(isinstance(payload.get(key), dict) for key in ("project", "account")):
            raise PayloadInvalid("not a Bugsnag payload: no `trigger.type` with a `project` or `account` object")
        error = payload.get("error")
        if trigger_type in _INFORMATIONAL:
            return [_informational(trigger_type, payload)]
        if trigger_type == "projectSpiking":
            return [_spike(payload)]
        if not isinstance(error, dict):
            raise PayloadInvalid(f"Bugsnag {trigger_type} payload has no `error` object")
        return [_error(trigger_type, error, payload)]


def _error(trigger_type: str, error: Payload, payload: Payload) -> NormalizedEvent:
    trigger = _object(payload.get("trigger"))
    state_change = (text(trigger.get("stateChange")) or "").strip()
    resolved = trigger_type == "errorStateManualChange" and state_change in _RESOLVING_STATES
    exceptions = error.get("exceptions")
    first = _object(exceptions[0]) if isinstance(exceptions, list) and exceptions else {}
    exception_type = first_text(error.get("exceptionClass"), first.get("errorClass"))
    message = first_text(error.get("message"), first.get("message")) or ""
    error_id = _identifier(error.get("errorId"))
    app = _object(error.get("app"))
    return NormalizedEvent(
        source=BugsnagSource.name,
        kind=trigger_type,
        status=Status.resolved if resolved else Status.firing,
        severity=Severity.info if resolved else _severity(error.get("severity"), error.get("unhandled")),
        title=_title(exception_type, message) or text(trigger.get("message")) or "Bugsnag error",
        message=message,
        service=_project_name(payload),
        environment=first_text(app.get("releaseStage"), error.get("releaseStage")),
        grouping_key=f"bugsnag:error:{error_id}" if error_id else None,
        exception_type=exception_type,
        labels=_labels(
            trigger=text(trigger.get("message")),
            state_change=state_change,
            context=error.get("context"),
            app_version=first_text(app.get("version"), error.get("appVersion")),
            severity=error.get("severity"),
            status=error.get("status"),
            unhandled=_flag(error.get("unhandled")),
            hostname=_object(error.get("device")).get("hostname"),
        ),
        stack_frames=_frames(first.get("stacktrace") if first.get("stacktrace") else error.get("stackTrace")),
        links=_links(
            ("Bugsnag error", error.get("url")),
            ("Issue tracker", _object(error.get("createdIssue")).get("url")),
        ),
        occurred_at=parse_time(error.get("receivedAt")) or parse_time(error.get("firstReceived")),
        extra=_scalars(event_id=error.get("id"), request_url=error.get("requestUrl")),
    )


def _spike(payload: Payload) -> NormalizedEvent:
    trigger = _object(payload.get("trigger"))
    project = _object(payload.get("project"))
    project_id = _identifier(project.get("id"))
    name = _project_name(payload)
    return NormalizedEvent(
        source=BugsnagSource.name,
        kind="projectSpiking",
        severity=Severity.high,
        title=f"{name}: spike in errors" if name else "Bugsnag project spiking",
        message=text(trigger.get("message")) or "",
        service=name,
        grouping_key=f"bugsnag:project:{project_id}:spike" if project_id else None,
        labels=_labels(trigger=text(trigger.get("message"))),
        links=_links(("Bugsnag project", project.get("url"))),
        extra=_scalars(rate=trigger.get("rate")),
    )


def _informational(trigger_type: str, payload: Payload) -> NormalizedEvent:
    trigger = _object(payload.get("trigger"))
    error = _object(payload.get("error"))
    release = _object(payload.get("release"))
    comment = _object(payload.get("comment"))
    project = _object(payload.get("project"))
    error_id = _identifier(error.get("errorId"))
    release_id = _identifier(release.get("id"))
    keys: dict[str, str | None] = {
        "comment": f"bugsnag:comment:{error_id}" if error_id else None,
        "release": f"bugsnag:release:{release_id}" if release_id else None,
    }
    version = text(release.get("version"))
    title = {
        "comment": f"Comment on {_title(text(error.get('exceptionClass')), text(error.get('message'))) or 'an error'}",
        "release": f"Release {version}" if version else None,
    }.get(trigger_type)
    return NormalizedEvent(
        source=BugsnagSource.name,
        kind=trigger_type,
        status=Status.resolved,
        severity=Severity.info,
        title=title or text(trigger.get("message")) or f"Bugsnag {trigger_type}",
        message=first_text(comment.get("message"), trigger.get("message")) or "",
        service=_project_name(payload),
        environment=first_text(release.get("releaseStage"), _object(error.get("app")).get("releaseStage")),
        grouping_key=keys.get(trigger_type),
        labels=_labels(trigger=text(trigger.get("message")), user=_object(payload.get("user")).get("name")),
        links=_links(
            ("Bugsnag error", error.get("url")),
            ("Bugsnag release", release.get("url")),
            ("Bugsnag project", project.get("url")),
        ),
        occurred_at=parse_time(release.get("releaseTime")),
        extra=_scalars(release_id=release.get("id"), error_id=error.get("errorId")),
    )


def _severity(value: object, unhandled: object) -> Severity:
    """Bugsnag's severity, raised to high for unhandled errors (the app crashed or the request failed)."""
    found = _SEVERITIES.get(value.strip().lower()) if isinstance(value, str) else None
    if unhandled is True:
        return Severity.high if found is None or found.rank < Severity.high.rank else found
    return found or Severity.medium


def _title(exception_type: str | None, message: str | None) -> str | None:
    if exception_type and message:
        return f"{exception_type}: {message}"
    return exception_type or message


def _project_name(payload: Payload) -> str | None:
    return text(_object(payload.get("project")).get("name"))


def _frames(value: object) -> list[StackFrame]:
    """Bugsnag lists the innermost frame first; events keep it last."""
    if not isinstance(value, list):
        return []
    return [
        StackFrame(
            filename=text(frame.get("file")),
            function=text(frame.get("method")),
            lineno=_line(frame.get("lineNumber")),
            in_app=frame.get("inProject") if isinstance(frame.get("inProject"), bool) else None,
        )
        for frame in reversed(value)
        if isinstance(frame, dict)
    ]


def _line(value: object) -> int | None:
    """A line number sent as a number or as digits."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def _labels(**values: object) -> dict[str, str]:
    return {key: value for key, value in values.items() if isinstance(value, str) and value.strip()}


def _flag(value: object) -> str | None:
    return ("true" if value else "false") if isinstance(value, bool) else None


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-empty strings or numbers every JSON store can hold."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        if (isinstance(value, str) and value) or (isinstance(value, int) and -(2**63) <= value < 2**63):
            kept[key] = value
        elif isinstance(value, float) and math.isfinite(value):
            kept[key] = value
    return kept
