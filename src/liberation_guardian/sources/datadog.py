"""Datadog Webhooks integration: monitor notifications in a user-defined JSON payload.

Datadog posts whatever JSON the webhook's Payload template says, with `$VARIABLES` filled in.
This source reads the field names of Datadog's default template, of Keep's widely copied
template (the shared fixtures), and any field named after a variable in any spelling:
`alert_transition`, `ALERT_TRANSITION`, `alertTransition` and `$ALERT_TRANSITION` all mean
`$ALERT_TRANSITION`. Only top-level fields are read. A variable left unfilled (`"$ALERT_ID"`)
counts as missing.

Event kinds: one event per delivery; `kind` is `$EVENT_TYPE` (`log_alert`,
`query_alert_monitor`, `metric_alert_monitor`...), else `alert`.

Fields read (first one present wins):

| Meaning     | Field names (variable)                                                        |
|-------------|-------------------------------------------------------------------------------|
| transition  | alert_transition ($ALERT_TRANSITION); else the `[Triggered on {...}]` title prefix |
| alert type  | alert_type ($ALERT_TYPE: error, warning, info, success)                       |
| priority    | alert_priority ($ALERT_PRIORITY), priority, severity; only the values P1-P5    |
| monitor id  | alert_id ($ALERT_ID), monitor_id; else `/monitors/<id>` in the message         |
| grouping    | aggreg_key ($AGGREG_KEY), aggregation_key                                     |
| scope       | alert_scope ($ALERT_SCOPE), scopes; else the `{...}` of the title prefix       |
| title       | alert_title, title, event_title (transition and priority prefixes removed)    |
| message     | text_only_msg, body, event_msg, message (`%%%` markers removed)              |
| tags        | tags ($TAGS, comma-separated `key:value`); `service` and `env` tags name the service and environment |
| links       | link, url ($LINK), snapshot ($SNAPSHOT), the monitor link inside the message  |
| time        | date ($DATE, epoch milliseconds), last_updated, date_posix                     |

Authentication: Datadog signs nothing. When `webhook_secret_env` is set, the request must carry
the secret in the header named by `auth_header` (default `X-Datadog-Token`, set under the
webhook's Custom Headers), or in `Authorization` as a bearer token or Basic password (the
webhook's Basic auth option).

Status: transition `Recovered` (or, without a transition, alert type `success`) is resolved;
everything else is firing.

Severity:

| Notification                                         | Severity                                   |
|------------------------------------------------------|--------------------------------------------|
| Recovered / success                                  | info                                       |
| priority P1 / P2 / P3 / P4 / P5                      | critical / high / medium / low / info      |
| Warn / Re-Warn (alert type warning), with a priority | that priority's, at most medium            |
| no priority: Triggered, Re-Triggered, Renotify       | alert type error/warning/info: high/medium/info; none: high |
| no priority: Warn, Re-Warn, No Data, Re-No Data      | medium                                     |

Grouping key: `datadog:aggregation:<$AGGREG_KEY>` when present, else
`datadog:monitor:<monitor id>:<scope>` (`:<scope>` only for multi-alert groups), so the
recovery of one monitor group resolves that group's trigger and no other.

Vendor docs: https://docs.datadoghq.com/integrations/webhooks/
Fixtures: datadog/log_alert-triggered.json, datadog/log_alert-recovered.json,
datadog/log_alert-warn.json, and tests/sources/payloads/datadog/*.json
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import http_link, parse_time, text
from liberation_guardian.sources._signatures import require_token_or_authorization
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_PRIORITIES: dict[str, Severity] = {
    "p1": Severity.critical,
    "p2": Severity.high,
    "p3": Severity.medium,
    "p4": Severity.low,
    "p5": Severity.info,
}
_ALERT_TYPES: dict[str, Severity] = {"error": Severity.high, "warning": Severity.medium, "info": Severity.info}
_TRANSITIONS = ("triggered", "re-triggered", "recovered", "warn", "re-warn", "no data", "re-no data", "renotify")
_WARNINGS = frozenset({"warn", "re-warn"})
_NO_DATA = frozenset({"no data", "re-no data"})
# A bracketed tag at the start of a title: "[P2]", "[Warn]", "[Triggered on {service:api}]".
_TITLE_TAG = re.compile(r"\s*\[([^\[\]]*)\]\s*")
_TRANSITION_TAG = re.compile(r"(?i)(" + "|".join(re.escape(t) for t in _TRANSITIONS) + r")(?: on \{(.*)\})?")
_PLACEHOLDER = re.compile(r"\$[A-Z][A-Z0-9_]*")
_MONITOR_LINK = re.compile(r"https?://[^\s()\[\]<>]+/monitors/([0-9]+)[^\s()\[\]<>]*")
_IDENTIFYING = ("alerttransition", "alerttype", "alertid", "monitorid", "aggregkey", "aggregationkey", "alertcyclekey")

Fields = Mapping[str, object]


class DatadogConfig(SourceConfig):
    """Keys accepted under `integrations.observability.datadog`."""

    auth_header: str = Field(
        default="X-Datadog-Token",
        min_length=1,
        description="Custom header that must carry the secret; Authorization with Bearer or Basic works too.",
    )


class DatadogSource(Source):
    """Datadog Webhooks-integration notifications."""

    name: ClassVar[str] = "datadog"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = DatadogConfig
    auth_scheme: ClassVar[str] = "shared secret in X-Datadog-Token (configurable), or Authorization Bearer/Basic"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as DatadogConfig; any other model is a wiring mistake."""
        if not isinstance(config, DatadogConfig):
            raise TypeError(f"DatadogSource needs a DatadogConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret in the custom header, or in Authorization, when one is configured."""
        if self.secret is not None:
            require_token_or_authorization(self.secret, headers, self.settings.auth_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The custom header a webhook's Custom Headers `{"<auth_header>": "<secret>"}` adds."""
        return {} if self.secret is None else {self.settings.auth_header: self.secret}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one Datadog webhook delivery into one event."""
        fields = _normalized(load_json_object(body))
        if not any(_value(fields, key) for key in _IDENTIFYING) and not (
            _value(fields, "eventtype") and _value(fields, "title", "eventtitle", "alerttitle", "body", "eventmsg")
        ):
            raise PayloadInvalid(
                "not a Datadog payload: none of alert_transition, alert_type, alert_id, aggreg_key, "
                "alert_cycle_key, or event_type with a title or body"
            )
        return [_event(fields)]


def _event(fields: Fields) -> NormalizedEvent:
    raw_title = _value(fields, "alerttitle", "title", "eventtitle")
    title, title_priority, title_transition, title_scope = _split_title(raw_title or "")
    shown_transition = _value(fields, "alerttransition", "transition") or title_transition
    transition = (shown_transition or "").lower()
    alert_type = (_value(fields, "alerttype") or "").lower()
    resolved = transition == "recovered" or (not transition and alert_type == "success")
    priority = _priority(fields) or title_priority
    message = _message(fields)
    scope = _scope(_value(fields, "alertscope", "scopes", "scope") or title_scope)
    monitor_id = _value(fields, "alertid", "monitorid") or _monitor_from_link(message, _value(fields, "body"))
    tags = _tags(fields.get("tags"))
    labels = {key: value for key, value in (tag.partition(":")[::2] for tag in tags) if key and value}
    for key, value in (
        ("host", _value(fields, "hostname", "host")),
        ("alert_type", alert_type),
        ("alert_transition", shown_transition),
        ("priority", priority.upper() if priority else None),
        ("monitor_id", monitor_id),
    ):
        if value:
            labels.setdefault(key, value)
    return NormalizedEvent(
        source=DatadogSource.name,
        kind=_value(fields, "eventtype") or "alert",
        status=Status.resolved if resolved else Status.firing,
        severity=Severity.info if resolved else _severity(priority, transition, alert_type),
        title=title or (f"Datadog monitor {monitor_id}" if monitor_id else "Datadog alert"),
        message=message,
        service=_value(fields, "service") or labels.get("service"),
        environment=_value(fields, "env", "environment") or labels.get("env") or labels.get("environment"),
        grouping_key=_grouping_key(fields, monitor_id, scope),
        labels=labels,
        links=_links(fields, message),
        occurred_at=parse_time(_value(fields, "date", "lastupdated", "dateposix")),
        extra={
            key: value
            for key, value in (
                ("event_id", _value(fields, "id", "eventid")),
                ("alert_cycle_key", _value(fields, "alertcyclekey")),
                ("alert_query", _value(fields, "alertquery")),
                ("alert_metric", _value(fields, "alertmetric")),
                ("alert_status", _value(fields, "alertstatus")),
                ("scope", scope),
                ("org", _org(fields)),
                ("original_title", raw_title),
            )
            if value
        }
        | ({"tags": tags} if tags else {}),
    )


def _normalized(payload: Mapping[str, Any]) -> dict[str, object]:
    """Top-level fields keyed by name in one spelling: `ALERT_ID`, `alertId` and `$ALERT_ID` become `alertid`."""
    fields: dict[str, object] = {}
    for key, value in payload.items():
        fields.setdefault(re.sub(r"[^a-z0-9]", "", key.lower()), value)
    return fields


def _value(fields: Fields, *names: str) -> str | None:
    """The first named field holding text or a whole number, skipping unfilled `$VARIABLES`."""
    for name in names:
        value = fields.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return str(value)
        if (found := text(value)) and not _PLACEHOLDER.fullmatch(found.strip()):
            return found.strip()
    return None


def _split_title(title: str) -> tuple[str, str | None, str | None, str | None]:
    """Strip leading `[P2]`, `[Warn]`, `[Triggered on {scope}]` tags; return title, priority, transition, scope."""
    priority = transition = scope = None
    position = 0
    while match := _TITLE_TAG.match(title, position):
        tag = match.group(1).strip()
        if tag.lower() in _PRIORITIES:
            priority = tag.lower()
        elif found := _TRANSITION_TAG.fullmatch(tag):
            transition, scope = found.group(1), found.group(2)
        else:
            break
        position = match.end()
    return title[position:].strip(), priority, transition, scope


def _priority(fields: Fields) -> str | None:
    for name in ("alertpriority", "priority", "severity"):
        value = (_value(fields, name) or "").lower()
        if value in _PRIORITIES:
            return value
    return None


def _severity(priority: str | None, transition: str, alert_type: str) -> Severity:
    warning = transition in _WARNINGS or (not transition and alert_type == "warning")
    if priority:
        found = _PRIORITIES[priority]
        # A Warn crossed the monitor's warning threshold, not its alert threshold.
        return Severity.medium if warning and found.rank > Severity.medium.rank else found
    if warning or transition in _NO_DATA:
        return Severity.medium
    return _ALERT_TYPES.get(alert_type, Severity.high)


def _message(fields: Fields) -> str:
    message = _value(fields, "textonlymsg", "body", "eventmsg", "eventmessage", "message") or ""
    # Datadog wraps Markdown event text in %%% markers.
    return message.removeprefix("%%%").removesuffix("%%%").strip()


def _scope(value: str | None) -> str | None:
    """A comma-separated tag scope in one canonical form: trimmed, sorted, comma-joined."""
    if not value:
        return None
    parts = sorted({part.strip() for part in value.strip().strip("{}").split(",") if part.strip()})
    return ",".join(parts) or None


def _tags(value: object) -> list[str]:
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list):
        items = value
    else:
        return []
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _monitor_from_link(*texts: str | None) -> str | None:
    for body in texts:
        if body and (match := _MONITOR_LINK.search(body)):
            return match.group(1)
    return None


def _grouping_key(fields: Fields, monitor_id: str | None, scope: str | None) -> str | None:
    if aggregation := _value(fields, "aggregkey", "aggregationkey"):
        return f"datadog:aggregation:{aggregation}"
    if monitor_id:
        return f"datadog:monitor:{monitor_id}" + (f":{scope}" if scope else "")
    if cycle := _value(fields, "alertcyclekey"):
        return f"datadog:cycle:{cycle}"
    return None


def _links(fields: Fields, message: str) -> list[Link]:
    monitor = _MONITOR_LINK.search(message)
    candidates = [
        ("Datadog event", _value(fields, "link", "url")),
        ("Datadog monitor", monitor.group(0) if monitor else None),
        ("Datadog graph", _value(fields, "snapshot")),
    ]
    links: list[Link] = []
    for title, url in candidates:
        link = http_link(title, url)
        if link is not None and all(existing.url != link.url for existing in links):
            links.append(link)
    return links


def _org(fields: Fields) -> str | None:
    org = fields.get("org")
    if isinstance(org, dict):
        return _value(_normalized(org), "name")
    return _value(fields, "orgname")
