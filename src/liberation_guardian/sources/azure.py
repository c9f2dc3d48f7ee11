"""Azure Monitor alerts from an action group webhook, in the common alert schema.

Accepted body: `{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {...},
"alertContext": {...}, "customProperties": {...}}}`, one alert per request. Action groups
without "Enable the common alert schema" send older per-signal bodies, refused with 422 and a
reason saying so.

Event kinds, from `essentials.signalType`: `metric_alert` (Metric), `log_alert` (Log),
`activity_log_alert` (Activity Log: activity log, service health, resource health), `alert`
for anything else. `essentials.monitorCondition` Fired fires it, Resolved resolves it; activity
log alerts are always "Fired", so `alertContext.status` or `properties.stage` "Resolved" (Service
and Resource Health) resolves them too.

Authentication, one of:

- shared secret: a plain action-group webhook signs nothing; with `webhook_secret_env` set the
  request must carry the secret in `Authorization` as Basic password or bearer token (added by a
  reverse proxy, as the webhook action cannot set headers).
- Entra ID: a "secure webhook" action sends `Authorization: Bearer <access token>` that Microsoft
  Entra ID issues to Azure Monitor's action group app for your app registration. With
  `entra_tenant_id` set every request must carry one: RS256 signature by a key from
  `entra_jwks_url` (the tenant's keys by default), issuer `https://sts.windows.net/<tenant>/` (v1
  tokens) or `https://login.microsoftonline.com/<tenant>/v2.0` (v2), `aud` = `entra_audience`,
  unexpired, `tid` = the tenant, the caller (`appid`, v2 `azp`) = `entra_caller_app_id`, and, if
  `entra_role` is set, that role in `roles`.

Severity from `essentials.severity`:

| Azure | Severity |
|-------|----------|
| Sev0  | critical |
| Sev1  | high     |
| Sev2  | medium   |
| Sev3  | low      |
| Sev4  | info     |
| other | `severity` (medium) |

Grouping key: `azure:<essentials.alertId>` (else `azure:<originAlertId>`); Azure repeats the
alert instance's id in its Resolved notification, so both land on one incident. Service Health
notifications get a new alert id for every update of one service issue, so they are grouped by
`azure:service_health:<properties.trackingId>` instead.

Vendor docs: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema,
https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups#secure-webhook
Fixtures: azure-monitor/common-schema-log-alert-fired.json,
azure-monitor/common-schema-metric-resolved.json, tests/sources/payloads/azure/*.json
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, string_map, text
from liberation_guardian.sources._oidc import TokenVerifier, checked_jwks_url, require_claim
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]
COMMON_SCHEMA = "azureMonitorCommonAlertSchema"
# The first-party "AzNS AAD Webhook" app that action groups request secure-webhook tokens as.
ACTION_GROUP_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"
_ENTRA_KEYS = {"entra_tenant_id", "entra_audience", "entra_jwks_url", "entra_caller_app_id", "entra_role"}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SEVERITIES = {
    "sev0": Severity.critical,
    "sev1": Severity.high,
    "sev2": Severity.medium,
    "sev3": Severity.low,
    "sev4": Severity.info,
}
_KINDS = {
    "metric": "metric_alert",
    "log": "log_alert",
    "activity log": "activity_log_alert",
    "activitylog": "activity_log_alert",
}
_UI_LINKS = (
    ("linkToFilteredSearchResultsUI", "Log search results (filtered)"),
    ("linkToSearchResultsUI", "Log search results"),
    ("LinkToFilteredSearchResultsUI", "Log search results (filtered)"),
    ("LinkToSearchResults", "Log search results"),
)


class AzureConfig(SourceConfig):
    """Keys accepted under `integrations.infrastructure.azure` (or `azure-monitor`)."""

    severity: Severity = Field(
        default=Severity.medium, description="Severity of alerts whose severity is missing or not Sev0..Sev4."
    )
    entra_tenant_id: str | None = Field(
        default=None,
        description=(
            "Directory (tenant) ID (a GUID) of the Entra app registration the secure webhook uses; "
            "when set, every request must carry an Entra ID token."
        ),
    )
    entra_audience: str | None = Field(
        default=None,
        description=(
            "Audience of the tokens: the app's Application ID URI (v1 tokens) or its Application (client) ID "
            "(v2 tokens); required with entra_tenant_id."
        ),
    )
    entra_jwks_url: str | None = Field(
        default=None,
        description=(
            "Where the tenant's token signing keys (JWKS) are published; "
            "default https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys."
        ),
    )
    entra_caller_app_id: str = Field(
        default=ACTION_GROUP_APP_ID,
        description="Application ID tokens must name as caller (appid, v2: azp): Azure Monitor's action group app.",
    )
    entra_role: str | None = Field(
        default=None,
        description="App role the token's roles must include (e.g. ActionGroupsSecureWebhook); unset skips the check.",
    )

    @field_validator("entra_tenant_id", "entra_caller_app_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is not None and not _GUID.fullmatch(value.strip()):
            raise ValueError("must be a GUID such as aaaabbbb-0000-cccc-1111-dddd2222eeee (not a domain name)")
        return value.strip().lower() if value is not None else None

    @field_validator("entra_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return checked_jwks_url(value) if value is not None else None

    @model_validator(mode="after")
    def _entra_complete(self) -> AzureConfig:
        entra_keys = _ENTRA_KEYS & self.model_fields_set
        if not entra_keys:
            return self
        if not self.entra_tenant_id or not self.entra_audience:
            missing = "entra_tenant_id" if not self.entra_tenant_id else "entra_audience"
            raise ValueError(
                f"{missing} is required when {', '.join(sorted(entra_keys))} is set: "
                "Entra ID tokens are checked against both the tenant and the audience"
            )
        if self.webhook_secret_env:
            raise ValueError(
                "webhook_secret_env and entra_tenant_id cannot both be set: a secure webhook's only credential "
                "is its Entra ID token; use one source per authentication method"
            )
        return self

    def keys_url(self) -> str:
        """`entra_jwks_url`, or the tenant's published signing keys."""
        return self.entra_jwks_url or f"https://login.microsoftonline.com/{self.entra_tenant_id}/discovery/v2.0/keys"


