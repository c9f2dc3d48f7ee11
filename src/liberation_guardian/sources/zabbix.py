"""Zabbix problem notifications: our webhook media type, and the Grafana OnCall formatted webhook.

Zabbix has no fixed webhook body; a webhook media type runs a script over parameters built from
macros. Two bodies are read:

- The Liberation Guardian media type (docs/sources/zabbix.md): a flat JSON object of the media
  type's parameters, `event_id` ({EVENT.ID}), `trigger_id` ({TRIGGER.ID}), `event_name`,
  `event_severity`, `event_nseverity`, `event_status`, `event_value`, `event_update_status`,
  `event_update_action`, `event_recovery_id`, `event_tags` ({EVENT.TAGSJSON} or {EVENT.TAGS}),
  `host_name`, `host_host`, `zabbix_url`, ... Event kinds: `problem`, `recovery`, `update`
  (acknowledged, commented, severity changed, closed), `discovery` and `autoregistration`.
  A body whose `event_id` and `trigger_id` are still unexpanded macros is the media type's
  "Test" button and gives no event.
- The Grafana OnCall formatted webhook that Zabbix's own "Grafana OnCall" media type sends:
  `alert_uid`, `title`, `state` (`alerting` or `ok`), `message`, `link_to_upstream_details`,
  `image_url`. Event kinds: `problem` and `recovery`. Severity and host are read from the
  `Severity:` and `Host:` lines of that media type's default message when present.

Authentication: Zabbix signs nothing. When `webhook_secret_env` is set the request must carry the
secret in `token_header` (default `X-Guardian-Token`, which the media type script adds), or as
a bearer token or Basic password in `Authorization`.

| Zabbix severity ({EVENT.SEVERITY} / {EVENT.NSEVERITY}) | Severity |
|--------------------------------------------------------|----------|
| Disaster / 5                                           | critical |
| High / 4                                               | high     |
| Average / 3                                            | medium   |
| Warning / 2                                            | low      |
| Information / 1, Not classified / 0                    | info     |
| missing or unknown                                     | medium   |

Severity names renamed in Zabbix are read through `event_nseverity`. Status: `event_value` 0 or
`event_status` RESOLVED (OnCall: `state` ok) is resolved, anything else firing. An update that
changes the severity fires again with the new severity; one that closes the problem resolves it;
acknowledgements and comments are info, resolved, under `<key>:update` so they never close it.

Grouping key: `zabbix:<trigger id>:<host>`, the same for a problem and its recovery; without a
trigger id, `zabbix:event:<event id>` ({EVENT.ID} is the problem's id in recovery messages too).

Vendor docs: https://www.zabbix.com/documentation/current/en/manual/config/notifications/media/webhook
and https://www.zabbix.com/documentation/current/en/manual/appendix/macros/supported_by_location
Fixtures: zabbix/oncall-formatted-webhook.json, tests/sources/payloads/zabbix/*.json
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time
from liberation_guardian.sources._signatures import TokenHeaderConfig, require_token_or_authorization
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

_SEVERITY_NAMES: dict[str, Severity] = {
    "disaster": Severity.critical,
    "high": Severity.high,
    "average": Severity.medium,
    "warning": Severity.low,
    "information": Severity.info,
    "not classified": Severity.info,
}
_SEVERITY_NUMBERS: dict[str, Severity] = {
    "5": Severity.critical,
    "4": Severity.high,
    "3": Severity.medium,
    "2": Severity.low,
    "1": Severity.info,
    "0": Severity.info,
}
# {EVENT.SOURCE}: 0 triggers, 1 discovery, 2 autoregistration, 3 internal.
_INFORMATIONAL_SOURCES = {"1": "discovery", "2": "autoregistration"}
# A macro Zabbix could not expand stays in the text as written, e.g. {EVENT.RECOVERY.ID} in a problem.
_UNEXPANDED = re.compile(r"\{\$?[A-Z][A-Za-z0-9_.]*(?::[^{}]*)?\}|\*UNKNOWN\*")
_MESSAGE_LINE = re.compile(r"^\s*(Severity|Host)\s*:\s*(.+?)\s*$", re.I | re.M)
_TRIGGER_IN_URL = re.compile(r"[?&]triggerid=([0-9]+)")


class ZabbixConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.infrastructure.zabbix`."""


