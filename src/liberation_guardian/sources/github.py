"""GitHub webhooks: CI outcomes, security alerts, pushes and pull requests of a repository or organization.

Event kinds (`kind` is the `X-GitHub-Event` header; without the header the body is sniffed):

- `workflow_run`, `workflow_job`, `check_run`, `check_suite`: a CI run finished (rows below).
  Deliveries before completion (`requested`, `in_progress`, `queued`, `waiting`) and re-request
  clicks give no event: there is no outcome yet.
- `status`: a commit status; `failure`/`error` fire, `success` resolves, `pending` gives no event.
- `dependabot_alert`, `code_scanning_alert`, `secret_scanning_alert`: security alerts, firing
  while open, resolved when fixed, dismissed or closed.
- `security_advisory`: a GitHub-wide advisory (not tied to a repository): info, resolved.
- `push`, `pull_request` and every other repository event: info, resolved (a record, no alert).
- `ping`, sent once when the hook is created, gives no event.

Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` keyed with the
hook's secret. The legacy `X-Hub-Signature: sha1=<hex HMAC-SHA1>` is accepted only with
`allow_sha1: true`, and only when the SHA-256 header is absent. GitHub signs no timestamp, so
there is no replay window to check; `X-GitHub-Delivery` is kept in `extra.delivery`.

CI outcome (`conclusion` of runs, jobs, checks and suites; `state` of statuses):

| conclusion / state                          | status   | severity                                   |
|---------------------------------------------|----------|--------------------------------------------|
| failure, timed_out, startup_failure, error  | firing   | high on the default branch, medium elsewhere |
| success                                     | resolved | info (resolves the failure: same key)      |
| cancelled, skipped, neutral, stale, action_required | resolved | info, key suffixed `:<conclusion>` |

A cancelled or skipped run proves nothing about the failure before it, so its key carries the
conclusion and it does not close an open failure; only a success does.

Security alerts:

| alert                 | firing on                             | severity                                  |
|-----------------------|---------------------------------------|-------------------------------------------|
| dependabot_alert      | created, reopened, reintroduced       | advisory severity (moderate = medium)     |
| code_scanning_alert   | created, reopened, appeared_in_branch | security_severity_level, else rule level  |
| secret_scanning_alert | created, reopened, publicly_leaked    | critical                                  |

Code scanning rule levels without a security level: error high, warning medium, note low.
Resolved alerts (fixed, dismissed, auto_dismissed, closed_by_user, resolved) are info.

Redaction: a secret scanning alert may carry the leaked secret itself in `alert.secret` (the
REST API's alert object has it; the webhook's documented one leaves it out). `redact` replaces
that value with `[redacted]` wherever it occurs in the body before the body is stored or
parsed, so neither the stored payload nor the event holds it.

Grouping keys: `github:<owner/repo>:<workflow, workflow/job, check, app or status context>:<branch>`
(the commit sha when GitHub names no branch), `github:<repo>:dependabot:<alert number>`,
`github:<repo>:code_scanning:<n>`, `github:<repo>:secret_scanning:<n>`,
`github:<repo>:push:<ref>`, `github:<repo>:pull_request:<n>`, `github:advisory:<GHSA id>`.

Vendor docs: https://docs.github.com/en/webhooks/webhook-events-and-payloads and
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
Fixtures: github/*.json (workflow_run, workflow_job, check_run, check_suite, status, push,
pull_request, dependabot_alert, code_scanning_alert, secret_scanning_alert, security_advisory, ping).

This module authenticates and dispatches; the builders live beside it by topic: `_github_ci`
(runs, jobs, checks, statuses), `_github_security` (alerts, advisories), `_github_activity`
(pushes, pull requests, everything else), reading through `_github_delivery`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._github_activity import other_event, pull_request, push
from liberation_guardian.sources._github_ci import check_run, check_suite, commit_status, workflow_job, workflow_run
from liberation_guardian.sources._github_delivery import Delivery, Payload
from liberation_guardian.sources._github_security import (
    code_scanning_alert,
    dependabot_alert,
    leaked_secrets,
    secret_scanning_alert,
    security_advisory,
)
from liberation_guardian.sources._redact import redact_json
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

# The builder for each X-GitHub-Event; any other event is kept as a record by `other_event`.
_BUILDERS: dict[str, Callable[[Delivery], NormalizedEvent | None]] = {
    "workflow_run": workflow_run,
    "workflow_job": workflow_job,
    "check_run": check_run,
    "check_suite": check_suite,
    "status": commit_status,
    "dependabot_alert": dependabot_alert,
    "code_scanning_alert": code_scanning_alert,
    "secret_scanning_alert": secret_scanning_alert,
    "security_advisory": security_advisory,
    "push": push,
    "pull_request": pull_request,
}


class GitHubConfig(SourceConfig):
    """Keys accepted under `integrations.source_control.github`."""

    allow_sha1: bool = Field(
        default=False,
        description="Also accept the legacy X-Hub-Signature (HMAC-SHA1) when X-Hub-Signature-256 is absent.",
    )
    token_env: str | None = Field(
        default=None,
        description="Variable holding a GitHub API token for lookups and fixes; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )
    auto_merge_enabled: bool = Field(
        default=False,
        description="Merge fix pull requests automatically; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )


class GitHubSource(Source):
    """GitHub repository, organization and app webhooks."""

    name: ClassVar[str] = "github"
    group: ClassVar[str] = "source_control"
    config_model: ClassVar[type[SourceConfig]] = GitHubConfig
    auth_scheme: ClassVar[str] = "HMAC-SHA256 in X-Hub-Signature-256 (sha256=<hex>); legacy SHA-1 only with allow_sha1"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as GitHubConfig; any other model is a wiring mistake."""
        if not isinstance(config, GitHubConfig):
            raise TypeError(f"GitHubSource needs a GitHubConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `X-Hub-Signature-256` (or, when allowed, the SHA-1 header) against the raw body."""
        if self.secret is None:
            return
        modern = headers.get("x-hub-signature-256")
        if not modern and self.settings.allow_sha1 and headers.get("x-hub-signature"):
            require_hmac(
                self.secret, body, headers["x-hub-signature"], header="X-Hub-Signature", prefix="sha1=", digest="sha1"
            )
            return
        if not modern:
            raise Unauthorized("missing signature header X-Hub-Signature-256")
        require_hmac(self.secret, body, modern, header="X-Hub-Signature-256", prefix="sha256=")

    def sign(self, body: bytes) -> dict[str, str]:
        """Both signature headers GitHub sends for `body` when the hook has a secret."""
        if self.secret is None:
            return {}
        return {
            "X-Hub-Signature-256": "sha256=" + hmac_hex(self.secret, body),
            "X-Hub-Signature": "sha1=" + hmac_hex(self.secret, body, "sha1"),
        }

    def redact(self, headers: Headers, body: bytes) -> bytes:
        """Replace the leaked secret a secret scanning alert may carry (`alert.secret`) wherever it occurs."""
        return redact_json(body, leaked_secrets)

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one delivery into at most one event."""
        payload = load_json_object(body)
        event = (headers.get("x-github-event") or "").strip().lower() or _sniff(payload)
        if event == "ping":
            return []
        delivery = Delivery.read(event, payload)
        built = _BUILDERS.get(event, other_event)(delivery)
        if built is None:
            return []
        common = _scalars(
            event=event, action=delivery.action, delivery=headers.get("x-github-delivery"), repository=delivery.repo
        )
        return [built.model_copy(update={"extra": {**common, **built.extra}})]


def _sniff(payload: Payload) -> str:
    """Name the event of a body that came without `X-GitHub-Event`."""
    if "zen" in payload and "hook_id" in payload:
        return "ping"
    for key in ("workflow_job", "workflow_run", "check_run", "check_suite", "pull_request", "security_advisory"):
        if isinstance(payload.get(key), dict):
            return key
    alert = payload.get("alert")
    if isinstance(alert, dict):
        if "dependency" in alert or "security_vulnerability" in alert:
            return "dependabot_alert"
        if "rule" in alert or "tool" in alert:
            return "code_scanning_alert"
        if "secret_type" in alert:
            return "secret_scanning_alert"
    if all(key in payload for key in ("sha", "state", "context")):
        return "status"
    if all(key in payload for key in ("ref", "before", "after", "pusher")):
        return "push"
    raise PayloadInvalid(
        "not a GitHub payload: no X-GitHub-Event header, and the body has no workflow_run, workflow_job, "
        "check_run, check_suite, pull_request, alert, security_advisory, status or push fields"
    )
