"""Bitbucket Cloud and Bitbucket Server / Data Center webhooks: build statuses, pushes and pull requests.

Event kinds (`kind` is the event key: the `X-Event-Key` header, else the body's `eventKey`,
else recognized from the body):

- `repo:commit_status_created`, `repo:commit_status_updated` (Cloud): a build tool reported a
  status on a commit. Failures fire; a success resolves them.
- `repo:push` (Cloud), `repo:refs_changed` (Server): one event per changed branch or tag.
- `pullrequest:*` (Cloud), `pr:*` (Server): one event per delivery.
- any other event key of a repository or project: one event.
- `diagnostics:ping` (Server's "Test connection"): no event.

Pushes, pull requests and other deliveries are records: severity info, status resolved.

Signature: when a secret is set on the webhook, both products send
`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Neither signs a timestamp, so
there is no replay window to check; Bitbucket's `X-Request-UUID` / `X-Request-Id` identify
retries.

Build status severity (`commit_status.state`):

| state       | Severity | Status   | grouping key                                  |
|-------------|----------|----------|-----------------------------------------------|
| FAILED      | high     | firing   | `bitbucket:<repo>:status:<key>@<branch>`      |
| STOPPED     | medium   | firing   | same                                          |
| SUCCESSFUL  | info     | resolved | same, so it resolves the failure              |
| INPROGRESS  | info     | resolved | same with `:inprogress` (a running build fixes nothing) |

`<repo>` is the Cloud `full_name` or the Server `<project key>/<slug>`; `<key>` is the status
key the build tool chose; `@<branch>` comes from `commit_status.refname` when Bitbucket sends it.
Pushes are keyed `bitbucket:<repo>:push:<ref>`, pull requests `bitbucket:<repo>:pr:<id>`.

Vendor docs: https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/ (Cloud),
https://confluence.atlassian.com/bitbucketserver/event-payload-938025882.html (Server).
Fixtures: bitbucket/repo-push.json, bitbucket/pullrequest-created.json,
bitbucket/repo-commit_status-updated.json, bitbucket-server/pr-opened.json,
bitbucket-server/repo-refs_changed.json, tests/sources/payloads/bitbucket/*.json.

This module authenticates and dispatches; the builders live beside it by topic: `_bitbucket_status`
(build statuses) and `_bitbucket_activity` (pushes, pull requests, everything else), reading through
`_bitbucket_payload`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources._bitbucket_activity import (
    cloud_pull_request,
    cloud_push,
    other_event,
    server_pull_request,
    server_refs_changed,
)
from liberation_guardian.sources._bitbucket_payload import Payload
from liberation_guardian.sources._bitbucket_status import commit_status
from liberation_guardian.sources._fields import text
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_PING = "diagnostics:ping"

# The builder for each event key prefix, tried in order; any other key is kept as a record by `other_event`.
_BUILDERS: list[tuple[str, Callable[[Payload, str], list[NormalizedEvent]]]] = [
    ("repo:commit_status_", commit_status),
    ("repo:push", cloud_push),
    ("repo:refs_changed", server_refs_changed),
    ("pullrequest", cloud_pull_request),
    ("pr:", server_pull_request),
]


class BitbucketSource(Source):
    """Bitbucket Cloud and Bitbucket Server / Data Center repository webhooks."""

    name: ClassVar[str] = "bitbucket"
    group: ClassVar[str] = "source_control"
    aliases: ClassVar[tuple[str, ...]] = ("bitbucket-server",)
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `X-Hub-Signature` against the raw body when a secret is configured."""
        if self.secret is None:
            return
        require_hmac(self.secret, body, headers.get("x-hub-signature"), header="X-Hub-Signature", prefix="sha256=")

    def sign(self, body: bytes) -> dict[str, str]:
        """The `X-Hub-Signature` Bitbucket would send for `body` with the configured secret."""
        return {} if self.secret is None else {"X-Hub-Signature": "sha256=" + hmac_hex(self.secret, body)}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one delivery into events: one per build status, pushed ref or pull request delivery."""
        payload = load_json_object(body)
        key = (headers.get("x-event-key") or "").strip() or text(payload.get("eventKey")) or _sniff(payload)
        key = key.strip()
        if key == _PING:
            return []
        for prefix, build in _BUILDERS:
            if key.startswith(prefix):
                return build(payload, key)
        return [other_event(payload, key)]


def _sniff(payload: Payload) -> str:
    """Name the event of a Cloud body that arrived without `X-Event-Key`."""
    if isinstance(payload.get("commit_status"), dict):
        return "repo:commit_status_updated"
    if isinstance(payload.get("push"), dict):
        return "repo:push"
    if isinstance(payload.get("pullrequest"), dict):
        return "pullrequest"
    if payload.get("test") is True and len(payload) == 1:
        return _PING
    raise PayloadInvalid(
        "not a Bitbucket payload: no X-Event-Key header, no eventKey, and no commit_status, push or pullrequest object"
    )