class ZabbixSource(Source):
    """Zabbix webhook media type notifications, ours or Grafana OnCall's formatted webhook."""

    name: ClassVar[str] = "zabbix"
    group: ClassVar[str] = "infrastructure"
    config_model: ClassVar[type[SourceConfig]] = ZabbixConfig
    auth_scheme: ClassVar[str] = "shared token in X-Guardian-Token (configurable), or Authorization Bearer/Basic"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as ZabbixConfig; any other model is a wiring mistake."""
        if not isinstance(config, ZabbixConfig):
            raise TypeError(f"ZabbixSource needs a ZabbixConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret in the token header or Authorization when one is configured."""
        if self.secret is not None:
            require_token_or_authorization(self.secret, headers, self.settings.token_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The token header the media type script adds."""
        return {} if self.secret is None else {self.settings.token_header: self.secret}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one media type delivery into at most one event."""
        payload = load_json_object(body)
        if "event_id" in payload or "trigger_id" in payload:
            return _media_type(payload)
        if "alert_uid" in payload or ("state" in payload and "title" in payload):
            return [_oncall(payload)]
        raise PayloadInvalid(
            "not a Zabbix payload: no event_id or trigger_id (Liberation Guardian media type) "
            "and no alert_uid, or state with title (Grafana OnCall formatted webhook)"
        )


def _param(payload: Payload, key: str) -> str | None:
    """A parameter as stripped text; None when missing, blank, not text or an unexpanded macro."""
    raw = payload.get(key)
    if isinstance(raw, int) and not isinstance(raw, bool) and -(2**63) <= raw < 2**63:
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not raw or _UNEXPANDED.fullmatch(raw):
        return None
    return raw


def zabbix_severity(name: str | None, number: str | None = None) -> Severity | None:
    """The Severity for a Zabbix severity name, else for its number 0-5, else None."""
    if name and (found := _SEVERITY_NAMES.get(name.strip().lower())):
        return found
    return _SEVERITY_NUMBERS.get((number or "").strip())


def _media_type(payload: Payload) -> list[NormalizedEvent]:
    event_id, trigger_id = _param(payload, "event_id"), _param(payload, "trigger_id")
    if event_id is None and trigger_id is None:
        return []  # the media type's Test dialog, macros left as typed
    host = first_text(_param(payload, "host_name"), _param(payload, "host_host"))
    key = f"zabbix:{trigger_id}:{host or ''}" if trigger_id else f"zabbix:event:{event_id}"
    severity = zabbix_severity(_param(payload, "event_severity"), _param(payload, "event_nseverity"))
    resolved = _param(payload, "event_value") == "0" or (_param(payload, "event_status") or "").upper() == "RESOLVED"
    status = Status.resolved if resolved else Status.firing
    kind = "recovery" if resolved else "problem"
    action = (_param(payload, "event_update_action") or "").lower()
    if source_kind := _INFORMATIONAL_SOURCES.get(_param(payload, "event_source") or ""):
        kind, status, severity, key = (
            source_kind,
            Status.resolved,
            Severity.info,
            f"zabbix:event:{event_id or trigger_id}",
        )
    elif _param(payload, "event_update_status") == "1":
        kind = "update"
        if "closed" in action:
            status = Status.resolved
        elif "changed severity" not in action and not resolved:
            # Acknowledgements and comments are recorded beside the problem, never closing it.
            status, severity, key = Status.resolved, Severity.info, f"{key}:update"
    tags = _tags(payload.get("event_tags"))
    labels = {k: v for k, v in tags.items() if v}
    for name in ("host_name", "host_host", "host_ip", "trigger_id", "event_severity", "event_id"):
        if found := _param(payload, name):
            labels[name] = found
    started = parse_time(_param(payload, "event_started_at"))
    occurred = (parse_time(_param(payload, "event_recovered_at")) or started) if resolved else started
    return [
        NormalizedEvent(
            source=ZabbixSource.name,
            kind=kind,
            status=status,
            severity=severity or Severity.medium,
            title=first_text(_param(payload, "event_name"), _param(payload, "alert_subject")) or f"Zabbix event {key}",
            message=first_text(_param(payload, "alert_message"), _param(payload, "trigger_description")) or "",
            service=first_text(_tag(tags, "service", "application", "component"), host),
            environment=_tag(tags, "environment", "env"),
            grouping_key=key,
            labels=labels,
            links=_links(payload, trigger_id, event_id),
            occurred_at=occurred,
            extra={
                name: found
                for name in (
                    "event_status",
                    "event_value",
                    "event_update_action",
                    "event_recovery_id",
                    "event_opdata",
                    "event_source",
                    "event_date",
                    "event_time",
                )
                if (found := _param(payload, name))
            },
        )
    ]


def _oncall(payload: Payload) -> NormalizedEvent:
    message = _param(payload, "message") or ""
    lines = {match.group(1).lower(): match.group(2) for match in _MESSAGE_LINE.finditer(message)}
    host = lines.get("host")
    upstream = _param(payload, "link_to_upstream_details") or ""
    trigger = match.group(1) if (match := _TRIGGER_IN_URL.search(upstream)) else None
    uid = _param(payload, "alert_uid")
    key = f"zabbix:{trigger}:{host}" if trigger and host else (f"zabbix:event:{uid}" if uid else None)
    resolved = (_param(payload, "state") or "").lower() == "ok"
    severity = zabbix_severity(lines.get("severity"))
    links = [link for link in (http_link("Zabbix", upstream),) if link is not None]
    extra: dict[str, Any] = {"format": "grafana_oncall"}
    for name in ("alert_uid", "state", "image_url"):
        if found := _param(payload, name):
            extra[name] = found
    return NormalizedEvent(
        source=ZabbixSource.name,
        kind="recovery" if resolved else "problem",
        status=Status.resolved if resolved else Status.firing,
        severity=severity or (Severity.info if resolved else Severity.medium),
        title=_param(payload, "title") or f"Zabbix alert {uid or ''}".strip(),
        message=message,
        service=host,
        grouping_key=key,
        labels={"host_name": host} if host else {},
        links=links,
        extra=extra,
    )


def _tags(raw: object) -> dict[str, str]:
    """Event tags from {EVENT.TAGSJSON} (a list, or that list as text) or {EVENT.TAGS} ("a:1, b:2")."""
    if isinstance(raw, str) and raw.lstrip().startswith("["):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
    tags: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("tag"), str):
                tag_value = item.get("value")
                tags[item["tag"]] = tag_value if isinstance(tag_value, str) else ""
    elif isinstance(raw, str) and not _UNEXPANDED.fullmatch(raw.strip()):
        for part in raw.split(","):
            name, _, tag_value = part.partition(":")
            if name.strip():
                tags[name.strip()] = tag_value.strip()
    return tags


def _tag(tags: Mapping[str, str], *names: str) -> str | None:
    """The first non-blank tag among `names`, compared case-insensitively."""
    lowered = {key.lower(): item for key, item in tags.items()}
    return first_text(*(lowered.get(name) for name in names))


def _links(payload: Payload, trigger_id: str | None, event_id: str | None) -> list[Link]:
    links: list[Link] = []
    base = _param(payload, "zabbix_url")
    if base and trigger_id and event_id and trigger_id.isdigit() and event_id.isdigit():
        url = f"{base.rstrip('/')}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
        if link := http_link("Zabbix event", url):
            links.append(link)
    if (link := http_link("Trigger URL", _param(payload, "trigger_url"))) and link.url not in {x.url for x in links}:
        links.append(link)
    return links
