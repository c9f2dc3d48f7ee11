"""Nagios Core and Nagios XI notifications posted by a notification command (curl).

Nagios has no webhook of its own: a host or service notification command posts the fields below,
built from Nagios macros, as JSON or form-encoded (`application/x-www-form-urlencoded`, what
`curl --data-urlencode` sends). docs/sources/nagios.md has both command definitions.

| field                  | macro                 | field                  | macro                  |
|------------------------|-----------------------|------------------------|------------------------|
| `notification_type`    | $NOTIFICATIONTYPE$    | `service_desc`         | $SERVICEDESC$          |
| `host_name`            | $HOSTNAME$            | `service_state`        | $SERVICESTATE$         |
| `host_alias`           | $HOSTALIAS$           | `service_output`       | $SERVICEOUTPUT$        |
| `host_address`         | $HOSTADDRESS$         | `long_service_output`  | $LONGSERVICEOUTPUT$    |
| `host_state`           | $HOSTSTATE$           | `notification_author`  | $NOTIFICATIONAUTHOR$   |
| `host_output`          | $HOSTOUTPUT$          | `notification_comment` | $NOTIFICATIONCOMMENT$  |
| `timestamp`            | $TIMET$               | `long_date_time`       | $LONGDATETIME$         |
| `host_groups`          | $HOSTGROUPNAMES$      | `nagios_url`, `environment` | fixed text (optional) |

`notification_type` and `host_name` are required. A body with a `service_desc` is a service
notification, otherwise a host notification. `kind` is the notification type in lower case.

Authentication: Nagios signs nothing. When `webhook_secret_env` is set the request must carry the
secret in `token_header` (default `X-Guardian-Token`), or as a bearer token or Basic password.

| notification type                 | state                    | Severity | Status   | grouping key suffix |
|-----------------------------------|--------------------------|----------|----------|---------------------|
| PROBLEM (and any other state)     | host DOWN                | critical | firing   |                     |
|                                   | host UNREACHABLE         | high     | firing   |                     |
|                                   | service CRITICAL         | high     | firing   |                     |
|                                   | service WARNING, UNKNOWN | medium   | firing   |                     |
|                                   | missing or unknown       | medium   | firing   |                     |
| RECOVERY, or state OK / UP        |                          | info     | resolved |                     |
| FLAPPINGSTART                     |                          | low      | firing   | `:flapping`         |
| FLAPPINGSTOP, FLAPPINGDISABLED    |                          | info     | resolved | `:flapping`         |
| ACKNOWLEDGEMENT                   |                          | info     | resolved | `:acknowledgement`  |
| DOWNTIMESTART, DOWNTIMEEND, DOWNTIMECANCELLED |              | info     | resolved | `:downtime`         |
| CUSTOM                            |                          | info     | resolved | `:custom`           |

Grouping key: `nagios:<host>` or `nagios:<host>/<service>`; informational types add the suffix
so that they are recorded beside the problem without closing it.

Vendor docs: https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/macrolist.html
and https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/notifications.html
Fixtures: tests/sources/payloads/nagios/*.json (Nagios has no JSON of its own to capture).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import http_link, parse_time
from liberation_guardian.sources._signatures import TokenHeaderConfig, require_token_or_authorization
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_HOST_STATES: dict[str, Severity] = {"DOWN": Severity.critical, "UNREACHABLE": Severity.high}
_SERVICE_STATES: dict[str, Severity] = {
    "CRITICAL": Severity.high,
    "WARNING": Severity.medium,
    "UNKNOWN": Severity.medium,
}
_OK_STATES = frozenset({"OK", "UP"})
# Informational notification types: (status, severity, grouping key suffix, title words).
_INFORMATIONAL: dict[str, tuple[Status, Severity, str, str]] = {
    "FLAPPINGSTART": (Status.firing, Severity.low, ":flapping", "started flapping"),
    "FLAPPINGSTOP": (Status.resolved, Severity.info, ":flapping", "stopped flapping"),
    "FLAPPINGDISABLED": (Status.resolved, Severity.info, ":flapping", "flap detection disabled"),
    "ACKNOWLEDGEMENT": (Status.resolved, Severity.info, ":acknowledgement", "acknowledged"),
    "DOWNTIMESTART": (Status.resolved, Severity.info, ":downtime", "scheduled downtime started"),
    "DOWNTIMEEND": (Status.resolved, Severity.info, ":downtime", "scheduled downtime ended"),
    "DOWNTIMECANCELLED": (Status.resolved, Severity.info, ":downtime", "scheduled downtime cancelled"),
    "CUSTOM": (Status.resolved, Severity.info, ":custom", "custom notification"),
}
# A macro Nagios did not know is passed through as written, e.g. $SERVICEDESC$ in a host command.
_UNEXPANDED = re.compile(r"\$[A-Z_0-9]+\$")
_FORM = "application/x-www-form-urlencoded"
_LABELS = ("host_name", "host_alias", "host_address", "host_groups", "service_desc", "notification_author")


class NagiosConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.infrastructure.nagios`."""


