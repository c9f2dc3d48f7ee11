"""Google Cloud Monitoring alerting notifications, by webhook or by Pub/Sub push subscription.

Accepted bodies: the webhook notification (`{"version": "1.2", "incident": {...}}`), and the same
JSON Base64-encoded in `message.data` of a Pub/Sub push request
(`{"message": {"data", "attributes", "messageId"}, "subscription"}`) for a Pub/Sub
notification channel delivered by a push subscription.

Event kinds:

- `incident`: one per notification; `incident.state` `closed` resolves it, anything else
  (`open`) fires it.
- `test`: the console's "Send test notification" (`version: "test"`), recorded as info, resolved,
  grouped under `gcp:test:<incident_id>`.

Authentication, one of:

- shared secret: Cloud Monitoring signs nothing; with `webhook_secret_env` set the request must
  carry the secret as Basic password (channel type `webhook_basicauth`) or bearer token.
- OIDC: a Pub/Sub push subscription with authentication sends `Authorization: Bearer <ID token>`,
  signed by Google. With `oidc_audience` set every request must carry one: RS256 signature by a
  key from `oidc_jwks_url` (Google's certs by default), issuer `https://accounts.google.com` (or
  without scheme), `aud` = `oidc_audience`, unexpired, and `email` = `oidc_service_account` with
  `email_verified` true. The two cannot be combined: a push request's only credential is the token.

Severity from `incident.severity` (policy severity, schema 1.2), any case:

| `incident.severity`               | Severity              |
|-----------------------------------|-----------------------|
| CRITICAL                          | critical              |
| ERROR                             | high                  |
| WARNING                           | medium                |
| missing, "No severity", other     | `severity` (medium)   |

Grouping key: `gcp:<incident.incident_id>`, the same for the open and the closed notification.

Vendor docs: https://cloud.google.com/monitoring/support/notification-options#webhooks,
https://cloud.google.com/pubsub/docs/push#receive_push,
https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
Fixtures: gcp-monitoring/incident-closed-v1.2.json, tests/sources/payloads/gcp/*.json
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, string_map, text
from liberation_guardian.sources._oidc import TokenVerifier, checked_jwks_url, require_claim
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]
_SEVERITIES = {"critical": Severity.critical, "error": Severity.high, "warning": Severity.medium}
_SERVICE_LABELS = ("service_name", "function_name", "module_id", "container_name", "job_name")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


class GcpConfig(SourceConfig):
    """Keys accepted under `integrations.infrastructure.gcp` (or `gcp-monitoring`)."""

    severity: Severity = Field(
        default=Severity.medium, description="Severity of incidents whose alerting policy sets no severity."
    )
    oidc_audience: str | None = Field(
        default=None,
        description=(
            "Audience of Pub/Sub push OIDC tokens (the subscription's audience, else its push endpoint URL); "
            "when set, every request must carry a Google-signed token."
        ),
    )
    oidc_service_account: str | None = Field(
        default=None,
        description="Service account e-mail the push subscription signs tokens as; required with oidc_audience.",
    )
    oidc_jwks_url: str = Field(
        default=GOOGLE_JWKS_URL, description="Where Google publishes its token signing keys (JWKS)."
    )

    @field_validator("oidc_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        return checked_jwks_url(value)

    @model_validator(mode="after")
    def _oidc_complete(self) -> GcpConfig:
        oidc_keys = {"oidc_audience", "oidc_service_account", "oidc_jwks_url"} & self.model_fields_set
        if not oidc_keys:
            return self
        if not self.oidc_audience or not self.oidc_service_account:
            missing = "oidc_audience" if not self.oidc_audience else "oidc_service_account"
            raise ValueError(
                f"{missing} is required when {', '.join(sorted(oidc_keys))} is set: "
                "OIDC needs both the audience and the service account of the push subscription"
            )
        if self.webhook_secret_env:
            raise ValueError(
                "webhook_secret_env and oidc_audience cannot both be set: a Pub/Sub push request's only "
                "credential is its OIDC token; use one source per authentication method"
            )
        return self


class GcpSource(Source):
    """Google Cloud Monitoring incidents, by webhook or Pub/Sub push."""

    name: ClassVar[str] = "gcp"
    group: ClassVar[str] = "infrastructure"
    aliases: ClassVar[tuple[str, ...]] = ("gcp-monitoring",)
    config_model: ClassVar[type[SourceConfig]] = GcpConfig
    calls_out: ClassVar[bool] = True  # fetches Google's signing keys when OIDC is on
    auth_scheme: ClassVar[str] = (
        "Authorization: Basic with the secret as password (webhook_basicauth) or Bearer <secret>; "
        "or a Google-signed OIDC bearer token (Pub/Sub push)"
    )

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        super().__init__(config, secrets)
        self.settings = config if isinstance(config, GcpConfig) else GcpConfig()
        self.tokens: TokenVerifier | None = None
        if self.settings.oidc_audience:
            self.tokens = TokenVerifier(
                self.settings.oidc_jwks_url,
                audience=self.settings.oidc_audience,
                issuers=GOOGLE_ISSUERS,
                audience_setting="oidc_audience",
            )

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require a Google OIDC token when `oidc_audience` is set, else the secret when one is configured."""
        if self.tokens is not None:
            self._require_push_token(headers.get("authorization"))
        elif self.secret is not None:
            require_bearer_or_basic(self.secret, headers.get("authorization"))

    def _require_push_token(self, authorization: str | None) -> None:
        assert self.tokens is not None and self.settings.oidc_service_account is not None
        claims = self.tokens.claims(authorization)
        require_claim(claims, "email", self.settings.oidc_service_account, setting="oidc_service_account")
        # Google sets it true for service accounts; anything else is not a service account's token.
        if claims.get("email_verified") not in (True, "true"):
            raise Unauthorized("bearer token email is not verified (email_verified is not true)")

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` a `webhook_basicauth` channel sends with the secret as password."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"monitoring:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one notification (direct or inside a Pub/Sub push envelope) into one event."""
        payload = load_json_object(body)
        push: Payload = {}
        if "incident" not in payload and isinstance(payload.get("message"), dict):
            push = payload
            payload = _unwrap(payload["message"])
        incident = payload.get("incident")
        if not isinstance(incident, dict):
            raise PayloadInvalid("not a Cloud Monitoring notification: no `incident` object")
        default = self.settings.severity
        return [_incident_event(incident, payload, push, default)]


def _unwrap(message: Payload) -> dict[str, Any]:
    """The notification inside a Pub/Sub push `message.data` (Base64 of JSON)."""
    data = message.get("data")
    if not isinstance(data, str):
        raise PayloadInvalid("Pub/Sub push message has no `data` string")
    try:
        decoded = base64.b64decode(
            data.strip(), altchars=b"-_" if ("-" in data or "_" in data) else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise PayloadInvalid("Pub/Sub message.data is not Base64") from None
    try:
        return load_json_object(decoded)
    except (PayloadMalformed, PayloadInvalid) as exc:
        raise PayloadInvalid(f"Pub/Sub message.data: {exc.reason}") from None


def _incident_event(incident: Payload, payload: Payload, push: Payload, default: Severity) -> NormalizedEvent:
    is_test = text(payload.get("version")) == "test"
    closed = (text(incident.get("state")) or "").strip().lower() == "closed"
    policy = text(incident.get("policy_name"))
    condition = first_text(incident.get("condition_name"), _object(incident.get("condition")).get("displayName"))
    title = f"{policy}: {condition}" if policy and condition and condition != policy else (policy or condition)
    resource = _object(incident.get("resource"))
    resource_labels = string_map(resource.get("labels"))
    metadata = _object(incident.get("metadata"))
    user_labels = {**string_map(incident.get("policy_user_labels")), **string_map(metadata.get("user_labels"))}
    incident_id = _identifier(incident.get("incident_id"))
    labels = {
        **string_map(metadata.get("system_labels")),
        **resource_labels,
        **string_map(_object(incident.get("metric")).get("labels")),
        **user_labels,
        **_present(
            resource_type=text(resource.get("type")),
            metric_type=text(_object(incident.get("metric")).get("type")),
            project=text(incident.get("scoping_project_id")),
        ),
    }
    if is_test:
        severity, status = Severity.info, Status.resolved
    else:
        severity = _SEVERITIES.get((text(incident.get("severity")) or "").strip().lower(), default)
        status = Status.resolved if closed else Status.firing
    started, ended = _epoch(incident.get("started_at")), _epoch(incident.get("ended_at"))
    return NormalizedEvent(
        source=GcpSource.name,
        kind="test" if is_test else "incident",
        status=status,
        severity=severity,
        title=title or "Cloud Monitoring incident",
        message=first_text(incident.get("summary"), _documentation(incident)) or "",
        service=first_text(
            user_labels.get("service"), user_labels.get("app"), *map(resource_labels.get, _SERVICE_LABELS)
        ),
        environment=first_text(user_labels.get("env"), user_labels.get("environment")),
        # A test notification reuses a fixed example id; keep it apart from real incidents.
        grouping_key=f"gcp:{'test:' if is_test else ''}{incident_id}" if incident_id else None,
        labels=labels,
        links=_links(incident),
        occurred_at=(ended if closed else None)
        or started
        or parse_time(_object(push.get("message")).get("publishTime")),
        extra=_present(
            state=text(incident.get("state")),
            schema_version=text(payload.get("version")),
            resource_name=first_text(incident.get("resource_display_name"), incident.get("resource_name")),
            observed_value=text(incident.get("observed_value")),
            threshold_value=text(incident.get("threshold_value")),
            documentation=_documentation(incident),
            pubsub_message_id=first_text(
                _object(push.get("message")).get("messageId"), _object(push.get("message")).get("message_id")
            ),
            pubsub_subscription=text(push.get("subscription")),
        ),
    )


def _documentation(incident: Payload) -> str | None:
    """The policy documentation text: an object with `content` in schema 1.2, a plain string in older ones."""
    documentation = incident.get("documentation")
    return text(_object(documentation).get("content")) or text(documentation)


def _links(incident: Payload) -> list[Link]:
    candidates: list[tuple[str, object]] = [("Cloud Monitoring incident", incident.get("url"))]
    documented = _object(incident.get("documentation")).get("links")
    for link in documented if isinstance(documented, list) else []:
        candidates.append((text(_object(link).get("displayName")) or "Documentation", _object(link).get("url")))
    links: list[Link] = []
    for title, url in candidates:
        link = http_link(title, url)
        if link is not None and all(existing.url != link.url for existing in links):
            links.append(link)
    return links


def _epoch(value: object) -> datetime | None:
    """Unix seconds as a datetime; 0, null and non-numbers (Monitoring's "not set") as None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 2**40:
        return None
    return parse_time(value)


def _identifier(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}
