"""Rollbar webhook notifications: item events, single occurrences and deploys.

Event kinds (`kind` is Rollbar's `event_name`):

- `new_item`, `occurrence`, `exp_repeat_item` (the 10th, 100th, 1000th... occurrence),
  `item_velocity` (high occurrence rate), `reactivated_item`, `reopened_item`: an item
  (Rollbar's group of identical errors) needs attention; status firing.
- `resolved_item`: the item was resolved; status resolved, severity info.
- `deploy`: a deploy was recorded; informational (severity info, status resolved).
- Any other `event_name` carrying `data.item` reads as an item event, firing.

Authentication: Rollbar's Webhook channel signs nothing and cannot add headers. When
`webhook_secret_env` is set, the request must carry the secret in `Authorization`, as the
password of Basic credentials (put them in the webhook URL:
`https://rollbar:<secret>@host/webhook/rollbar`) or as a bearer token.

Severity from the item's `level` (a name, or Rollbar's number), else the occurrence's:

| Rollbar level         | Severity |
|-----------------------|----------|
| critical (50)         | critical |
| error (40), or none   | high     |
| warning (30)          | medium   |
| info (20), debug (10) | info     |
| resolved_item, deploy | info     |

Status: `resolved_item` and `deploy` are resolved, every other event is firing.

Grouping key: `rollbar:item:<item id>` (else `rollbar:item:<project id>#<counter>`), so an item's
occurrences, repeats, reactivation and resolution join one incident; `rollbar:deploy:<deploy id>`
for deploys. Stack frames come from the occurrence body's `trace` (or the first entry of
`trace_chain`), innermost last as Rollbar sends them.

Redaction: an occurrence's `metadata.access_token` (the token it was reported with, which
Rollbar usually blanks) is replaced with `[redacted]` before the body is stored or parsed.

Vendor docs: https://docs.rollbar.com/docs/webhooks (payload body format:
https://docs.rollbar.com/reference/create-item)
Fixtures: rollbar/new_item.json, rollbar/occurrence.json, rollbar/deploy.json, and
tests/sources/payloads/rollbar/*.json
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, StackFrame, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, text
from liberation_guardian.sources._redact import redact_json
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_LEVEL_NAMES: dict[str, Severity] = {
    "critical": Severity.critical,
    "error": Severity.high,
    "warning": Severity.medium,
    "info": Severity.info,
    "debug": Severity.info,
}
# Rollbar stores item levels as numbers in its API and in older webhook payloads.
_LEVEL_NUMBERS: dict[int, Severity] = {
    50: Severity.critical,
    40: Severity.high,
    30: Severity.medium,
    20: Severity.info,
    10: Severity.info,
}

Payload = Mapping[str, Any]


class RollbarConfig(SourceConfig):
    """Keys accepted under `integrations.observability.rollbar`."""

    project_services: dict[str, str] = Field(
        default_factory=dict,
        description="Service name for each Rollbar project id; Rollbar payloads name a project only by its number.",
    )

    @field_validator("project_services", mode="before")
    @classmethod
    def _ids_as_text(cls, value: object) -> object:
        """Accept project ids written as YAML numbers."""
        if isinstance(value, dict):
            return {str(key): item for key, item in value.items()}
        return value


class RollbarSource(Source):
    """Rollbar Webhook-channel notifications."""

    name: ClassVar[str] = "rollbar"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = RollbarConfig
    auth_scheme: ClassVar[str] = "Basic credentials in the webhook URL with the secret as password, or bearer"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as RollbarConfig; any other model is a wiring mistake."""
        if not isinstance(config, RollbarConfig):
            raise TypeError(f"RollbarSource needs a RollbarConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password (or bearer token) when one is configured."""
        if self.secret is None:
            return
        require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` an HTTP client derives from `https://rollbar:<secret>@host/...`."""
        if self.secret is None:
            return {}
        credentials = base64.b64encode(f"rollbar:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def redact(self, headers: Headers, body: bytes) -> bytes:
        """Replace the access token an occurrence was reported with, wherever it occurs."""
        return redact_json(body, _access_tokens)

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one Rollbar notification into one event."""
        payload = load_json_object(body)
        event_name = text(payload.get("event_name"))
        data = payload.get("data")
        if event_name is None or not isinstance(data, dict):
            raise PayloadInvalid("not a Rollbar payload: no `event_name` string and `data` object")
        if event_name == "deploy":
            deploy = data.get("deploy")
            if not isinstance(deploy, dict):
                raise PayloadInvalid("Rollbar deploy payload has no data.deploy object")
            return [self._deploy(deploy)]
        item = data.get("item")
        if not isinstance(item, dict):
            raise PayloadInvalid(f"Rollbar {event_name} payload has no data.item object")
        return [self._item(event_name, item, data)]

    def _item(self, event_name: str, item: Payload, data: Payload) -> NormalizedEvent:
        occurrence = _object(data.get("occurrence")) or _object(item.get("last_occurrence"))
        resolved = event_name == "resolved_item"
        trace = _trace(_object(occurrence.get("body")))
        exception = _object(trace.get("exception"))
        message_body = _object(_object(occurrence.get("body")).get("message")).get("body")
        project_id = _identifier(item.get("project_id"))
        server = _object(occurrence.get("server"))
        occurred = parse_time(item.get("last_resolved_timestamp")) if resolved else None
        return NormalizedEvent(
            source=self.name,
            kind=event_name,
            status=Status.resolved if resolved else Status.firing,
            severity=Severity.info if resolved else _severity(item.get("level"), occurrence.get("level")),
            title=first_text(item.get("title"), exception.get("message"), message_body) or "Rollbar item",
            message=first_text(exception.get("message"), exception.get("description"), message_body) or "",
            service=self._service(project_id, data.get("url")),
            environment=first_text(item.get("environment"), occurrence.get("environment")),
            grouping_key=_item_key(item, project_id),
            exception_type=text(exception.get("class")),
            labels=_labels(
                level=_level_name(item.get("level")) or text(occurrence.get("level")),
                language=occurrence.get("language"),
                framework=occurrence.get("framework"),
                host=server.get("host"),
                code_version=occurrence.get("code_version"),
                context=occurrence.get("context"),
            ),
            stack_frames=_frames(trace.get("frames")),
            links=[link for link in (http_link("Rollbar item", data.get("url")),) if link is not None],
            occurred_at=occurred
            or parse_time(occurrence.get("timestamp"))
            or parse_time(item.get("last_occurrence_timestamp")),
            extra=_scalars(
                counter=item.get("counter"),
                project_id=item.get("project_id"),
                total_occurrences=item.get("total_occurrences"),
                occurrence_uuid=occurrence.get("uuid"),
                occurrences=data.get("occurrences"),
                rate=data.get("rate"),
            ),
        )

    def _deploy(self, deploy: Payload) -> NormalizedEvent:
        revision = text(deploy.get("revision"))
        environment = text(deploy.get("environment"))
        deploy_id = _identifier(deploy.get("id"))
        title = "Deploy" + (f" {revision[:12]}" if revision else "") + (f" to {environment}" if environment else "")
        return NormalizedEvent(
            source=self.name,
            kind="deploy",
            status=Status.resolved,
            severity=Severity.info,
            title=title,
            message=text(deploy.get("comment")) or "",
            service=self._service(_identifier(deploy.get("project_id")), None),
            environment=environment,
            grouping_key=f"rollbar:deploy:{deploy_id}" if deploy_id else None,
            labels=_labels(revision=revision, user=deploy.get("local_username")),
            occurred_at=parse_time(deploy.get("finish_time")) or parse_time(deploy.get("start_time")),
            extra=_scalars(deploy_id=deploy.get("id"), project_id=deploy.get("project_id")),
        )

    def _service(self, project_id: str | None, url: object) -> str | None:
        """The configured name of the project, else the project slug in a rollbar.com item URL."""
        if project_id and (named := self.settings.project_services.get(project_id)):
            return named
        if isinstance(url, str) and url.strip().lower().startswith(("http://", "https://")):
            parts = urlsplit(url.strip())
            segments = [segment for segment in parts.path.split("/") if segment]
            # https://rollbar.com/<account>/<project>/items/<counter>/
            if (parts.hostname or "").endswith("rollbar.com") and len(segments) >= 3 and segments[2] == "items":
                return segments[1]
        return None


def _item_key(item: Payload, project_id: str | None) -> str | None:
    if item_id := _identifier(item.get("id")):
        return f"rollbar:item:{item_id}"
    counter = _identifier(item.get("counter"))
    if project_id and counter:
        return f"rollbar:item:{project_id}#{counter}"
    return None


def _severity(*levels: object) -> Severity:
    """The first readable level's severity; Rollbar's default level is error, hence high."""
    for level in levels:
        if isinstance(level, str) and (found := _LEVEL_NAMES.get(level.strip().lower())):
            return found
        if isinstance(level, int) and not isinstance(level, bool) and (found := _LEVEL_NUMBERS.get(level)):
            return found
    return Severity.high


def _level_name(level: object) -> str | None:
    if isinstance(level, int) and not isinstance(level, bool):
        return {50: "critical", 40: "error", 30: "warning", 20: "info", 10: "debug"}.get(level)
    return text(level)


def _trace(body: Payload) -> Payload:
    """The occurrence's `trace`, or the first (the raised) trace of a `trace_chain`."""
    if trace := _object(body.get("trace")):
        return trace
    chain = body.get("trace_chain")
    if isinstance(chain, list) and chain:
        return _object(chain[0])
    return {}


def _frames(value: object) -> list[StackFrame]:
    if not isinstance(value, list):
        return []
    return [
        StackFrame(
            filename=text(frame.get("filename")),
            function=text(frame.get("method")),
            lineno=frame.get("lineno") if _is_small_int(frame.get("lineno")) else None,
        )
        for frame in value
        if isinstance(frame, dict)
    ]


def _labels(**values: object) -> dict[str, str]:
    return {key: value for key, value in values.items() if isinstance(value, str) and value.strip()}


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)


def _is_small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


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


def _access_tokens(payload: Any) -> list[str]:
    """The `metadata.access_token` of the occurrence (`data.occurrence`, else the item's last one)."""
    data = _object(payload.get("data")) if isinstance(payload, dict) else {}
    occurrences = (_object(data.get("occurrence")), _object(_object(data.get("item")).get("last_occurrence")))
    tokens = [_object(occurrence.get("metadata")).get("access_token") for occurrence in occurrences]
    return [token for token in tokens if isinstance(token, str)]
