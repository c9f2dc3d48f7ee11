"""Grafana alert notifications: the unified-alerting webhook contact point and legacy alerting.

Event kinds:

- `alert`: one per entry of `alerts` in the unified-alerting (Grafana 8+) webhook body, which is
  Alertmanager's webhook body plus `orgId`, `state`, `title`, `message` and, per alert,
  `silenceURL`, `dashboardURL`, `panelURL`, `imageURL`, `values` and `valueString`. Bodies in
  plain Alertmanager format (Grafana's built-in Alertmanager, OnCall's legacy example) read
  the same way.
- `legacy_alert`: the legacy (Grafana 7 and older) alerting webhook body, one object per rule
  with `ruleId`, `ruleName`, `ruleUrl`, `state`, `evalMatches`, `tags`, `title` and `message`.

Signature, when `webhook_secret_env` is set:

- `auth: hmac` (default): hex HMAC-SHA256 in `signature_header` (default
  `X-Grafana-Alerting-Signature`, Grafana 12+). With `timestamp_header` set, the signed
  message is `<timestamp>:<body>` (timestamp in Unix seconds) and timestamps further than
  `max_skew_seconds` from now are refused, so a captured request cannot be replayed later.
- `auth: bearer`: `Authorization: Bearer <secret>` (or Basic with the secret as password),
  from the contact point's authorization or basic-auth settings.

Severity: a `severity` label (or legacy tag) wins, read as in the Alertmanager source
(critical/page/emergency, error/high/major, warning/warn/medium, low/minor,
info/informational/none). Without one:

| Grafana alert                                        | Severity | Status   |
|------------------------------------------------------|----------|----------|
| unified alert, firing or resolved                    | high     | per alert|
| unified alert named DatasourceNoData/DatasourceError | medium   | per alert|
| legacy state `alerting`                              | high     | firing   |
| legacy state `no_data`                               | medium   | firing   |
| legacy state `pending`                               | low      | firing   |
| legacy state `ok` or `paused`                        | info     | resolved |
| legacy state missing or unknown                      | medium   | firing   |

An unlabelled unified alert defaults to high, not medium: Grafana only notifies once a rule's
condition has held for its pending period, so the rule author has already judged it worth
attention.

Vendor docs: https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
(legacy format: https://grafana.com/docs/grafana/v7.3/alerting/notifications/#webhook)
Fixtures: grafana/alerting-webhook-firing.json, grafana/alerting-v9-resolved.json,
grafana/legacy-alerting-firing.json
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, severity_word, string_map, text
from liberation_guardian.sources._signatures import hmac_hex, require_bearer_or_basic, require_hmac
from liberation_guardian.sources.alertmanager import alert_event, alert_list
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

# Legacy alert state -> (status, severity used when no severity tag is set).
_LEGACY_STATES: dict[str, tuple[Status, Severity]] = {
    "alerting": (Status.firing, Severity.high),
    "no_data": (Status.firing, Severity.medium),
    "pending": (Status.firing, Severity.low),
    "ok": (Status.resolved, Severity.info),
    "paused": (Status.resolved, Severity.info),
}
# Alerts Grafana raises about the data source rather than the watched system.
_DATASOURCE_ALERTS = frozenset({"DatasourceNoData", "DatasourceError"})
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class GrafanaConfig(SourceConfig):
    """Keys accepted under `integrations.observability.grafana`."""

    auth: Literal["hmac", "bearer"] = Field(
        default="hmac",
        description="How Grafana proves the secret: an HMAC signature header, or an Authorization header.",
    )
    signature_header: str = Field(
        default="X-Grafana-Alerting-Signature", min_length=1, description="Header holding the HMAC."
    )
    timestamp_header: str | None = Field(
        default=None,
        min_length=1,
        description="Header holding the signing time; when set the HMAC covers '<timestamp>:<body>'.",
    )
    max_skew_seconds: int = Field(
        default=300, gt=0, description="Refuse signed timestamps further than this from now (replays)."
    )


class GrafanaSource(Source):
    """Grafana unified-alerting and legacy-alerting webhook notifications."""

    name: ClassVar[str] = "grafana"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = GrafanaConfig
    auth_scheme: ClassVar[str] = "HMAC-SHA256 hex in X-Grafana-Alerting-Signature (optionally timestamped), or bearer"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as GrafanaConfig; any other model is a wiring mistake."""
        if not isinstance(config, GrafanaConfig):
            raise TypeError(f"GrafanaSource needs a GrafanaConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check the HMAC (and timestamp) or the Authorization header when a secret is configured."""
        secret = self.secret
        if secret is None:
            return
        settings = self.settings
        if settings.auth == "bearer":
            require_bearer_or_basic(secret, headers.get("authorization"))
            return
        signature = headers.get(settings.signature_header.lower())
        if settings.timestamp_header is None:
            require_hmac(secret, body, signature, header=settings.signature_header)
            return
        stamp = (headers.get(settings.timestamp_header.lower()) or "").strip()
        if not stamp:
            raise Unauthorized(f"missing timestamp header {settings.timestamp_header}")
        if not _UNIX_SECONDS.fullmatch(stamp):
            raise Unauthorized(f"timestamp header {settings.timestamp_header} is not a Unix time in seconds")
        require_hmac(secret, stamp.encode() + b":" + body, signature, header=settings.signature_header)
        skew = abs(time.time() - int(stamp))
        if skew > settings.max_skew_seconds:
            raise Unauthorized(
                f"signed timestamp is {skew:.0f}s away from now, more than max_skew_seconds "
                f"({settings.max_skew_seconds}); refused as a possible replay"
            )

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers Grafana's contact point would send for `body` with the configured auth."""
        secret, settings = self.secret, self.settings
        if secret is None:
            return {}
        if settings.auth == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if settings.timestamp_header is None:
            return {settings.signature_header: hmac_hex(secret, body)}
        stamp = str(int(time.time()))
        return {
            settings.timestamp_header: stamp,
            settings.signature_header: hmac_hex(secret, stamp.encode() + b":" + body),
        }

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn a unified-alerting body into one event per alert, or a legacy body into one event."""
        payload = load_json_object(body)
        if "alerts" in payload:
            return [self._unified(alert, payload) for alert in alert_list(payload, tool="Grafana")]
        if "ruleName" in payload or "ruleId" in payload:
            return [self._legacy(payload)]
        raise PayloadInvalid(
            "not a Grafana alert payload: no `alerts` list (unified alerting) "
            "and no `ruleName` or `ruleId` (legacy alerting)"
        )

    def _unified(self, alert: Mapping[str, Any], payload: Mapping[str, Any]) -> NormalizedEvent:
        labels = string_map(alert.get("labels"))
        default = Severity.medium if labels.get("alertname") in _DATASOURCE_ALERTS else Severity.high
        event = alert_event(
            alert,
            payload,
            source=self.name,
            key_prefix="grafana:",
            # Plain Alertmanager-format bodies (no orgId) point externalURL at an Alertmanager.
            external_title="Grafana" if "orgId" in payload else "Alertmanager",
            default_severity=default,
        )
        extra_links = [
            link
            for link in (
                http_link("Silence", alert.get("silenceURL")),
                http_link("Dashboard", alert.get("dashboardURL")),
                http_link("Panel", alert.get("panelURL")),
                http_link("Panel image", alert.get("imageURL")),
            )
            if link is not None
        ]
        extra = dict(event.extra)
        value_string = text(alert.get("valueString"))
        if value_string:
            extra["value_string"] = value_string
        values = _numbers(alert.get("values"))
        if values:
            extra["values"] = values
        # No description annotation: the evaluated values are the best summary Grafana sent.
        message = event.message or value_string or ""
        return event.model_copy(update={"links": event.links + extra_links, "extra": extra, "message": message})

    def _legacy(self, payload: Mapping[str, Any]) -> NormalizedEvent:
        state = (text(payload.get("state")) or "").strip().lower()
        status, default = _LEGACY_STATES.get(state, (Status.firing, Severity.medium))
        tags = string_map(payload.get("tags"))
        rule = _rule_identity(payload)
        links: list[Link] = [
            link
            for link in (
                http_link("Grafana rule", payload.get("ruleUrl")),
                http_link("Panel image", payload.get("imageUrl")),
            )
            if link is not None
        ]
        extra: dict[str, Any] = {"state": state} if state else {}
        matches = _eval_matches(payload.get("evalMatches"))
        if matches:
            extra["eval_matches"] = matches
        return NormalizedEvent(
            source=self.name,
            kind="legacy_alert",
            status=status,
            severity=severity_word(tags.get("severity")) or default,
            title=first_text(payload.get("ruleName"), payload.get("title")) or f"Grafana alert rule {rule}",
            message=text(payload.get("message")) or "; ".join(matches),
            service=first_text(tags.get("service"), tags.get("job"), tags.get("app")),
            environment=first_text(tags.get("env"), tags.get("environment")),
            grouping_key=f"grafana:legacy:{rule}",
            labels=tags,
            links=links,
            extra=extra,
        )


def _rule_identity(payload: Mapping[str, Any]) -> str:
    """`<orgId>:<ruleId>` (or the rule name when the id is missing), stable across a rule's notifications."""
    org = _plain_id(payload.get("orgId")) or "0"
    rule = _plain_id(payload.get("ruleId")) or text(payload.get("ruleName")) or "unknown"
    return f"{org}:{rule}"


def _plain_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return str(value)
    return text(value)


def _numbers(value: object) -> dict[str, float]:
    """The finite numeric entries of a JSON object, such as unified alerting's `values`."""
    if not isinstance(value, dict):
        return {}
    return {
        key: float(item)
        for key, item in value.items()
        if isinstance(item, int | float) and not isinstance(item, bool) and abs(item) < 1e300
    }


def _eval_matches(value: object) -> list[str]:
    """Legacy `evalMatches` as `metric=value` strings."""
    if not isinstance(value, list):
        return []
    matches = []
    for match in value:
        if not isinstance(match, dict):
            continue
        metric = text(match.get("metric")) or "value"
        number = match.get("value")
        if isinstance(number, int | float) and not isinstance(number, bool) and abs(number) < 1e300:
            matches.append(f"{metric}={number:g}")
    return matches
