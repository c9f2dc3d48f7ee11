"""GitHub CI outcomes: workflow runs and jobs, check runs and suites, and commit statuses.

Every kind of run becomes a `_Run` and then one event shaped by `_ci`, so a failure and the
success that fixes it share a grouping key whichever event reported them. The outcome table
is in the `github` module's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import as_list, as_object, first_line, first_text, identifier, parse_time, text
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._github_delivery import SOURCE, Delivery, Payload, first_object

# Conclusion -> the words of the title; these fire.
_FAILING = {
    "failure": "CI build failed",
    "timed_out": "CI build failed (timed out)",
    "startup_failure": "CI build failed (startup failure)",
    "error": "CI build failed (error)",
}


# Actions that say an outcome exists; a `rerequested` or `requested_action` click repeats an old one.
_OUTCOME_ACTIONS = frozenset({"", "completed", "created"})


def _finished(run: Payload, action: str) -> bool:
    """True when a run, job or check has an outcome, delivered by the action that reports it."""
    status = (text(run.get("status")) or "").lower()
    if status and status != "completed":
        return False
    return action in _OUTCOME_ACTIONS and bool(status or text(run.get("conclusion")))


@dataclass(frozen=True)
class _Run:
    """One CI outcome, whichever GitHub event carried it."""

    name: str
    what: str
    branch: str | None
    sha: str | None
    conclusion: str
    links: list[tuple[str, object]]
    occurred: datetime | None
    detail: str | None = None
    prs: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None


def _ci(d: Delivery, run: _Run) -> NormalizedEvent:
    """The event of a finished CI run: fires on failure, resolves on success (same key)."""
    repo = d.repo or "unknown"
    where = run.branch or run.sha or "unknown"
    key = f"github:{repo}:{run.name}:{where}"
    if run.conclusion in _FAILING:
        status, verdict = Status.firing, _FAILING[run.conclusion]
        on_default = run.branch is not None and run.branch == d.default_branch
        severity = Severity.high if on_default else Severity.medium
    elif run.conclusion == "success":
        status, verdict, severity = Status.resolved, "CI passed", Severity.info
    else:
        inconclusive = run.conclusion or "unknown"
        status, verdict, severity = Status.resolved, "CI " + inconclusive.replace("_", " "), Severity.info
        key = f"{key}:{inconclusive}"
    commit = f" at {run.sha[:7]}" if run.sha else ""
    message = f"{run.what} concluded {run.conclusion or 'without a conclusion'} on {where}{commit}."
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=status,
        severity=severity,
        title=f"{verdict}: {run.what} on {where} in {repo}",
        message=f"{message}\n{run.detail}" if run.detail else message,
        service=d.repo,
        grouping_key=key,
        labels=_labels(
            repository=d.repo,
            branch=run.branch,
            commit=run.sha,
            check=run.name,
            conclusion=run.conclusion,
            pull_requests=",".join(run.prs),
        ),
        links=_links(*run.links, ("Repository", d.repo_url)),
        occurred_at=run.occurred,
        extra={**(run.extra or {}), **({"pull_requests": list(run.prs)} if run.prs else {})},
    )


def _conclusion(item: Payload) -> str:
    return (text(item.get("conclusion")) or "").strip().lower()


def workflow_run(d: Delivery) -> NormalizedEvent | None:
    """The outcome of a finished workflow run, named after its workflow."""
    run = d.section("workflow_run")
    if not _finished(run, d.action):
        return None
    workflow = as_object(d.payload.get("workflow"))
    # The workflow's own name is stable; a run's name can be a per-run `run-name`.
    name = first_text(workflow.get("name"), run.get("name"), run.get("path")) or "workflow"
    head = as_object(run.get("head_commit"))
    return _ci(
        d,
        _Run(
            name=name,
            what=f"workflow {name}",
            branch=text(run.get("head_branch")),
            sha=first_text(run.get("head_sha"), head.get("id")),
            conclusion=_conclusion(run),
            prs=_pr_numbers(run.get("pull_requests")),
            links=[("Workflow run", run.get("html_url")), ("Workflow file", workflow.get("html_url"))],
            occurred=parse_time(run.get("updated_at")) or parse_time(run.get("run_started_at")),
            detail=first_line(first_text(run.get("display_title"), head.get("message"))),
            extra=_scalars(
                run_id=run.get("id"),
                run_number=run.get("run_number"),
                run_attempt=run.get("run_attempt"),
                trigger=run.get("event"),
                workflow_path=run.get("path"),
            ),
        ),
    )


def workflow_job(d: Delivery) -> NormalizedEvent | None:
    """The outcome of a finished job, naming the steps that failed."""
    job = d.section("workflow_job")
    if not _finished(job, d.action):
        return None
    workflow = text(job.get("workflow_name"))
    job_name = text(job.get("name")) or "job"
    steps = as_list(job.get("steps"))
    failed = [
        name
        for step in steps
        if isinstance(step, dict) and _conclusion(step) in _FAILING and (name := text(step.get("name")))
    ]
    return _ci(
        d,
        _Run(
            name=f"{workflow}/{job_name}" if workflow else job_name,
            what=f"job {job_name}" + (f" of workflow {workflow}" if workflow else ""),
            branch=text(job.get("head_branch")),
            sha=text(job.get("head_sha")),
            conclusion=_conclusion(job),
            links=[("Job", job.get("html_url"))],
            occurred=parse_time(job.get("completed_at")) or parse_time(job.get("started_at")),
            detail=f"Failed steps: {', '.join(failed)}" if failed else None,
            extra=_scalars(
                job_id=job.get("id"),
                run_id=job.get("run_id"),
                run_attempt=job.get("run_attempt"),
                runner=job.get("runner_name"),
            ),
        ),
    )


def check_run(d: Delivery) -> NormalizedEvent | None:
    """The outcome of a finished check run."""
    run = d.section("check_run")
    if not _finished(run, d.action):
        return None
    suite = as_object(run.get("check_suite"))
    output = as_object(run.get("output"))
    name = text(run.get("name")) or "check"
    return _ci(
        d,
        _Run(
            name=name,
            what=f"check {name}",
            branch=first_text(suite.get("head_branch"), _pr_head(run.get("pull_requests"))),
            sha=first_text(run.get("head_sha"), suite.get("head_sha")),
            conclusion=_conclusion(run),
            prs=_pr_numbers(run.get("pull_requests")),
            links=[("Check run", run.get("html_url")), ("Details", run.get("details_url"))],
            occurred=parse_time(run.get("completed_at")) or parse_time(run.get("started_at")),
            detail=first_text(output.get("title"), output.get("summary")),
            extra=_scalars(check_run_id=run.get("id"), app=as_object(run.get("app")).get("name")),
        ),
    )


def check_suite(d: Delivery) -> NormalizedEvent | None:
    """The outcome of a finished check suite, named after the app that ran it."""
    suite = d.section("check_suite")
    if not _finished(suite, d.action):
        return None
    app = as_object(suite.get("app"))
    # A suite has no name of its own; the app that ran it (one suite per app and commit) names it.
    name = first_text(app.get("name"), app.get("slug")) or "check suite"
    return _ci(
        d,
        _Run(
            name=name,
            what=f"check suite {name}",
            branch=first_text(suite.get("head_branch"), _pr_head(suite.get("pull_requests"))),
            sha=text(suite.get("head_sha")),
            conclusion=_conclusion(suite),
            prs=_pr_numbers(suite.get("pull_requests")),
            links=[],
            occurred=parse_time(suite.get("updated_at")),
            detail=first_line(as_object(suite.get("head_commit")).get("message")),
            extra=_scalars(check_suite_id=suite.get("id")),
        ),
    )


def commit_status(d: Delivery) -> NormalizedEvent | None:
    """The outcome of a commit status; a pending one gives no event."""
    context = text(d.payload.get("context"))
    if context is None:
        raise PayloadInvalid("GitHub status payload has no `context`")
    state = (text(d.payload.get("state")) or "").strip().lower()
    if state not in ("success", "failure", "error"):
        return None  # pending: no outcome yet
    sha = text(d.payload.get("sha"))
    return _ci(
        d,
        _Run(
            name=context,
            what=f"status {context}",
            branch=_status_branch(d.payload.get("branches"), sha, d.default_branch),
            sha=sha,
            conclusion=state,
            links=[
                ("Details", d.payload.get("target_url")),
                ("Commit", as_object(d.payload.get("commit")).get("html_url")),
            ],
            occurred=parse_time(d.payload.get("updated_at")) or parse_time(d.payload.get("created_at")),
            detail=text(d.payload.get("description")),
            extra=_scalars(status_id=d.payload.get("id")),
        ),
    )


def _status_branch(branches: object, sha: str | None, default: str | None) -> str | None:
    """The branch a status belongs to: the one whose head is the commit, else the default branch, else the first."""
    names: list[str] = []
    for branch in as_list(branches):
        name = text(as_object(branch).get("name"))
        if name is None:
            continue
        if sha and text(as_object(as_object(branch).get("commit")).get("sha")) == sha:
            return name
        names.append(name)
    if default in names:
        return default
    return names[0] if names else None


def _pr_numbers(value: object) -> tuple[str, ...]:
    return tuple(number for item in as_list(value) if (number := identifier(as_object(item).get("number"))))


def _pr_head(value: object) -> str | None:
    """The head branch of the first pull request a check belongs to (forks leave head_branch empty)."""
    return text(as_object(first_object(value).get("head")).get("ref"))
