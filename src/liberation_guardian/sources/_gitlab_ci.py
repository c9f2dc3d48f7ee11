"""GitLab CI outcomes: pipelines, jobs and deployments.

Each becomes an `_Outcome` and then one event shaped by `_outcome`, so a failure and the success
that fixes it share a grouping key. The outcome table is in the `gitlab` module's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import as_list, as_object, first_line, identifier, text
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._gitlab_delivery import SOURCE, Delivery, gitlab_time, latest

_NO_OUTCOME_YET = frozenset(
    {"created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled", "canceling"}
)


@dataclass(frozen=True)
class _Outcome:
    """One CI or deployment outcome: what ran, where, and how it ended."""

    key: str
    what: str
    status: str
    ref: str | None
    failing: Severity
    links: list[tuple[str, object]]
    occurred: datetime | None
    detail: str | None = None
    environment: str | None = None
    labels: dict[str, str] | None = None
    success_word: str = "passed"


def _outcome(d: Delivery, o: _Outcome) -> NormalizedEvent:
    """Fire on failure, resolve on success with the same key; canceled and skipped resolve their own key."""
    key = o.key
    if o.status == "failed":
        status, severity, verdict = Status.firing, o.failing, "failed"
    elif o.status == "success":
        status, severity, verdict = Status.resolved, Severity.info, o.success_word
    else:
        status, severity, verdict = Status.resolved, Severity.info, o.status
        key = f"{key}:{o.status}"
    where = f" on {o.ref}" if o.ref else ""
    return NormalizedEvent(
        source=SOURCE,
        kind=d.kind,
        status=status,
        severity=severity,
        title=f"CI {o.what} {verdict}{where} in {d.project or 'unknown project'}",
        message=o.detail or "",
        service=d.project,
        environment=o.environment,
        grouping_key=key,
        labels={**_labels(project=d.project, ref=o.ref, status=o.status), **(o.labels or {})},
        links=_links(*o.links, ("Project", d.web_url)),
        occurred_at=o.occurred,
    )


def _ref_severity(d: Delivery, ref: str | None, tag: object) -> Severity:
    """High for a failure on the default branch, medium on any other branch, tag or merge-request ref."""
    return Severity.high if ref is not None and ref == d.default_branch and tag is not True else Severity.medium


def pipeline(d: Delivery) -> NormalizedEvent | None:
    """A finished pipeline, naming the jobs that failed it."""
    attrs = d.section("object_attributes")
    status = (text(attrs.get("status")) or "").strip().lower()
    if not status or status in _NO_OUTCOME_YET:
        return None
    ref, commit, request = (
        text(attrs.get("ref")),
        as_object(d.payload.get("commit")),
        as_object(d.payload.get("merge_request")),
    )
    failed = [
        f"{name} ({text(build.get('stage')) or '?'})"
        for build in map(as_object, as_list(d.payload.get("builds")))
        if text(build.get("status")) == "failed" and build.get("allow_failure") is not True
        if (name := text(build.get("name")))
    ]
    name = text(attrs.get("name"))
    return _outcome(
        d,
        _Outcome(
            key=f"gitlab:{d.project or 'unknown'}:pipeline:{ref or text(attrs.get('sha')) or 'unknown'}",
            what="pipeline" + (f" {name!r}" if name else ""),
            status=status,
            ref=ref,
            failing=_ref_severity(d, ref, attrs.get("tag")),
            links=[
                ("Pipeline", attrs.get("url") or d.page("pipelines", attrs.get("id"))),
                ("Commit", commit.get("url")),
                ("Merge request", request.get("url")),
            ],
            occurred=gitlab_time(attrs.get("finished_at")) or gitlab_time(attrs.get("created_at")),
            detail=f"Failed jobs: {', '.join(failed)}" if failed else first_line(commit.get("message")),
            labels=_labels(
                commit=attrs.get("sha"),
                pipeline_id=identifier(attrs.get("id")),
                source=attrs.get("source"),
                merge_request=identifier(request.get("iid")),
                failed_jobs=",".join(failed),
            ),
        ),
    )


def job(d: Delivery) -> NormalizedEvent | None:
    """A finished job (Job Hook, `object_kind` build)."""
    status = d.word("build_status")
    if status in _NO_OUTCOME_YET:
        return None
    name, stage = text(d.payload.get("build_name")) or "job", text(d.payload.get("build_stage"))
    ref, allowed = text(d.payload.get("ref")), d.payload.get("build_allow_failure") is True
    reason = text(d.payload.get("build_failure_reason")) if status == "failed" else None
    return _outcome(
        d,
        _Outcome(
            key=f"gitlab:{d.project or 'unknown'}:job:{name}:{ref or 'unknown'}",
            what=f"job {name}" + (f" (stage {stage})" if stage else ""),
            status=status,
            ref=ref,
            # A job allowed to fail does not fail its pipeline: worth a look, not a page.
            failing=Severity.low if allowed else _ref_severity(d, ref, d.payload.get("tag")),
            links=[
                ("Job", d.page("jobs", d.payload.get("build_id"))),
                ("Pipeline", d.page("pipelines", d.payload.get("pipeline_id"))),
            ],
            occurred=latest(d.payload, "build_finished_at_iso", "build_finished_at", "build_started_at"),
            detail=f"Failure reason: {reason}" if reason else None,
            environment=text(as_object(d.payload.get("environment")).get("name")),
            labels=_labels(
                commit=d.payload.get("sha"),
                stage=stage,
                job_id=identifier(d.payload.get("build_id")),
                pipeline_id=identifier(d.payload.get("pipeline_id")),
                failure_reason=reason,
                allow_failure=allowed,
            ),
        ),
    )


def deployment(d: Delivery) -> NormalizedEvent | None:
    """A finished deployment to an environment."""
    status = d.word("status")
    if status in _NO_OUTCOME_YET:
        return None
    environment = text(d.payload.get("environment"))
    return _outcome(
        d,
        _Outcome(
            key=f"gitlab:{d.project or 'unknown'}:deployment:{environment or 'unknown'}",
            what=f"deployment to {environment or 'an environment'}",
            status=status,
            ref=text(d.payload.get("ref")),
            failing=Severity.high,
            links=[
                ("Deploy job", d.payload.get("deployable_url")),
                ("Environment", d.payload.get("environment_external_url")),
                ("Commit", d.payload.get("commit_url")),
            ],
            occurred=gitlab_time(d.payload.get("status_changed_at")),
            detail=text(d.payload.get("commit_title")),
            environment=environment,
            labels=_labels(
                commit=d.payload.get("short_sha"),
                deployment_id=identifier(d.payload.get("deployment_id")),
                environment_tier=d.payload.get("environment_tier"),
            ),
            success_word="succeeded",
        ),
    )
