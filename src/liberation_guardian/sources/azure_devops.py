"""Azure DevOps service hooks (Web Hooks consumer): builds, pipeline runs, pushes and pull requests.

Event kinds (`kind` is the body's `eventType`):

- `build.complete`: a build finished. Failures fire; a success resolves them.
- `ms.vss-pipelines.run-state-changed-event`, `ms.vss-pipelines.stage-state-changed-event`,
  `ms.vss-pipelines.job-state-changed-event`: a YAML pipeline run, stage or job changed state.
  Completed ones are judged like builds; started, canceling or canceled ones are records.
- `git.push`: one record per updated ref. `git.pullrequest.*`: one record per delivery.
- any other event type (work items, releases, TFVC check-ins): one record from its `message`.

Records are severity info, status resolved.

Signature: Azure DevOps signs nothing. The Web Hooks action offers Basic authentication and
free-form HTTP headers, so when `webhook_secret_env` is set the request must carry the secret
as the Basic password (any user name), as `Authorization: Bearer <secret>`, or in the header
named by `token_header` (default `X-Guardian-Token`). There is no timestamp to check.

Build and run results:

| result (`result`, or `status` in resource version 1.0) | Severity | Status   |
|--------------------------------------------------------|----------|----------|
| failed                                                 | high     | firing   |
| partiallySucceeded                                     | medium   | firing   |
| succeeded                                              | info     | resolved |
| canceled, stopped, inProgress, anything else           | info     | resolved (own key) |

Grouping key: `azure_devops:<project>/<definition>@<branch>` for builds and pipeline runs
(`<project>` is the project id from `resourceContainers`, `<branch>` is `sourceBranch`, or the
ref in `sourceGetVersion`, without `refs/heads/`); stages and jobs add `/<stage>` and
`/<stage>/<job>`. A success carries the failure's key, so it resolves it; a canceled or still
running build gets the key plus `:<state>` so it leaves the failure open.

Vendor docs: https://learn.microsoft.com/azure/devops/service-hooks/events and
https://learn.microsoft.com/azure/devops/service-hooks/services/webhooks
Fixtures: azure-devops/build-complete.json, azure-devops/git-push.json,
tests/sources/payloads/azure_devops/*.json.

This module authenticates and dispatches; the builders live beside it by topic: `_azure_devops_builds`
(builds and pipeline runs, stages, jobs) and `_azure_devops_activity` (pushes, pull requests,
everything else), reading through `_azure_devops_payload`.
"""

from __future__ import annotations

import base64
from typing import ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources._azure_devops_activity import other_event, pull_request, push
from liberation_guardian.sources._azure_devops_builds import PIPELINE_EVENTS, build, pipeline
from liberation_guardian.sources._fields import text
from liberation_guardian.sources._signatures import (
    DEFAULT_TOKEN_HEADER,
    TokenHeaderConfig,
    require_token_or_authorization,
)
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object


class AzureDevOpsConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.source_control.azure_devops` (or `azure-devops`)."""


class AzureDevOpsSource(Source):
    """Azure DevOps service hook subscriptions using the Web Hooks consumer."""

    name: ClassVar[str] = "azure_devops"
    group: ClassVar[str] = "source_control"
    aliases: ClassVar[tuple[str, ...]] = ("azure-devops",)
    config_model: ClassVar[type[SourceConfig]] = AzureDevOpsConfig
    auth_scheme: ClassVar[str] = "Basic auth with the secret as password, Bearer, or the secret in X-Guardian-Token"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password, bearer token or token header when one is configured."""
        if self.secret is None:
            return
        require_token_or_authorization(self.secret, headers, getattr(self.config, "token_header", DEFAULT_TOKEN_HEADER))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` header the web hook's basic authentication settings would send."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"azure-devops:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one service hook delivery into events."""
        payload = load_json_object(body)
        event_type = text(payload.get("eventType"))
        if event_type is None:
            raise PayloadInvalid("not an Azure DevOps service hook payload: no `eventType`")
        resource = payload.get("resource")
        if not isinstance(resource, dict):
            raise PayloadInvalid(f"Azure DevOps {event_type} payload has no `resource` object")
        event_type = event_type.strip()
        if event_type == "build.complete":
            return [build(payload, resource)]
        if event_type in PIPELINE_EVENTS:
            return [pipeline(payload, resource, event_type)]
        if event_type == "git.push":
            return push(payload, resource)
        if event_type.startswith("git.pullrequest."):
            return [pull_request(payload, resource, event_type)]
        return [other_event(payload, resource, event_type)]
