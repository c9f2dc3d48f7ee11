"""PRTG Network Monitor "Execute HTTP Action" notifications: one event per sensor state change.

PRTG posts whatever the notification template's Postdata says, with its placeholders filled in.
docs/sources/prtg.md gives a one-line JSON Postdata with the keys read here: `sensorid`
(%sensorid), `sensor`, `device`, `deviceid`, `group`, `probe`, `host`, `status` (%status),
`laststatus`, `down`, `message`, `lastvalue`, `datetime`, `priority`, `linksensor`, `linkdevice`.
Keys are read case-insensitively. The body may arrive as JSON, as percent-encoded JSON (PRTG
labels it form-encoded whatever it holds) or as `key=value&...` form fields. A body whose
`status` or `sensor` is still a literal placeholder (`%status`) is PRTG's "Test notification"
and gives no event. Event kind: `sensor_state`.

Authentication: PRTG signs nothing. When `webhook_secret_env` is set the request must carry the
secret in `token_header` (default `X-Guardian-Token`), or as the password of Basic credentials
(or a bearer token) in `Authorization`.

`status` is matched by its start (`Paused (paused by user)` is Paused); a notification for a
state that ended, such as `Down ended (now: Up)`, is read as its new state.

| %status                 | Severity | Status   | grouping key         |
|-------------------------|----------|----------|----------------------|
| Down                    | critical | firing   | prtg:<sensorid>      |
| Down (Partial)          | high     | firing   | prtg:<sensorid>      |
| Warning                 | medium   | firing   | prtg:<sensorid>      |
| Unusual                 | low      | firing   | prtg:<sensorid>      |
| Unknown                 | low      | firing   | prtg:<sensorid>      |
| any other value         | medium   | firing   | prtg:<sensorid>      |
| Up                      | info     | resolved | prtg:<sensorid>      |
| Down (Acknowledged)     | info     | resolved | prtg:<sensorid>:acknowledgement |
| Paused ...              | info     | resolved | prtg:<sensorid>:paused |

Priority: a sensor with the top priority (`*****`, or 5) raises the severity of a firing event
one level (Warning becomes high, Down (Partial) critical); other priorities change nothing.
Acknowledgements and pauses get their own key so they are recorded without closing the sensor's
problem. Without a sensor id the key is `prtg:<device>/<sensor>`.

Vendor docs: https://www.paessler.com/manuals/prtg/notification_templates (Execute HTTP Action)
and https://www.paessler.com/manuals/prtg/list_of_placeholders_for_notifications
Fixtures: tests/sources/payloads/prtg/*.json (PRTG has no fixed body to capture).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote_plus

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import http_link, parse_time
from liberation_guardian.sources._signatures import TokenHeaderConfig, require_token_or_authorization
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

# (prefix of the lower-cased state, status, severity, grouping key suffix), first match wins.
_STATES: tuple[tuple[str, Status, Severity, str], ...] = (
    ("down (acknowledged)", Status.resolved, Severity.info, ":acknowledgement"),
    ("down (partial)", Status.firing, Severity.high, ""),
    ("down", Status.firing, Severity.critical, ""),
    ("warning", Status.firing, Severity.medium, ""),
    ("unusual", Status.firing, Severity.low, ""),
    ("unknown", Status.firing, Severity.low, ""),
    ("up", Status.resolved, Severity.info, ""),
    ("paused", Status.resolved, Severity.info, ":paused"),
)
_RAISED = {
    Severity.low: Severity.medium,
    Severity.medium: Severity.high,
    Severity.high: Severity.critical,
    Severity.critical: Severity.critical,
}
_NOW = re.compile(r"\(now:\s*([^)]*)\)", re.I)
# PRTG leaves a placeholder it does not know, and all of them in a test notification, as written.
_PLACEHOLDER = re.compile(r"%[a-z_]+", re.I)
_LABELS = ("sensorid", "sensor", "device", "deviceid", "group", "probe", "host", "priority", "status")


class PrtgConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.infrastructure.prtg`."""


