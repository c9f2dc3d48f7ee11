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
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import (
    DEFAULT_TOKEN_HEADER,
    TokenHeaderConfig,
    require_token_or_authorization,
)
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

# lower-case result -> (severity, status, whether it is a verdict that may resolve a failure, wording)
_RESULTS: dict[str, tuple[Severity, Status, bool, str]] = {
    "failed": (Severity.high, Status.firing, True, "failed"),
    "partiallysucceeded": (Severity.medium, Status.firing, True, "partially succeeded"),
    "succeeded": (Severity.info, Status.resolved, True, "succeeded"),
}
_WORDS = {
    "inprogress": "is in progress",
    "notstarted": "has not started",
    "waiting": "is waiting",
    "canceling": "is canceling",
    "canceled": "was canceled",
    "stopped": "was stopped",
}
_PIPELINE_EVENTS = {
    "ms.vss-pipelines.run-state-changed-event": "run",
    "ms.vss-pipelines.stage-state-changed-event": "stage",
    "ms.vss-pipelines.job-state-changed-event": "job",
}
_SOURCE_VERSION_REF = re.compile(r"^LG:(refs/[^:]+):")
_ZERO_ID = re.compile(r"^0+$")
_MAX_COMMITS = 5


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
            return [_build(payload, resource)]
        if event_type in _PIPELINE_EVENTS:
            return [_pipeline(payload, resource, event_type)]
        if event_type == "git.push":
            return _push(payload, resource)
        if event_type.startswith("git.pullrequest."):
            return [_pull_request(payload, resource, event_type)]
        return [_other(payload, resource, event_type)]


def _build(payload: Payload, resource: Payload) -> NormalizedEvent:
    definition = _object(resource.get("definition"))
    name = first_text(definition.get("name"), _identifier(definition.get("id")))
    if name is None:
        raise PayloadInvalid("Azure DevOps build.complete payload has no resource.definition name or id")
    project = _project(payload, resource, definition)
    branch = _branch(resource)
    result = (first_text(resource.get("result"), resource.get("status")) or "").strip()
    severity, status, key, word = _judge(result, f"azure_devops:{project}/{name}", branch)
    requested = _object(resource.get("requestedFor")) or _object(resource.get("lastChangedBy"))
    return NormalizedEvent(
        source=AzureDevOpsSource.name,
        kind="build.complete",
        status=status,
        severity=severity,
        title=f"Build {name} {word}" + (f" on {branch}" if branch else ""),
        message=_message(payload),
        service=name,
        grouping_key=key,
        labels=_labels(
            project=project,
            definition=name,
            branch=branch,
            build_number=text(resource.get("buildNumber")),
            result=result or None,
            reason=text(resource.get("reason")),
            requested_for=text(requested.get("displayName")),
        ),
        links=_links(("Build", _href(resource, "web")), ("Build (API)", resource.get("url"))),
        occurred_at=parse_time(resource.get("finishTime")) or parse_time(payload.get("createdDate")),
        extra=_scalars(build_id=_identifier(resource.get("id")), commit=_commit(resource)),
    )