class AzureSource(Source):
    """Azure Monitor action-group webhooks in the common alert schema."""

    name: ClassVar[str] = "azure"
    group: ClassVar[str] = "infrastructure"
    aliases: ClassVar[tuple[str, ...]] = ("azure-monitor",)
    config_model: ClassVar[type[SourceConfig]] = AzureConfig
    calls_out: ClassVar[bool] = True  # fetches Entra ID's signing keys when entra_tenant_id is set
    auth_scheme: ClassVar[str] = (
        "Authorization: Basic with the secret as password, or Bearer <secret>; "
        "or a Microsoft Entra ID bearer token (secure webhook)"
    )

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        super().__init__(config, secrets)
        self.settings = config if isinstance(config, AzureConfig) else AzureConfig()
        self.tokens: TokenVerifier | None = None
        tenant = self.settings.entra_tenant_id
        if tenant and self.settings.entra_audience:
            self.tokens = TokenVerifier(
                self.settings.keys_url(),
                audience=self.settings.entra_audience,
                issuers=(f"https://sts.windows.net/{tenant}/", f"https://login.microsoftonline.com/{tenant}/v2.0"),
                audience_setting="entra_audience",
            )

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require an Entra ID token when `entra_tenant_id` is set, else the secret when one is configured."""
        if self.tokens is not None:
            self._require_entra_token(headers.get("authorization"))
        elif self.secret is not None:
            require_bearer_or_basic(self.secret, headers.get("authorization"))

    def _require_entra_token(self, authorization: str | None) -> None:
        assert self.tokens is not None and self.settings.entra_tenant_id is not None
        claims = self.tokens.claims(authorization)
        require_claim(claims, "tid", self.settings.entra_tenant_id, setting="entra_tenant_id")
        # v1 access tokens name the calling app in `appid`, v2 tokens in `azp`.
        caller = "appid" if "appid" in claims else "azp"
        require_claim(claims, caller, self.settings.entra_caller_app_id, setting="entra_caller_app_id")
        role = self.settings.entra_role
        roles = claims.get("roles")
        if role and not (isinstance(roles, list) and role in roles):
            raise Unauthorized(f"bearer token roles {roles!r} do not include the configured entra_role")

    def sign(self, body: bytes) -> dict[str, str]:
        """Basic `Authorization` with the secret as password, as credentials in the webhook URI produce."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"azure:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one common-schema alert into one event."""
        payload = load_json_object(body)
        data = payload.get("data")
        essentials = data.get("essentials") if isinstance(data, dict) else None
        if not isinstance(essentials, dict) or not isinstance(data, dict):
            schema = text(payload.get("schemaId"))
            if schema and schema != COMMON_SCHEMA:
                raise PayloadInvalid(
                    f"schemaId {schema!r} is not the common alert schema; enable it on the action group"
                )
            raise PayloadInvalid("not an Azure Monitor common-schema alert: no `data.essentials` object")
        default = self.settings.severity
        return [_alert_event(essentials, data, default)]


def _alert_event(essentials: Payload, data: Payload, default: Severity) -> NormalizedEvent:
    context = _object(data.get("alertContext"))
    custom = string_map(data.get("customProperties"))
    properties = string_map(context.get("properties"))
    criteria = _criteria(context)
    # Activity log alerts are stateless (always Fired); Service and Resource Health say "Resolved" in the context.
    resolved = any(
        (text(value) or "").strip().lower() == "resolved"
        for value in (essentials.get("monitorCondition"), context.get("status"), properties.get("stage"))
    )
    signal = text(essentials.get("signalType"))
    tracking = properties.get("trackingId")
    alert_id = first_text(essentials.get("alertId"), essentials.get("originAlertId"))
    labels = {
        **_dimensions(criteria),
        **properties,
        **custom,
        **_present(
            alert_rule=text(essentials.get("alertRule")),
            signal_type=signal,
            monitoring_service=text(essentials.get("monitoringService")),
            monitor_condition=text(essentials.get("monitorCondition")),
            azure_severity=text(essentials.get("severity")),
            target_resource_type=text(essentials.get("targetResourceType")),
            target_resource_group=text(essentials.get("targetResourceGroup")),
        ),
    }
    fired = parse_time(essentials.get("firedDateTime"))
    return NormalizedEvent(
        source=AzureSource.name,
        kind=_KINDS.get((signal or "").strip().lower(), "alert"),
        status=Status.resolved if resolved else Status.firing,
        severity=_SEVERITIES.get((text(essentials.get("severity")) or "").strip().lower(), default),
        title=first_text(essentials.get("alertRule"), properties.get("title")) or "Azure Monitor alert",
        message=first_text(essentials.get("description"), _condition_summary(criteria), properties.get("title")) or "",
        service=first_text(
            custom.get("service"), properties.get("service"), *_texts(essentials.get("configurationItems"))
        ),
        environment=first_text(
            custom.get("environment"), custom.get("env"), properties.get("environment"), properties.get("env")
        ),
        grouping_key=f"azure:service_health:{tracking}" if tracking else (f"azure:{alert_id}" if alert_id else None),
        labels=labels,
        links=_links(essentials, context, criteria),
        occurred_at=(parse_time(essentials.get("resolvedDateTime")) if resolved else None) or fired,
        extra=_present(
            alert_id=text(essentials.get("alertId")),
            origin_alert_id=text(essentials.get("originAlertId")),
            alert_rule_id=first_text(essentials.get("alertRuleID"), essentials.get("alertRuleId")),
            condition_type=text(context.get("conditionType")),
            targets=", ".join(_texts(essentials.get("alertTargetIDs"))),
        ),
    )


def _criteria(context: Payload) -> list[Payload]:
    """The `condition.allOf` criteria of metric and log alerts (objects only)."""
    criteria = _object(context.get("condition")).get("allOf")
    return [item for item in criteria if isinstance(item, dict)] if isinstance(criteria, list) else []


def _dimensions(criteria: list[Payload]) -> dict[str, str]:
    found: dict[str, str] = {}
    for criterion in criteria:
        dimensions = criterion.get("dimensions")
        for dimension in dimensions if isinstance(dimensions, list) else []:
            pair = string_map(dimension)
            if pair.get("name") and pair.get("value"):
                found.setdefault(pair["name"], pair["value"])
    return found


def _condition_summary(criteria: list[Payload]) -> str | None:
    """A summary such as `Percentage CPU GreaterThan 25 (value 7.727)` of the first criterion that names a metric."""
    for criterion in criteria:
        fields = string_map(criterion)
        subject = first_text(fields.get("metricName"), fields.get("searchQuery"))
        if not subject:
            continue
        summary = " ".join(part for part in (subject, fields.get("operator"), fields.get("threshold")) if part)
        value = fields.get("metricValue")
        return f"{summary} (value {value})" if value else summary
    return None


def _links(essentials: Payload, context: Payload, criteria: list[Payload]) -> list[Link]:
    candidates: list[tuple[str, object]] = [("Azure alert", essentials.get("investigationLink"))]
    for source in (*criteria, context):
        candidates += [(title, source.get(key)) for key, title in _UI_LINKS]
    links: list[Link] = []
    for title, url in candidates:
        link = http_link(title, url)
        if link is not None and all(existing.url != link.url for existing in links):
            links.append(link)
    return links


def _texts(value: object) -> list[str]:
    """The non-blank strings of a JSON list."""
    return [item for item in value if text(item)] if isinstance(value, list) else []


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}