class PrtgSource(Source):
    """PRTG "Execute HTTP Action" notifications built from the documented Postdata."""

    name: ClassVar[str] = "prtg"
    group: ClassVar[str] = "infrastructure"
    config_model: ClassVar[type[SourceConfig]] = PrtgConfig
    auth_scheme: ClassVar[str] = "shared token in X-Guardian-Token (configurable), or Authorization Basic/Bearer"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as PrtgConfig; any other model is a wiring mistake."""
        if not isinstance(config, PrtgConfig):
            raise TypeError(f"PrtgSource needs a PrtgConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret in the token header or Authorization when one is configured."""
        if self.secret is not None:
            require_token_or_authorization(self.secret, headers, self.settings.token_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The token header a PRTG template (or the proxy in front of it) would send."""
        return {} if self.secret is None else {self.settings.token_header: self.secret}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one notification into one event, or none for PRTG's test notification."""
        raw = {str(key).lower(): item for key, item in _decode(body).items()}
        if any(
            isinstance(raw.get(key), str) and _PLACEHOLDER.fullmatch(raw[key].strip()) for key in ("status", "sensor")
        ):
            return []
        fields = {key: found for key, item in raw.items() if (found := _clean(item))}
        if "status" not in fields or not ({"sensorid", "sensor"} & fields.keys()):
            raise PayloadInvalid(
                "not a PRTG notification: it needs `status` and `sensorid` or `sensor` "
                "(see the Postdata in docs/sources/prtg.md)"
            )
        return [_event(fields)]


def _event(fields: Mapping[str, str]) -> NormalizedEvent:
    status_text = fields["status"]
    status, severity, suffix = _state(status_text)
    stars = _stars(fields.get("priority"))
    if status is Status.firing and stars == 5:
        severity = _RAISED[severity]
    sensor, device, sensor_id = fields.get("sensor"), fields.get("device"), fields.get("sensorid")
    identity = sensor_id or f"{device or ''}/{sensor or ''}"
    subject = sensor or f"sensor {sensor_id}"
    if device:
        subject = f"{subject} on {device}"
    links: list[Link] = []
    for title, key in (("PRTG sensor", "linksensor"), ("PRTG device", "linkdevice")):
        link = http_link(title, fields.get(key))
        if link is not None and link.url not in {known.url for known in links}:
            links.append(link)
    return NormalizedEvent(
        source=PrtgSource.name,
        kind="sensor_state",
        status=status,
        severity=severity,
        title=f"{subject} is {status_text}",
        message=fields.get("message") or fields.get("down") or "",
        service=device,
        grouping_key=f"prtg:{identity}{suffix}",
        labels={key: fields[key] for key in _LABELS if key in fields},
        links=links,
        occurred_at=parse_time(fields.get("datetime")),
        extra={key: fields[key] for key in ("datetime", "lastvalue", "laststatus", "down") if key in fields},
    )


def _state(status_text: str) -> tuple[Status, Severity, str]:
    """Status, severity and key suffix for a %status value."""
    state = status_text.strip().lower()
    if now := _NOW.search(state):
        state = now.group(1).strip()
    for prefix, status, severity, suffix in _STATES:
        if state.startswith(prefix):
            return status, severity, suffix
    return Status.firing, Severity.medium, ""


def _stars(priority: str | None) -> int | None:
    """The sensor priority 1-5 from %priority, written as digits or as stars."""
    if not priority:
        return None
    digits = [char for char in priority if char.isdigit()]
    if digits:
        return int(digits[0]) if digits[0] in "12345" else None
    stars = priority.count("*") or priority.count("\u2605")
    return stars if 1 <= stars <= 5 else None


def _decode(body: bytes) -> Mapping[str, Any]:
    """The body as a mapping: JSON, percent-encoded JSON, or form fields."""
    start = body.lstrip()[:3]
    if start[:1] in (b"{", b"["):
        return load_json_object(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    if start.upper() == b"%7B":
        return load_json_object(unquote_plus(text).encode("utf-8"))
    if "=" not in text:
        raise PayloadMalformed("body is neither JSON nor form fields (key=value&...)")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=200)
    except ValueError as exc:
        raise PayloadMalformed(f"form body is not usable: {exc}") from None
    fields: dict[str, str] = {}
    for key, item in pairs:
        fields.setdefault(key, item)
    return fields


def _clean(item: object) -> str | None:
    """Stripped text (or a plain integer as text); None for blanks and placeholders PRTG left unfilled."""
    if isinstance(item, int) and not isinstance(item, bool) and -(2**63) <= item < 2**63:
        item = str(item)
    if not isinstance(item, str):
        return None
    item = item.strip()
    if not item or _PLACEHOLDER.fullmatch(item):
        return None
    return item