def _pipeline(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    """A run, stage or job state change of a YAML pipeline."""
    level = _PIPELINE_EVENTS[event_type]
    run = _object(resource.get("run"))
    pipeline = _object(resource.get("pipeline")) or _object(run.get("pipeline"))
    name = first_text(pipeline.get("name"), _identifier(pipeline.get("id")))
    if name is None:
        raise PayloadInvalid(f"Azure DevOps {event_type} payload has no resource.pipeline name or id")
    stage, job = _object(resource.get("stage")), _object(resource.get("job"))
    node = {"run": run, "stage": stage, "job": job}[level]
    if not node:
        raise PayloadInvalid(f"Azure DevOps {event_type} payload has no resource.{level} object")
    path = [name]
    heading = f"Pipeline {name}"
    parents = {"run": [], "stage": [("stage", stage)], "job": [("stage", stage), ("job", job)]}[level]
    for part, entity in parents:
        if part_name := first_text(entity.get("name"), entity.get("displayName")):
            path.append(part_name)
            heading += f" {part} {part_name}"
    project = _project(payload, resource, pipeline)
    branch = _ref_name(_object(_object(_object(run.get("resources")).get("repositories")).get("self")).get("refName"))
    state = (text(node.get("state")) or "").strip()
    outcome = text(node.get("result")) if state.lower() == "completed" else None
    severity, status, key, word = _judge(outcome or state, f"azure_devops:{project}/{'/'.join(path)}", branch)
    return NormalizedEvent(
        source=AzureDevOpsSource.name,
        kind=event_type,
        status=status,
        severity=severity,
        title=f"{heading} {word}" + (f" on {branch}" if branch else ""),
        message=_message(payload),
        service=name,
        grouping_key=key,
        labels=_labels(
            project=project,
            pipeline=name,
            stage=text(stage.get("name")) if level != "run" else None,
            job=text(job.get("name")) if level == "job" else None,
            branch=branch,
            run=first_text(run.get("name"), _identifier(run.get("id"))),
            state=state or None,
            result=outcome,
        ),
        links=_links(
            (level.capitalize(), _href(node, "web")),
            ("Run", _href(run, "web")),
            ("Pipeline", _href(run, "pipeline.web")),
            ("Run (API)", run.get("url")),
        ),
        occurred_at=parse_time(node.get("finishTime"))
        or parse_time(node.get("finishedDate"))
        or parse_time(payload.get("createdDate")),
    )


def _push(payload: Payload, resource: Payload) -> list[NormalizedEvent]:
    repo, repo_link = _repository(resource, "git.push")
    commits = _objects(resource.get("commits"))
    subjects = [line.splitlines()[0] for c in commits if (line := text(c.get("comment")))][:_MAX_COMMITS]
    pusher = text(_object(resource.get("pushedBy")).get("displayName"))
    updates = _objects(resource.get("refUpdates"))
    events = []
    for update in updates or [{}]:
        ref = text(update.get("name"))
        old, new = text(update.get("oldObjectId")), text(update.get("newObjectId"))
        action = "created" if old and _ZERO_ID.match(old) else "deleted" if new and _ZERO_ID.match(new) else "updated"
        kind_word, short = "Branch", _ref_name(ref)
        if ref is not None and ref.startswith("refs/tags/"):
            kind_word, short = "Tag", ref.removeprefix("refs/tags/")
        events.append(
            NormalizedEvent(
                source=AzureDevOpsSource.name,
                kind="git.push",
                status=Status.resolved,
                severity=Severity.info,
                title=f"{kind_word} {short} {action} in {repo}" if short else f"Push to {repo}",
                message="\n".join(subjects) or _message(payload),
                service=text(_object(resource.get("repository")).get("name")),
                grouping_key=f"azure_devops:{repo}:push" + (f":{short}" if short else ""),
                labels=_labels(repository=repo, ref=short, commit=new, action=action, pushed_by=pusher),
                links=_links(("Repository", repo_link), *(("Commit", c.get("url")) for c in commits[:1])),
                occurred_at=parse_time(resource.get("date")) or parse_time(payload.get("createdDate")),
                extra=_scalars(push_id=_identifier(resource.get("pushId"))),
            )
        )
    return events


def _pull_request(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    repo, repo_link = _repository(resource, event_type)
    number = _identifier(resource.get("pullRequestId"))
    title = text(resource.get("title"))
    source_branch, target_branch = _ref_name(resource.get("sourceRefName")), _ref_name(resource.get("targetRefName"))
    action = event_type.removeprefix("git.pullrequest.")
    heading = " ".join(part for part in ("Pull request", f"#{number}" if number else "", action) if part)
    return NormalizedEvent(
        source=AzureDevOpsSource.name,
        kind=event_type,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{heading} in {repo}" + (f": {title}" if title else ""),
        message=f"{source_branch} → {target_branch}" if source_branch and target_branch else _message(payload),
        service=text(_object(resource.get("repository")).get("name")),
        grouping_key=f"azure_devops:{repo}:pr:{number}" if number else None,
        labels=_labels(
            repository=repo,
            source_branch=source_branch,
            target_branch=target_branch,
            status=text(resource.get("status")),
            merge_status=text(resource.get("mergeStatus")),
        ),
        links=_links(
            ("Pull request", _href(resource, "web")),
            ("Pull request (API)", resource.get("url")),
            ("Repository", repo_link),
        ),
        occurred_at=parse_time(resource.get("closedDate"))
        or parse_time(resource.get("creationDate"))
        or parse_time(payload.get("createdDate")),
    )


def _other(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    """A record for event types with nothing to judge (work items, releases, check-ins)."""
    return NormalizedEvent(
        source=AzureDevOpsSource.name,
        kind=event_type,
        status=Status.resolved,
        severity=Severity.info,
        title=first_text(_object(payload.get("message")).get("text")) or f"Azure DevOps {event_type}",
        message=text(_object(payload.get("detailedMessage")).get("text")) or "",
        links=_links(("Azure DevOps", _href(resource, "web")), ("Azure DevOps (API)", resource.get("url"))),
        occurred_at=parse_time(payload.get("createdDate")),
    )


def _judge(result: str, key: str, branch: str | None) -> tuple[Severity, Status, str, str]:
    """Severity, status, grouping key and wording for a build or run result."""
    key += f"@{branch}" if branch else ""
    lowered = result.lower()
    if lowered in _RESULTS:
        severity, status, _, word = _RESULTS[lowered]
        return severity, status, key, word
    # Canceled, stopped or still running: no verdict, so keep it apart from the failure it would otherwise resolve.
    word = _WORDS.get(lowered, lowered or "reported")
    return Severity.info, Status.resolved, f"{key}:{lowered or 'unknown'}", word


def _project(payload: Payload, resource: Payload, owner: Payload) -> str:
    """The project id (every delivery's `resourceContainers` has it), else whatever names the project."""
    containers = _object(payload.get("resourceContainers"))
    for candidate in (containers.get("project"), resource.get("project"), owner.get("project")):
        project = _object(candidate)
        if found := first_text(project.get("id"), project.get("name")):
            return found
    return "-"


def _branch(resource: Payload) -> str | None:
    """`sourceBranch`, else the ref inside resource version 1.0's `sourceGetVersion` (`LG:<ref>:<sha>`)."""
    if branch := text(resource.get("sourceBranch")):
        return _ref_name(branch)
    version = text(resource.get("sourceGetVersion"))
    match = _SOURCE_VERSION_REF.match(version) if version else None
    return _ref_name(match.group(1)) if match else None


def _commit(resource: Payload) -> str | None:
    if found := text(resource.get("sourceVersion")):
        return found
    version = text(resource.get("sourceGetVersion"))
    return version.rsplit(":", 1)[-1] if version and version.startswith("LG:") else None


def _ref_name(value: object) -> str | None:
    ref = text(value)
    return ref.removeprefix("refs/heads/") if ref else None


def _repository(resource: Payload, event_type: str) -> tuple[str, object]:
    """`<project>/<repository>` and the repository's web URL."""
    repo = _object(resource.get("repository"))
    name = first_text(repo.get("name"), repo.get("id"))
    if name is None:
        raise PayloadInvalid(f"Azure DevOps {event_type} payload has no resource.repository")
    project = text(_object(repo.get("project")).get("name"))
    return (f"{project}/{name}" if project else name), repo.get("webUrl") or repo.get("remoteUrl")


def _message(payload: Payload) -> str:
    for key in ("detailedMessage", "message"):
        if found := text(_object(payload.get(key)).get("text")):
            return found
    return ""


def _href(entity: Payload, rel: str) -> object:
    """`_links.<rel>.href`."""
    return _object(_object(entity.get("_links")).get(rel)).get("href")


def _labels(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def _scalars(**values: str | None) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)


def _objects(value: object) -> list[Payload]:
    """The JSON objects in `value` when it is a list; [] for anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
