"""Prometheus Alertmanager webhooks (`webhook_config`, payload version 4): one event per alert.

Event kinds: `alert`, one for every entry of the payload's `alerts` list, firing or resolved
on its own `status` (a notification can carry both).

Signature: Alertmanager signs nothing. When `webhook_secret_env` is set, the request must
carry the secret in `Authorization`, either as a bearer token or as the password of Basic
credentials; the receiver's `http_config` (`authorization` or `basic_auth`) sends it.

Severity comes from the `severity` label, compared case-insensitively:

| `severity` label               | Severity |
|--------------------------------|----------|
| critical, page, emergency      | critical |
| error, high, major             | high     |
| warning, warn, medium          | medium   |
| low, minor                     | low      |
| info, informational, none      | info     |
| missing or any other value     | medium   |

Vendor docs: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
Fixtures: alertmanager/firing-2-alerts.json, alertmanager/firing-grouped.json

The helpers here are also used by the Grafana source, whose unified-alerting payload is
Alertmanager's with a few fields added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import (
    first_text,
    http_link,
    parse_status,
    parse_time,
    severity_word,
    string_map,
    text,
)
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object


class AlertmanagerConfig(SourceConfig):
    """Keys accepted under `integrations.observability.alertmanager` (or `prometheus`)."""

    scrape_url: str | None = Field(
        default=None,
        description="Prometheus base URL to query for context; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )
    alert_webhook_port: int | None = Field(
        default=None,
        description="Separate port for Alertmanager webhooks; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )


class AlertmanagerSource(Source):
    """Prometheus Alertmanager `webhook_config` notifications."""

    name: ClassVar[str] = "alertmanager"
    group: ClassVar[str] = "observability"
    aliases: ClassVar[tuple[str, ...]] = ("prometheus",)
    config_model: ClassVar[type[SourceConfig]] = AlertmanagerConfig
    auth_scheme: ClassVar[str] = "Authorization: Bearer <secret> or Basic with the secret as password"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as bearer token or Basic password when one is configured."""
        if self.secret is None:
            return
        require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The bearer `Authorization` header an `http_config.authorization` block would send."""
        return {} if self.secret is None else {"Authorization": f"Bearer {self.secret}"}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn each entry of `alerts` into one event."""
        payload = load_json_object(body)
        return [
            alert_event(
                alert,
                payload,
                source=self.name,
                key_prefix="alertmanager:",
                external_title="Alertmanager",
                default_severity=Severity.medium,
            )
            for alert in alert_list(payload, tool="Alertmanager")
        ]


def alert_list(payload: Mapping[str, Any], *, tool: str) -> list[Mapping[str, Any]]:
    """Return the payload's `alerts`, raising `PayloadInvalid` unless it is a list of objects."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadInvalid(f"body has no `alerts` list, which every {tool} webhook carries")
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadInvalid(f"alerts[{index}] is not a JSON object")
    return alerts


def alert_event(
    alert: Mapping[str, Any],
    payload: Mapping[str, Any],
    *,
    source: str,
    key_prefix: str,
    external_title: str,
    default_severity: Severity,
    kind: str = "alert",
) -> NormalizedEvent:
    """Build the event for one Alertmanager-format alert of `payload`."""
    labels = string_map(alert.get("labels"))
    annotations = string_map(alert.get("annotations"))
    alertname = labels.get("alertname")
    status = parse_status(alert.get("status")) or parse_status(payload.get("status")) or Status.firing
    occurred = parse_time(alert.get("startsAt"))
    if status is Status.resolved:
        occurred = parse_time(alert.get("endsAt")) or occurred
    links = [
        link
        for link in (
            http_link("Alert source", alert.get("generatorURL")),
            http_link("Runbook", annotations.get("runbook_url")),
            http_link(external_title, payload.get("externalURL")),
        )
        if link is not None
    ]
    extra: dict[str, Any] = {"annotations": annotations}
    for key in ("receiver", "groupKey"):
        if value := text(payload.get(key)):
            extra[key] = value
    return NormalizedEvent(
        source=source,
        kind=kind,
        status=status,
        severity=severity_word(labels.get("severity")) or default_severity,
        title=first_text(annotations.get("summary"), annotations.get("title"), alertname) or "Unnamed alert",
        message=first_text(annotations.get("description"), annotations.get("message")) or "",
        service=first_text(labels.get("service"), labels.get("job"), labels.get("app")),
        environment=first_text(labels.get("env"), labels.get("environment")),
        grouping_key=key_prefix + alert_identity(alert, labels),
        labels=labels,
        links=links,
        occurred_at=occurred,
        extra=extra,
    )


def alert_identity(alert: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The alert's fingerprint, or alertname plus its sorted label set when it has none."""
    if fingerprint := text(alert.get("fingerprint")):
        return fingerprint
    pairs = ",".join(f"{key}={labels[key]}" for key in sorted(labels))
    return f"{labels.get('alertname', '')}{{{pairs}}}"
