"""Azure DevOps builds and YAML pipeline runs, stages and jobs: a verdict on a definition and branch.

A failure and the success that fixes it share a grouping key, so the success resolves it; a
canceled or still running build gets the key plus `:<state>` and leaves the failure open. The
result table is in the `azure_devops` module's docstring.
"""

from __future__ import annotations

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._azure_devops_payload import (
    SOURCE,
    Payload,
    branch_of,
    commit_of,
    href,
    identifier,
    labels,
    message_of,
    project_of,
    ref_name,
    scalars,
)
from liberation_guardian.sources._fields import as_object, first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links

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
# YAML pipeline event type -> the level of the run it reports on.
PIPELINE_EVENTS = {
    "ms.vss-pipelines.run-state-changed-event": "run",
    "ms.vss-pipelines.stage-state-changed-event": "stage",
    "ms.vss-pipelines.job-state-changed-event": "job",
}


def build(payload: Payload, resource: Payload) -> NormalizedEvent:
    """The event of a `build.complete` delivery."""
    definition = as_object(resource.get("definition"))
    name = first_text(definition.get("name"), identifier(definition.get("id")))
    if name is None:
        raise PayloadInvalid("Azure DevOps build.complete payload has no resource.definition name or id")
    project = project_of(payload, resource, definition)
    branch = branch_of(resource)
    result = (first_text(resource.get("result"), resource.get("status")) or "").strip()
    severity, status, key, word = _judge(result, f"azure_devops:{project}/{name}", branch)
    requested = as_object(resource.get("requestedFor")) or as_object(resource.get("lastChangedBy"))
    return NormalizedEvent(
        source=SOURCE,
        kind="build.complete",
        status=status,
        severity=severity,
        title=f"Build {name} {word}" + (f" on {branch}" if branch else ""),
        message=message_of(payload),
        service=name,
        grouping_key=key,
        labels=labels(
            project=project,
            definition=name,
            branch=branch,
            build_number=text(resource.get("buildNumber")),
            result=result or None,
            reason=text(resource.get("reason")),
            requested_for=text(requested.get("displayName")),
        ),
        links=_links(("Build", href(resource, "web")), ("Build (API)", resource.get("url"))),
        occurred_at=parse_time(resource.get("finishTime")) or parse_time(payload.get("createdDate")),
        extra=scalars(build_id=identifier(resource.get("id")), commit=commit_of(resource)),
    )


def pipeline(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    """A run, stage or job state change of a YAML pipeline."""
    level = PIPELINE_EVENTS[event_type]
    run = as_object(resource.get("run"))
    pipeline = as_object(resource.get("pipeline")) or as_object(run.get("pipeline"))
    name = first_text(pipeline.get("name"), identifier(pipeline.get("id")))
    if name is None:
        raise PayloadInvalid(f"Azure DevOps {event_type} payload has no resource.pipeline name or id")
    stage, job = as_object(resource.get("stage")), as_object(resource.get("job"))
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
    project = project_of(payload, resource, pipeline)
    branch = ref_name(
        as_object(as_object(as_object(run.get("resources")).get("repositories")).get("self")).get("refName")
    )
    state = (text(node.get("state")) or "").strip()
    outcome = text(node.get("result")) if state.lower() == "completed" else None
    severity, status, key, word = _judge(outcome or state, f"azure_devops:{project}/{'/'.join(path)}", branch)
    return NormalizedEvent(
        source=SOURCE,
        kind=event_type,
        status=status,
        severity=severity,
        title=f"{heading} {word}" + (f" on {branch}" if branch else ""),
        message=message_of(payload),
        service=name,
        grouping_key=key,
        labels=labels(
            project=project,
            pipeline=name,
            stage=text(stage.get("name")) if level != "run" else None,
            job=text(job.get("name")) if level == "job" else None,
            branch=branch,
            run=first_text(run.get("name"), identifier(run.get("id"))),
            state=state or None,
            result=outcome,
        ),
        links=_links(
            (level.capitalize(), href(node, "web")),
            ("Run", href(run, "web")),
            ("Pipeline", href(run, "pipeline.web")),
            ("Run (API)", run.get("url")),
        ),
        occurred_at=parse_time(node.get("finishTime"))
        or parse_time(node.get("finishedDate"))
        or parse_time(payload.get("createdDate")),
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
