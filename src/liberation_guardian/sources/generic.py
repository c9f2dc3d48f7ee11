"""Any JSON webhook, mapped to events by JMESPath expressions set in the configuration.

Event kinds: `event`. A JSON object is one event, a JSON array of objects is one event per
object, and `events` (a JMESPath expression selecting a list) picks the items out of a
wrapper such as `{"records": [...]}`.

Each `mapping` field is a JMESPath expression evaluated against one item; the defaults read
the obvious field names, so `{"title": ..., "severity": ..., "message": ...}` needs no mapping.
A field set to null is not read. An item whose title expression yields no text is refused;
optional fields that yield a value of the wrong type are ignored and named in `extra["ignored"]`.
Invalid expressions, and calls to unknown JMESPath functions or with the wrong number of
arguments, fail when the configuration is loaded.

Signature:

- `webhook_secret_env` set: hex HMAC-SHA256 of the raw body in `signature_header`
  (default `X-Signature-256`), with or without a `sha256=` prefix.
- `api_key_env` set: `api_key_header` (default `X-API-Key`) must equal the key.
- Both set: both are required.

Severity, from the value the `severity` expression yields, compared case-insensitively:

| raw value                                  | Severity |
|--------------------------------------------|----------|
| a key of `severity_map`                    | its value |
| critical, page, emergency, fatal, p1       | critical |
| high, error, major, p2                     | high     |
| medium, warning, warn, p3                  | medium   |
| low, minor, p4                             | low      |
| info, informational, none, debug, p5       | info     |
| missing or anything else                   | medium (raw value kept in `extra`) |

Status: a key of `status_map`, else firing/alerting/triggered/open/problem/active → firing,
resolved/ok/closed/recovered/cleared/normal → resolved, anything else → firing.

Vendor docs: https://jmespath.org/specification.html (expression language; there is no vendor).
Fixtures: none of its own; the tests post other tools' fixtures and small built-in bodies.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import SEVERITY_WORDS, http_link, parse_time, string_map
from liberation_guardian.sources._signatures import hmac_hex, require_hmac, require_token
from liberation_guardian.sources.base import Headers, Source, SourceConfig, _json_type, load_json

_SEVERITY_WORDS: dict[str, Severity] = {
    **SEVERITY_WORDS,
    "fatal": Severity.critical,
    "debug": Severity.info,
    "p1": Severity.critical,
    "p2": Severity.high,
    "p3": Severity.medium,
    "p4": Severity.low,
    "p5": Severity.info,
}
_STATUS_WORDS: dict[str, Status] = {
    **dict.fromkeys(("firing", "alerting", "triggered", "open", "problem", "active"), Status.firing),
    **dict.fromkeys(("resolved", "ok", "closed", "recovered", "cleared", "normal"), Status.resolved),
}
_FUNCTIONS = Functions().FUNCTION_TABLE


def check_expression(expression: str, where: str) -> None:
    """Raise ValueError naming `where` unless `expression` is JMESPath that calls only known functions."""
    try:
        parsed = jmespath.compile(expression).parsed
    except JMESPathError as exc:
        raise ValueError(f"{where}: invalid JMESPath expression {expression!r}: {exc}") from None
    for name, count in _function_calls(parsed):
        if name not in _FUNCTIONS:
            raise ValueError(f"{where}: JMESPath expression {expression!r} calls unknown function {name}()")
        signature = _FUNCTIONS[name]["signature"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if count < len(signature) or (count > len(signature) and not variadic):
            raise ValueError(
                f"{where}: JMESPath expression {expression!r} calls {name}() with {count} arguments, "
                f"it takes {len(signature)}{' or more' if variadic else ''}"
            )


def _function_calls(node: object) -> Iterator[tuple[str, int]]:
    """(name, argument count) of every function call in a parsed JMESPath tree."""
    if not isinstance(node, dict):
        return
    children = node.get("children", [])
    if node.get("type") == "function_expression":
        yield str(node.get("value")), len(children)
    for child in children:
        yield from _function_calls(child)


class GenericMapping(BaseModel):
    """JMESPath expressions that read each normalized field out of one item."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="title || summary || name", description="Required; the event's one-line title.")
    message: str | None = Field(default="message || description", description="Longer text.")
    severity: str | None = Field(default="severity || level || priority", description="Raw severity value.")
    status: str | None = Field(default="status || state", description="Raw status value.")
    service: str | None = Field(default="service", description="Service name.")
    environment: str | None = Field(default="environment || env", description="Environment name.")
    fingerprint: str | None = Field(default="fingerprint", description="Sender's identity of the problem.")
    labels: str | None = Field(default="labels", description="An object of labels.")
    occurred_at: str | None = Field(
        default="occurred_at || timestamp || time", description="ISO 8601 string or Unix seconds."
    )
    link: str | None = Field(default="url || link", description="An http(s) URL back to the sender.")

    @field_validator("*")
    @classmethod
    def _compiles(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_expression(value, f"mapping.{info.field_name}")
        return value


class GenericEndpoint(SourceConfig):
    """Keys of one generic endpoint: its mapping, maps and authentication."""

    mapping: GenericMapping = Field(default_factory=GenericMapping)
    events: str | None = Field(default=None, description="JMESPath selecting the list of items to map, one event each.")
    severity_map: dict[str, Severity] = Field(
        default_factory=dict, description="Raw severity value (any case) to severity name."
    )
    status_map: dict[str, Status] = Field(
        default_factory=dict, description="Raw status value (any case) to firing or resolved."
    )
    api_key_env: str | None = Field(default=None, description="Variable holding the API key to require.")
    signature_header: str = Field(default="X-Signature-256", min_length=1, description="Header with the HMAC.")
    api_key_header: str = Field(default="X-API-Key", min_length=1, description="Header with the API key.")

    @field_validator("events")
    @classmethod
    def _events_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            check_expression(value, "events")
        return value

    @field_validator("severity_map", "status_map", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        # Raw values are matched case-insensitively, and names may be written `Critical`.
        if isinstance(value, dict):
            return {
                str(key).strip().lower(): item.strip().lower() if isinstance(item, str) else item
                for key, item in value.items()
            }
        return value


_INSTANCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class GenericConfig(GenericEndpoint):
    """Keys accepted under `integrations.custom.generic`; `instances` adds named endpoints."""

    instances: dict[Annotated[str, StringConstraints(pattern=_INSTANCE_NAME)], GenericEndpoint] = Field(
        default_factory=dict,
        description="Named endpoints at /webhook/generic/<name>, each with its own mapping and secrets.",
    )


class GenericSource(Source):
    """JSON webhooks from any tool, read through a declarative JMESPath mapping."""

    name: ClassVar[str] = "generic"
    group: ClassVar[str] = "custom"
    config_model: ClassVar[type[SourceConfig]] = GenericConfig
    auth_scheme: ClassVar[str] = "HMAC-SHA256 hex in X-Signature-256 and/or a key in X-API-Key (configurable)"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str], endpoint: str = "generic") -> None:
        """Compile the configured expressions once; any config model but a GenericEndpoint is a wiring mistake."""
        if not isinstance(config, GenericEndpoint):
            raise TypeError(f"GenericSource needs a GenericEndpoint, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config
        self.endpoint = endpoint
        self._expressions: dict[str, ParsedResult] = {
            field: jmespath.compile(expression)
            for field, expression in config.mapping.model_dump().items()
            if expression is not None
        }
        self._events = jmespath.compile(config.events) if config.events is not None else None

    @classmethod
    def endpoints(cls, config: SourceConfig, secrets: Mapping[str, str]) -> dict[str, Source]:
        """`generic` itself when enabled, plus `generic/<name>` for every enabled instance."""
        found: dict[str, Source] = {}
        if config.enabled:
            found[cls.name] = cls(config, {k: v for k, v in secrets.items() if not k.startswith("instances.")})
        for name, instance in getattr(config, "instances", {}).items():
            if instance.enabled:
                prefix = f"instances.{name}."
                own = {k[len(prefix) :]: v for k, v in secrets.items() if k.startswith(prefix)}
                found[f"{cls.name}/{name}"] = cls(instance, own, endpoint=f"{cls.name}/{name}")
        return found

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the HMAC signature and/or the API key, whichever secrets are configured."""
        settings = self.settings
        if self.secret is not None:
            signature = (headers.get(settings.signature_header.lower()) or "").strip()
            if signature.lower().startswith("sha256="):
                signature = signature[len("sha256=") :]
            require_hmac(self.secret, body, signature, header=settings.signature_header)
        api_key = self.secrets.get("api_key")
        if api_key is not None:
            require_token(api_key, headers.get(settings.api_key_header.lower()), header=settings.api_key_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The signature and API-key headers a sender configured like this source would add."""
        headers: dict[str, str] = {}
        if self.secret is not None:
            headers[self.settings.signature_header] = "sha256=" + hmac_hex(self.secret, body)
        if (api_key := self.secrets.get("api_key")) is not None:
            headers[self.settings.api_key_header] = api_key
        return headers

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Map every selected item of the body to one event."""
        return [self._event(item, index) for index, item in enumerate(self._items(load_json(body)))]

    def _items(self, data: Any) -> list[Mapping[str, Any]]:
        if self._events is not None:
            selected = _search(self._events, data, "events")
            if not isinstance(selected, list):
                raise PayloadInvalid(
                    f"events expression {self._events.expression!r} selected a JSON {_json_type(selected)}, not a list"
                )
            items = selected
        elif isinstance(data, list):
            items = data
        elif isinstance(data, dict):
            items = [data]
        else:
            raise PayloadInvalid(f"expected a JSON object or an array of objects, got a JSON {_json_type(data)}")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise PayloadInvalid(f"event {index} is a JSON {_json_type(item)}, not an object")
        return items

    def _event(self, item: Mapping[str, Any], index: int) -> NormalizedEvent:
        found = {
            field: _search(expression, item, f"mapping.{field}") for field, expression in self._expressions.items()
        }
        ignored: dict[str, str] = {}

        def read_text(field: str) -> str | None:
            value = found.get(field)
            result = _as_text(value)
            if value is not None and result is None:
                ignored[field] = f"yielded a JSON {_json_type(value)}, not text"
            return result

        title = read_text("title")
        if title is None:
            raise PayloadInvalid(
                f"mapping.title expression {self._expressions['title'].expression!r} yielded no text for event {index}"
            )
        extra: dict[str, Any] = {}
        raw_severity, raw_status = read_text("severity"), read_text("status")
        severity = self._severity(raw_severity)
        if raw_severity is not None and severity is None:
            extra["unmapped_severity"] = raw_severity
        status = self._status(raw_status)
        if raw_status is not None and status is None:
            extra["unmapped_status"] = raw_status
        labels = found.get("labels")
        if labels is not None and not isinstance(labels, dict):
            ignored["labels"] = f"yielded a JSON {_json_type(labels)}, not an object"
        occurred_raw = found.get("occurred_at")
        occurred = parse_time(occurred_raw)
        if occurred_raw is not None and occurred is None:
            ignored["occurred_at"] = "is not an ISO 8601 time or Unix seconds"
        link = http_link("Link", found.get("link"))
        if found.get("link") is not None and link is None:
            ignored["link"] = "is not an http(s) URL"
        fingerprint = read_text("fingerprint")
        if ignored:
            extra["ignored"] = ignored
        return NormalizedEvent(
            source=self.endpoint,
            kind="event",
            status=status or Status.firing,
            severity=severity or Severity.medium,
            title=title,
            message=read_text("message") or "",
            service=read_text("service"),
            environment=read_text("environment"),
            grouping_key=f"generic:{fingerprint}" if fingerprint else None,
            labels=string_map(labels),
            links=[link] if link else [],
            occurred_at=occurred,
            extra=extra,
        )

    def _severity(self, raw: str | None) -> Severity | None:
        if raw is None:
            return None
        key = raw.strip().lower()
        return self.settings.severity_map.get(key) or _SEVERITY_WORDS.get(key)

    def _status(self, raw: str | None) -> Status | None:
        if raw is None:
            return None
        key = raw.strip().lower()
        return self.settings.status_map.get(key) or _STATUS_WORDS.get(key)


def _search(expression: ParsedResult, data: Any, where: str) -> Any:
    """Evaluate `expression`, turning any failure into `PayloadInvalid` naming `where`."""
    try:
        return expression.search(data)
    # The expression runs over untrusted data (functions can raise type, overflow or recursion
    # errors on it); whatever fails, the payload is what does not fit the mapping.
    except Exception as exc:
        reason = str(exc)[:200]
        raise PayloadInvalid(f"{where} expression {expression.expression!r} failed on this payload: {reason}") from None


def _as_text(value: object) -> str | None:
    """A non-blank string as is, a number or boolean as its JSON text; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int):
        return str(value) if -(10**18) < value < 10**18 else None
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return None
