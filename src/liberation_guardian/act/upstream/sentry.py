"""`upstream-sentry`: set a Sentry issue's status when its incident is acknowledged here.

With `auto_acknowledge: true` under `integrations.observability.sentry`, acknowledging an
incident whose events came from a Sentry issue (a decision of `auto_acknowledge`, or a
person through the API, the CLI or Slack) sends

    PUT {api_url}/api/0/organizations/{organization}/issues/{issue id}/
    Authorization: Bearer <token from api_token_env>
    {"status": "ignored"}            (or "resolved", per acknowledge_as)

Sentry answers 200 with the issue. The token needs the `event:write` scope. The issue id is
`extra["issue_id"]` of the incident's Sentry events; metric alerts have none, so their
incidents are not told. Sentry's error answers (`{"detail": "..."}`) are quoted in the reason.
Format: https://docs.sentry.io/api/events/update-an-issue/
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.upstream.base import UpstreamAction
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.sentry import SentryConfig

# Sentry issue ids are numbers; anything else could steer the request to another API path.
ISSUE_ID = re.compile(r"[0-9]{1,20}")
# Issue webhook actions that mean the issue is set aside in Sentry already.
_ARCHIVED = frozenset({"archived", "ignored"})


class SentryIssueStatus(UpstreamAction):
    """Marks the Sentry issue of an acknowledged incident ignored (archived) or resolved."""

    name: ClassVar[str] = "upstream-sentry"
    source: ClassVar[str] = "sentry"

    def __init__(self, source_config: SourceConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(source_config, SentryConfig):
            raise TypeError(f"upstream-sentry needs a SentryConfig, got {type(source_config).__name__}")
        super().__init__(source_config, secrets)
        self.sentry = source_config

    @classmethod
    def wanted(cls, config: SourceConfig) -> bool:
        """True when `auto_acknowledge` is on and Sentry can be reached (token and organization set)."""
        return (
            isinstance(config, SentryConfig)
            and config.auto_acknowledge
            and bool(config.api_token_env and config.organization)
        )

    @classmethod
    def reference(cls, extra: Mapping[str, Any]) -> dict[str, str]:
        """`{"issue_id": ...}` from a Sentry event's `extra`, when it names an issue."""
        issue_id = extra.get("issue_id")
        return {"issue_id": issue_id} if isinstance(issue_id, str) and ISSUE_ID.fullmatch(issue_id) else {}

    @classmethod
    def knows(cls, extra: Mapping[str, Any]) -> bool:
        """True for an issue webhook saying the issue was archived (`ignored` in older Sentry)."""
        return extra.get("action") in _ARCHIVED

    def send(self, notification: Notification) -> None:
        """Set the issue's status; raise `DeliveryFailed` unless Sentry answers 2xx."""
        issue_id = self.upstream_id(notification, "issue_id", ISSUE_ID)
        token = self.token(self.sentry.api_token_env)
        if not self.sentry.organization:
            raise DeliveryFailed(f"{self.name}: organization is not configured", retryable=False)
        url = f"{self.sentry.api_url}/api/0/organizations/{self.sentry.organization}/issues/{issue_id}/"
        self.put(url, {"status": self.sentry.acknowledge_as}, {"Authorization": f"Bearer {token}"})

    def error_message(self, body: Any) -> str | None:
        """Sentry's `detail` (a string, or an object with `message`)."""
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            detail = detail.get("message")
        return detail if isinstance(detail, str) and detail else None