class NagiosSource(Source):
    """Nagios Core / XI host and service notifications posted by a notification command."""

    name: ClassVar[str] = "nagios"
    group: ClassVar[str] = "infrastructure"
    config_model: ClassVar[type[SourceConfig]] = NagiosConfig
    auth_scheme: ClassVar[str] = "shared token in X-Guardian-Token (configurable), or Authorization Bearer/Basic"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as NagiosConfig; any other model is a wiring mistake."""
        if not isinstance(config, NagiosConfig):
            raise TypeError(f"NagiosSource needs a NagiosConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret in the token header or Authorization when one is configured."""
        if self.secret is not None:
            require_token_or_authorization(self.secret, headers, self.settings.token_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The token header the notification command sends."""
        return {} if self.secret is None else {self.settings.token_header: self.secret}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one notification into one event."""
        if (headers.get("content-type") or "").strip().lower().startswith(_FORM):
            fields = _form(body)
        else:
            fields = _strings(load_json_object(body))
        kind = fields.get("notification_type", "").upper()
        host = fields.get("host_name")
        if not kind or not host:
            missing = " and ".join(name for name in ("notification_type", "host_name") if not fields.get(name))
            raise PayloadInvalid(f"not a Nagios notification: no {missing} (see docs/sources/nagios.md)")
        return [_event(fields, kind, host)]


def _event(fields: Mapping[str, str], kind: str, host: str) -> NormalizedEvent:
    service = fields.get("service_desc")
    state = ((fields.get("service_state") if service else fields.get("host_state")) or "").upper()
    subject = f"{service} on {host}" if service else f"Host {host}"
    key = f"nagios:{host}/{service}" if service else f"nagios:{host}"
    if kind in _INFORMATIONAL:
        status, severity, suffix, words = _INFORMATIONAL[kind]
        key += suffix
        title = f"{subject} {words}"
    else:
        if kind == "RECOVERY" or state in _OK_STATES:
            status, severity = Status.resolved, Severity.info
        else:
            states = _SERVICE_STATES if service else _HOST_STATES
            status, severity = Status.firing, states.get(state, Severity.medium)
        title = f"{subject} is {state}" if state else f"{subject}: {kind.lower()}"
    output = fields.get("service_output") if service else fields.get("host_output")
    message = "\n".join(
        part
        for part in (
            output,
            fields.get("long_service_output") if service else None,
            _comment(fields),
        )
        if part
    )
    labels = {name: fields[name] for name in _LABELS if name in fields}
    if state:
        labels["state"] = state
    extra = {name: fields[name] for name in ("long_date_time", "notification_comment") if name in fields}
    return NormalizedEvent(
        source=NagiosSource.name,
        kind=kind.lower(),
        status=status,
        severity=severity,
        title=title,
        message=message,
        service=host,
        environment=fields.get("environment"),
        grouping_key=key,
        labels=labels,
        links=_links(fields.get("nagios_url"), host, service),
        occurred_at=parse_time(fields.get("timestamp")),
        extra=extra,
    )


def _comment(fields: Mapping[str, str]) -> str | None:
    comment = fields.get("notification_comment")
    if not comment:
        return None
    author = fields.get("notification_author")
    return f"{author}: {comment}" if author else comment


def _links(base: str | None, host: str, service: str | None) -> list[Link]:
    """The Nagios CGI page of the host or service, when `nagios_url` (e.g. https://nagios/nagios) is sent."""
    if not base:
        return []
    page = f"{base.rstrip('/')}/cgi-bin/extinfo.cgi?type=1&host={quote(host, safe='')}"
    if service:
        page = f"{base.rstrip('/')}/cgi-bin/extinfo.cgi?type=2&host={quote(host, safe='')}"
        page += f"&service={quote(service, safe='')}"
    link = http_link("Nagios", page)
    return [link] if link else []


def _form(body: bytes) -> dict[str, str]:
    """Fields of a form-encoded body, the first value of each name, blank and unexpanded ones dropped."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=200, errors="strict")
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(f"form body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        raise PayloadMalformed(f"form body is not usable: {exc}") from None
    fields: dict[str, str] = {}
    for name, item in pairs:
        if name not in fields and (clean := _clean(item)):
            fields[name] = clean
    return fields


def _strings(payload: Mapping[str, Any]) -> dict[str, str]:
    """The text (and plain integer) fields of a JSON body, blank and unexpanded ones dropped."""
    fields: dict[str, str] = {}
    for name, item in payload.items():
        if isinstance(item, int) and not isinstance(item, bool) and -(2**63) <= item < 2**63:
            item = str(item)
        if isinstance(item, str) and (clean := _clean(item)):
            fields[name] = clean
    return fields


def _clean(item: str) -> str | None:
    item = item.strip()
    if not item or _UNEXPANDED.fullmatch(item):
        return None
    return item
