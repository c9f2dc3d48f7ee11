"""Splunk Enterprise and Splunk Cloud webhook alert action: one event per triggered alert.

Event kinds: `search_alert`. Splunk's built-in webhook action posts a fixed body when a saved
search (an alert) triggers: `sid`, `search_name`, `app`, `owner`, `results_link` and `result`,
the first row of the search results. Splunk sends nothing when the condition clears, so every
delivery is firing.

Signature: Splunk signs nothing and its built-in action cannot add headers. When
`webhook_secret_env` is set the request must carry the secret in `Authorization`, as a bearer
token or the password of Basic credentials. The built-in action cannot send that header (it
does not turn credentials written into the URL into Basic authentication either), so a
secret needs a reverse proxy that adds the header, or an alert action app that can set headers;
see docs/sources/splunk.md.

Severity from the result row's `severity` field, else its `urgency` field (Splunk Enterprise
Security notables carry both), compared case-insensitively:

| `severity` / `urgency`                    | Severity |
|-------------------------------------------|----------|
| critical, fatal, severe, 6, 5             | critical |
| high, error, major, 4                     | high     |
| medium, warning, warn, 3                  | medium   |
| low, minor                                | low      |
| informational, info, debug, none, 2, 1    | info     |
| missing or any other value                | medium   |

The numbers are Splunk's own alert severity scale (1 debug ... 6 fatal).

Grouping key: `splunk:<search_name>`, plus `:<host>` when the result row has a `host`, so each
host a saved search fires for is its own incident. Without a search name there is no key and
the event is grouped by its text.

Vendor docs: https://help.splunk.com/splunk-enterprise/alert-and-respond/alerting-manual/10.0/configure-alert-actions/use-a-webhook-alert-action
Fixtures: splunk/search-alert-one-result.json, and under tests/sources/payloads/splunk/:
notable-urgency-high.json, no-search-name.json.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import SEVERITY_WORDS, first_text, http_link, parse_time, string_map, text
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_SEVERITIES: dict[str, Severity] = {
    **SEVERITY_WORDS,
    "fatal": Severity.critical,
    "severe": Severity.critical,
    "debug": Severity.info,
    "6": Severity.critical,
    "5": Severity.critical,
    "4": Severity.high,
    "3": Severity.medium,
    "2": Severity.info,
    "1": Severity.info,
}
# Fields Splunk adds to every result row that say nothing about the problem.
_NOISE = frozenset({"punct", "timestartpos", "timeendpos", "linecount", "eventtype"})


class SplunkSource(Source):
    """Splunk's built-in webhook alert action."""

    name: ClassVar[str] = "splunk"
    group: ClassVar[str] = "observability"
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "Authorization: Basic with the secret as password (or Bearer <secret>)"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password or bearer token when one is configured."""
        if self.secret is not None:
            require_bearer_or_basic(self.secret, headers.get("authorization"))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` header a proxy in front of this source would add."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"splunk:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one webhook alert action into one event."""
        payload = load_json_object(body)
        sid, search_name = text(payload.get("sid")), text(payload.get("search_name"))
        if sid is None and search_name is None:
            raise PayloadInvalid("not a Splunk webhook payload: no `sid` or `search_name`")
        result = payload.get("result")
        return [_event(payload, result if isinstance(result, dict) else {}, search_name)]


def _event(payload: Mapping[str, Any], result: Mapping[str, Any], search_name: str | None) -> NormalizedEvent:
    row = string_map(result)
    host = text(row.get("host"))
    key = None
    if search_name:
        key = f"splunk:{search_name}:{host}" if host else f"splunk:{search_name}"
    labels = {
        name: value
        for name, value in row.items()
        if value.strip() and not name.startswith(("_", "date_")) and name not in _NOISE
    }
    app = text(payload.get("app"))
    extra = {
        name: value
        for name, value in {
            "sid": text(payload.get("sid")),
            "search_name": search_name,
            "app": app,
            "owner": text(payload.get("owner")),
        }.items()
        if value
    }
    link = http_link("Splunk search results", payload.get("results_link"))
    return NormalizedEvent(
        source=SplunkSource.name,
        kind="search_alert",
        status=Status.firing,
        severity=_severity(row.get("severity")) or _severity(row.get("urgency")) or Severity.medium,
        title=search_name or (f"Splunk alert in app {app}" if app else "Splunk alert"),
        message=first_text(row.get("_raw"), row.get("message"), row.get("description")) or "",
        service=first_text(row.get("service"), row.get("service_name")),
        environment=first_text(row.get("environment"), row.get("env")),
        grouping_key=key,
        labels=labels,
        links=[link] if link else [],
        occurred_at=parse_time(row.get("_time")),
        extra=extra,
    )


def _severity(value: object) -> Severity | None:
    if not isinstance(value, str):
        return None
    return _SEVERITIES.get(value.strip().lower())
