"""GitLab project and group webhooks: pipelines, jobs and deployments, plus merge requests and pushes.

Event kinds (`kind` is GitLab's `object_kind`, or `event_name` for the hooks without one). The
`X-Gitlab-Event` header names the hook; a header that contradicts the body is refused, and a
body naming no kind is not GitLab's:

- `pipeline` (Pipeline Hook), `build` (Job Hook), `deployment` (Deployment Hook): rows below.
  Statuses without an outcome yet (created, pending, running, manual, scheduled...) give no event.
- `merge_request`, `push`, `tag_push` and every other hook (issue, note, release...): info,
  resolved (a record, no alert).

Authentication: with `webhook_secret_env` set, `X-Gitlab-Token` must equal the secret (GitLab
sends the hook's secret token verbatim). With `signing_token_env` set, the Standard Webhooks
signature GitLab adds for a signing token is required too: `webhook-signature` holds one or more
`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed with the
base64-decoded part of a `whsec_...` token (any other token is used as its UTF-8 bytes), and a
`webhook-timestamp` further than `max_skew_seconds` from now is refused as a replay.

| status                         | status   | severity                                                  |
|--------------------------------|----------|-----------------------------------------------------------|
| pipeline failed                | firing   | high on the default branch, medium elsewhere              |
| job failed                     | firing   | low when allow_failure, else as a pipeline                |
| deployment failed              | firing   | high                                                      |
| success                        | resolved | info (resolves the failure: same key)                     |
| canceled, skipped              | resolved | info, key suffixed `:<status>` (does not close a failure) |

Grouping keys: `gitlab:<project path>:pipeline:<ref>`, `gitlab:<project>:job:<job name>:<ref>`,
`gitlab:<project>:deployment:<environment>`, `gitlab:<project>:merge_request:<iid>`,
`gitlab:<project>:push:<ref>`.

Vendor docs: https://docs.gitlab.com/user/project/integrations/webhook_events/ and
https://docs.gitlab.com/user/project/integrations/webhooks/ (secret and signing tokens).
Fixtures: gitlab/pipeline-success.json, job-success.json, deployment-success.json,
merge_request-opened.json, push.json; tests/sources/payloads/gitlab/ for the failures.

This module authenticates and dispatches; the builders live beside it by topic: `_gitlab_ci`
(pipelines, jobs, deployments) and `_gitlab_activity` (merge requests, pushes, everything else),
reading through `_gitlab_delivery`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources._fields import first_text
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._gitlab_activity import merge_request, other_hook, push
from liberation_guardian.sources._gitlab_ci import deployment, job, pipeline
from liberation_guardian.sources._gitlab_delivery import Delivery
from liberation_guardian.sources._signatures import require_token
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_HOOKS = {
    "pipeline hook": "pipeline",
    "job hook": "build",
    "deployment hook": "deployment",
    "merge request hook": "merge_request",
    "push hook": "push",
    "tag push hook": "tag_push",
}
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")

# The builder for each object_kind; any other hook is kept as a record by `other_hook`.
_BUILDERS: dict[str, Callable[[Delivery], NormalizedEvent | None]] = {
    "pipeline": pipeline,
    "build": job,
    "deployment": deployment,
    "merge_request": merge_request,
    "push": push,
    "tag_push": push,
}


class GitLabConfig(SourceConfig):
    """Keys accepted under `integrations.source_control.gitlab`."""

    signing_token_env: str | None = Field(
        default=None,
        description="Variable holding the hook's signing token (whsec_...); when set, webhook-signature is required.",
    )
    max_skew_seconds: int = Field(
        default=300, gt=0, description="Refuse signed webhook-timestamp values further than this from now (replays)."
    )
    token_env: str | None = Field(
        default=None,
        description="Variable holding a GitLab API token for lookups and fixes; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )


class GitLabSource(Source):
    """GitLab project, group and system webhooks."""

    name: ClassVar[str] = "gitlab"
    group: ClassVar[str] = "source_control"
    config_model: ClassVar[type[SourceConfig]] = GitLabConfig
    auth_scheme: ClassVar[str] = "X-Gitlab-Token equal to the secret; webhook-signature (v1 HMAC) with a signing token"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as GitLabConfig; any other model is a wiring mistake."""
        if not isinstance(config, GitLabConfig):
            raise TypeError(f"GitLabSource needs a GitLabConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `X-Gitlab-Token` and, with a signing token, the timestamped `webhook-signature`."""
        if self.secret is not None:
            require_token(self.secret, headers.get("x-gitlab-token"), header="X-Gitlab-Token")
        signing = self.secrets.get("signing_token")
        if signing is None:
            return
        given = (headers.get("webhook-signature") or "").strip()
        webhook_id = (headers.get("webhook-id") or "").strip()
        stamp = (headers.get("webhook-timestamp") or "").strip()
        if not given:
            raise Unauthorized("missing signature header webhook-signature")
        if not webhook_id:
            raise Unauthorized("missing webhook-id header, which the signature covers")
        if not _UNIX_SECONDS.fullmatch(stamp):
            raise Unauthorized("webhook-timestamp header is missing or not a Unix time in seconds")
        expected = _signature(signing, webhook_id, stamp, body).encode()
        matched = False
        for entry in given.split():
            version, _, value = entry.partition(",")
            # Compare against every entry so timing does not reveal which one matched.
            matched |= version == "v1" and hmac.compare_digest(expected, value.encode())
        if not matched:
            raise Unauthorized("no v1 signature in webhook-signature matches the body")
        skew = abs(time.time() - int(stamp))
        if skew > self.settings.max_skew_seconds:
            raise Unauthorized(
                f"webhook-timestamp is {skew:.0f}s away from now, more than max_skew_seconds "
                f"({self.settings.max_skew_seconds}); refused as a possible replay"
            )

    def sign(self, body: bytes) -> dict[str, str]:
        """The token header, and the signature headers when a signing token is configured."""
        headers: dict[str, str] = {}
        if self.secret is not None:
            headers["X-Gitlab-Token"] = self.secret
        signing = self.secrets.get("signing_token")
        if signing is not None:
            webhook_id, stamp = str(uuid.uuid4()), str(int(time.time()))
            headers["webhook-id"] = webhook_id
            headers["webhook-timestamp"] = stamp
            headers["webhook-signature"] = "v1," + _signature(signing, webhook_id, stamp, body)
        return headers

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one delivery into at most one event."""
        payload = load_json_object(body)
        hook = (headers.get("x-gitlab-event") or "").strip()
        body_kind = first_text(payload.get("object_kind"), payload.get("event_name"))
        # Every GitLab hook body names its kind; a body without one is some other tool's, whatever the header says.
        if body_kind is None:
            raise PayloadInvalid("not a GitLab payload: the body has no object_kind or event_name")
        kind = _HOOKS.get(hook.lower()) or body_kind
        if body_kind != kind:
            raise PayloadInvalid(f"X-Gitlab-Event {hook!r} does not match the body's object_kind {body_kind!r}")
        delivery = Delivery.read(kind, payload)
        built = _BUILDERS.get(kind, other_hook)(delivery)
        if built is None:
            return []
        common = _scalars(
            hook=hook,
            object_kind=kind,
            event_uuid=first_text(headers.get("x-gitlab-event-uuid"), headers.get("idempotency-key")),
            instance=headers.get("x-gitlab-instance"),
        )
        return [built.model_copy(update={"extra": {**common, **built.extra}})]


def _signature(token: str, webhook_id: str, stamp: str, body: bytes) -> str:
    """Base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`, as Standard Webhooks signs."""
    key = token.encode()
    if token.startswith("whsec_"):
        try:
            key = base64.b64decode(token.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = token.encode()  # not base64 after all: GitLab would refuse it, use it as given
    message = f"{webhook_id}.{stamp}.".encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
