"""Kibana (Elastic Stack) alerting rules through the Webhook connector.

Kibana's Webhook connector posts whatever body the rule action's template renders from its
Mustache variables, so this source reads the body shape documented in docs/sources/elastic.md,
built from Kibana's own action variables (`rule.*`, `alert.*`, `context.*`, `alerts.*`, `date`,
`kibanaBaseUrl`). Keys may also arrive flattened (`"rule.id": ...`). Event kinds:

- `alert`: an action that runs for each alert (`alert` object: `alert.id`, `alert.actionGroup`,
  ...): one event; resolved when the action group is `recovered`.
- `alert`, from a summary action: one event per alert document in `alerts.new.data`,
  `alerts.ongoing.data` and `alerts.recovered.data` (stack and observability rules) or in
  `context.alerts` (Elastic Security detection rules); resolved for recovered documents and
  documents whose `kibana.alert.status` is `recovered`.
- `alert_summary`: a summary action that sends only the counts (`alerts.new.count`, ...): one
  event for the rule, firing while new or ongoing alerts exist, resolved otherwise.
- `rule`: a body with the rule but neither alert nor summary variables: one firing event.

Signature: Kibana signs nothing. When `webhook_secret_env` is set the request must carry the
secret in `Authorization`: as the password of the connector's Basic authentication, or as a
bearer token set in the connector's headers.

Severity, first found of: a top-level `severity` set in the template; the alert's
`kibana.alert.severity` / `kibana.alert.rule.severity` or `context.rule.severity` (Security);
the last part of the action group id (`metrics.threshold.warning` → warning) or its name
(SLO burn rate "Critical"), each read as a severity word:

| value (any case)                           | Severity |
|--------------------------------------------|----------|
| critical, page, emergency                  | critical |
| error, high, major                         | high     |
| warning, warn, medium                      | medium   |
| low, minor                                 | low      |
| info, informational, none                  | info     |
| recovered alert                            | info     |
| none of the above, firing                  | high (Kibana only acts once the rule's condition is met) |

Grouping key: `elastic:<rule id>:<alert id>` (`alert.id`, or `kibana.alert.instance.id` of an
alert document), the same for an alert's firing and recovered actions; Security alerts, one
per matching source event, are grouped per rule and `host.name` (`elastic:<rule id>:host:<name>`);
`elastic:<rule id>` for rule-level events.

Vendor docs: https://www.elastic.co/guide/en/kibana/current/rule-action-variables.html,
https://www.elastic.co/guide/en/kibana/current/webhook-action-type.html
Fixtures (no shared ones; rendered from the documented templates, see
tests/sources/payloads/elastic/SOURCES.md): per-alert-fired.json, per-alert-recovered.json,
per-alert-es-query.json, summary-alerts.json, summary-counts.json, security-summary.json.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import parse_time, severity_word, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

# Alert ids Kibana gives the single alert of a rule that does not group its alerts.
_UNGROUPED = frozenset({"query matched", "all documents", "*", "default"})
_SUMMARY_LISTS = (("new", False), ("ongoing", False), ("recovered", True))

Payload = Mapping[str, Any]


class ElasticConfig(SourceConfig):
    """Keys accepted under `integrations.observability.elastic` (or `elk_stack`)."""

    elasticsearch_url: str | None = Field(
        default=None,
        description="Elasticsearch URL to query for related documents; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )
    index_pattern: str | None = Field(
        default=None,
        description="Index pattern to search for related log lines; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )


class ElasticSource(Source):
    """Kibana alerting rule actions sent through the Webhook connector."""

    name: ClassVar[str] = "elastic"
    group: ClassVar[str] = "observability"
    aliases: ClassVar[tuple[str, ...]] = ("elk_stack",)
    config_model: ClassVar[type[SourceConfig]] = ElasticConfig
    auth_scheme: ClassVar[str] = "Authorization: Basic with the secret as password (or Bearer <secret>)"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password or bearer token when one is configured."""
        if self.secret is not None:
            require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` header the connector's authentication settings send."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"kibana:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one rule action into one event per alert it reports."""
        payload = load_json_object(body)
        rule = _Rule.of(payload)
        documents = list(_documents(payload))
        if rule.key is None and not any(_text(doc, "kibana.alert.rule.name") for doc, _, _ in documents):
            raise PayloadInvalid(
                "not a Kibana alerting payload: no rule.id or rule.name "
                "(see docs/sources/elastic.md for the webhook body to configure)"
            )
        if _text(payload, "alert.id") or _text(payload, "alert.actionGroup"):
            return [_per_alert(payload, rule)]
        if documents:
            return [
                _document(payload, doc, rule, recovered=recovered, security=security)
                for doc, recovered, security in documents
            ]
        counts = {name: _count(_get(payload, f"alerts.{name}.count")) for name, _ in _SUMMARY_LISTS}
        if any(count is not None for count in counts.values()):
            return [_summary(payload, rule, counts)]
        return [_rule_event(payload, rule)]


@dataclass(frozen=True)
class _Rule:
    """The rule fields of a payload: `rule.*`, completed from Security's `context.rule.*`."""

    id: str | None
    name: str | None
    tags: list[str]
    space: str | None

    @classmethod
    def of(cls, payload: Payload) -> _Rule:
        return cls(
            id=_text(payload, "rule.id") or _text(payload, "context.rule.id"),
            name=_text(payload, "rule.name") or _text(payload, "context.rule.name"),
            tags=_tags(_get(payload, "rule.tags")) or _tags(_get(payload, "context.rule.tags")),
            space=_text(payload, "rule.spaceId"),
        )

    @property
    def key(self) -> str | None:
        """What identifies the rule in grouping keys: its id, else its name."""
        return self.id or self.name

    def completed(self, doc: Payload) -> _Rule:
        """This rule with the id and name an alert document carries filled in where missing."""
        return replace(
            self,
            id=self.id or _text(doc, "kibana.alert.rule.uuid"),
            name=self.name or _text(doc, "kibana.alert.rule.name"),
        )


def _per_alert(payload: Payload, rule: _Rule) -> NormalizedEvent:
    group = _text(payload, "alert.actionGroup") or ""
    group_name = _text(payload, "alert.actionGroupName")
    recovered = group.lower() == "recovered"
    alert_id = _text(payload, "alert.id")
    severity = _explicit_severity(payload)
    if severity is None:
        severity = Severity.info if recovered else _group_severity(group, group_name) or Severity.high
    extra = _scalars(
        action_group=group,
        action_group_name=group_name,
        alert_uuid=_text(payload, "alert.uuid"),
        flapping=_flag(_get(payload, "alert.flapping")),
        consecutive_matches=_text(payload, "alert.consecutiveMatches"),
        context_title=_text(payload, "context.title"),
        context_value=_text(payload, "context.value"),
    )
    return _event(
        payload,
        rule,
        kind="alert",
        resolved=recovered,
        severity=severity,
        instance=alert_id,
        message=_first(payload, "context.reason", "context.message", "context.title"),
        occurred=_time(payload, "date", "context.date", "context.timestamp"),
        extra=extra,
    )


def _document(payload: Payload, doc: Payload, rule: _Rule, *, recovered: bool, security: bool) -> NormalizedEvent:
    status = (_text(doc, "kibana.alert.status") or "").lower()
    resolved = recovered or status == "recovered"
    severity = _explicit_severity(payload)
    if severity is None and resolved:
        severity = Severity.info
    elif severity is None:
        severity = (
            severity_word(_get(doc, "kibana.alert.severity"))
            or severity_word(_get(doc, "kibana.alert.rule.severity"))
            or severity_word(_get(payload, "context.rule.severity"))
            or _group_severity(_text(doc, "kibana.alert.action_group") or "", None)
            or Severity.high
        )
    if security:
        host = _text(doc, "host.name")
        instance = f"host:{host}" if host else None
    else:
        instance = _text(doc, "kibana.alert.instance.id") or _text(doc, "kibana.alert.uuid")
    extra = _scalars(
        alert_uuid=_text(doc, "kibana.alert.uuid"),
        alert_status=status,
        workflow_status=_text(doc, "kibana.alert.workflow_status"),
        risk_score=_text(doc, "kibana.alert.risk_score") or _text(payload, "context.rule.risk_score"),
    )
    start = _time(doc, "kibana.alert.start", "@timestamp")
    return _event(
        payload,
        rule.completed(doc),
        kind="alert",
        resolved=resolved,
        severity=severity,
        instance=instance,
        message=_first(doc, "kibana.alert.reason", "message") or _first(payload, "context.rule.description"),
        occurred=(_time(doc, "kibana.alert.end") if resolved else None) or start or _time(payload, "date"),
        extra=extra,
        service=_text(doc, "service.name"),
        environment=_text(doc, "service.environment"),
        link=_get(doc, "kibana.alert.url"),
    )


def _summary(payload: Payload, rule: _Rule, counts: Mapping[str, int | None]) -> NormalizedEvent:
    active = (counts["new"] or 0) + (counts["ongoing"] or 0)
    message = ", ".join(f"{count} {name}" for name, count in counts.items() if count is not None)
    return _event(
        payload,
        rule,
        kind="alert_summary",
        resolved=active == 0,
        severity=Severity.info if active == 0 else _explicit_severity(payload) or Severity.high,
        instance=None,
        message=f"alerts: {message}",
        occurred=_time(payload, "date"),
        extra={key: value for key, value in counts.items() if value is not None},
    )


def _rule_event(payload: Payload, rule: _Rule) -> NormalizedEvent:
    return _event(
        payload,
        rule,
        kind="rule",
        resolved=False,
        severity=_explicit_severity(payload) or Severity.high,
        instance=None,
        message=_first(payload, "context.reason", "context.message", "message"),
        occurred=_time(payload, "date"),
        extra={},
    )


def _event(
    payload: Payload,
    rule: _Rule,
    *,
    kind: str,
    resolved: bool,
    severity: Severity,
    instance: str | None,
    message: str | None,
    occurred: datetime | None,
    extra: dict[str, Any],
    service: str | None = None,
    environment: str | None = None,
    link: object = None,
) -> NormalizedEvent:
    """The event shared by every payload shape, from the rule, the alert instance and the context."""
    # `key:value` tags (service:checkout, env:prod) read like labels.
    pairs = [tag.partition(":") for tag in rule.tags]
    tagged = {key.strip(): value.strip() for key, colon, value in pairs if colon and key.strip() and value.strip()}
    name = rule.name or _first(payload, "context.title") or "Kibana alert"
    grouped = instance and instance.lower() not in _UNGROUPED and instance not in (rule.id, rule.name)
    labels = {**tagged, **({"alert_id": instance} if instance else {}), **({"space": rule.space} if rule.space else {})}
    return NormalizedEvent(
        source=ElasticSource.name,
        kind=kind,
        status=Status.resolved if resolved else Status.firing,
        severity=severity,
        title=f"{name} ({instance.removeprefix('host:')})" if grouped and instance else name,
        message=message or "",
        service=_first(payload, "service", "context.serviceName") or service or tagged.get("service"),
        environment=_first(payload, "environment", "context.environment")
        or environment
        or tagged.get("env")
        or tagged.get("environment"),
        grouping_key=f"elastic:{rule.key}:{instance}" if instance else f"elastic:{rule.key}",
        labels=labels,
        links=_links(
            ("Alert", link),
            ("Alert details", _get(payload, "context.alertDetailsUrl")),
            ("View in app", _get(payload, "context.viewInAppUrl")),
            ("Matching documents", _get(payload, "context.link")),
            ("Security alerts", _get(payload, "context.results_link")),
            ("Kibana rule", _get(payload, "rule.url")),
            ("Kibana", _get(payload, "kibanaBaseUrl")),
        ),
        occurred_at=occurred,
        extra={**extra, **({"tags": rule.tags} if rule.tags else {})},
    )


def _documents(payload: Payload) -> Iterator[tuple[Payload, bool, bool]]:
    """(alert document, from the recovered list, from Security's context.alerts) for a summary body."""
    for name, recovered in _SUMMARY_LISTS:
        data = _get(payload, f"alerts.{name}.data")
        for doc in data if isinstance(data, list) else []:
            if isinstance(doc, dict):
                yield doc, recovered, False
    alerts = _get(payload, "context.alerts")
    for doc in alerts if isinstance(alerts, list) else []:
        if isinstance(doc, dict):
            yield doc, False, True


def _get(obj: object, path: str) -> object:
    """`path` in `obj`, whether the keys along it are nested objects, dotted keys, or a mix."""
    if not isinstance(obj, dict):
        return None
    if path in obj:
        return obj[path]
    parts = path.split(".")
    for cut in range(1, len(parts)):
        child = obj.get(".".join(parts[:cut]))
        if isinstance(child, dict) and (found := _get(child, ".".join(parts[cut:]))) is not None:
            return found
    return None


def _text(obj: object, path: str) -> str | None:
    """Text (or a plain number, as ids and scores can be) at `path`; Mustache renders a missing variable as ''."""
    value = _get(obj, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value) if abs(value) < 1e18 else None
    found = text(value)
    return found.strip() if found else None


def _first(obj: object, *paths: str) -> str | None:
    return next((found for path in paths if (found := _text(obj, path))), None)


def _time(obj: object, *paths: str) -> datetime | None:
    return next((found for path in paths if (found := parse_time(_get(obj, path)))), None)


def _tags(value: object) -> list[str]:
    """Rule tags, sent as a JSON list (`asJSON`) or as Mustache's comma-joined rendering."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [item.strip() for item in value if isinstance(item, str) and item.strip()]


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 2**31 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value)
    return None


def _explicit_severity(payload: Payload) -> Severity | None:
    return severity_word(_get(payload, "severity"))


def _group_severity(group: str, group_name: str | None) -> Severity | None:
    """A severity word in the action group id's last part or in its name, if there is one."""
    return severity_word(group.rsplit(".", 1)[-1]) or severity_word(group_name)


def _flag(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return text(value)


def _scalars(**values: str | None) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}
