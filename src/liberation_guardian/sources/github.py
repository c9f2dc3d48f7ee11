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

Grouping keys: `github:<owner/repo>:<workflow, workflow/job, check, app or status context>:<branch>`
(the commit sha when GitHub names no branch), `github:<repo>:dependabot:<alert number>`,
`github:<repo>:code_scanning:<n>`, `github:<repo>:secret_scanning:<n>`,
`github:<repo>:push:<ref>`, `github:<repo>:pull_request:<n>`, `github:advisory:<GHSA id>`.

Vendor docs: https://docs.github.com/en/webhooks/webhook-events-and-payloads and
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
Fixtures: github/*.json (workflow_run, workflow_job, check_run, check_suite, status, push,
pull_request, dependabot_alert, code_scanning_alert, secret_scanning_alert, security_advisory, ping).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, StackFrame, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

# Conclusion -> the words of the title; these fire.
_FAILING = {
    "failure": "CI build failed",
    "timed_out": "CI build failed (timed out)",
    "startup_failure": "CI build failed (startup failure)",
    "error": "CI build failed (error)",
}
_ADVISORY_SEVERITY = {
    "critical": Severity.critical,
    "high": Severity.high,
    "moderate": Severity.medium,
    "medium": Severity.medium,
    "low": Severity.low,
}
_RULE_SEVERITY = {"error": Severity.high, "warning": Severity.medium, "note": Severity.low, "none": Severity.info}
# Actions that say an outcome exists; a `rerequested` or `requested_action` click repeats an old one.
_OUTCOME_ACTIONS = frozenset({"", "completed", "created"})
_OPEN_STATES = frozenset({"open"})


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

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one delivery into at most one event."""
        payload = load_json_object(body)
        event = (headers.get("x-github-event") or "").strip().lower() or _sniff(payload)
        if event == "ping":
            return []
        delivery = _Delivery.read(event, payload)
        built = _BUILDERS.get(event, _other)(delivery)
        if built is None:
            return []
        common = _scalars(
            event=event, action=delivery.action, delivery=headers.get("x-github-delivery"), repository=delivery.repo
        )
        return [built.model_copy(update={"extra": {**common, **built.extra}})]


@dataclass(frozen=True)
class _Delivery:
    """The parts of a delivery every builder reads: its event, action and repository."""

    event: str
    payload: Payload
    action: str
    repo: str | None
    repo_url: str | None
    default_branch: str | None

    @classmethod
    def read(cls, event: str, payload: Payload) -> _Delivery:
        repository = _obj(payload.get("repository"))
        return cls(
            event=event,
            payload=payload,
            action=(text(payload.get("action")) or "").strip().lower(),
            repo=text(repository.get("full_name")),
            repo_url=text(repository.get("html_url")),
            default_branch=first_text(repository.get("default_branch"), repository.get("master_branch")),
        )

    def section(self, key: str) -> Payload:
        """`payload[key]` as an object, raising `PayloadInvalid` naming it when it is missing."""
        value = self.payload.get(key)
        if not isinstance(value, dict):
            raise PayloadInvalid(f"GitHub {self.event} payload has no `{key}` object")
        return value


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


def _ci(d: _Delivery, run: _Run) -> NormalizedEvent:
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
        source=GitHubSource.name,
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


def _workflow_run(d: _Delivery) -> NormalizedEvent | None:
    run = d.section("workflow_run")
    if not _finished(run, d.action):
        return None
    workflow = _obj(d.payload.get("workflow"))
    # The workflow's own name is stable; a run's name can be a per-run `run-name`.
    name = first_text(workflow.get("name"), run.get("name"), run.get("path")) or "workflow"
    head = _obj(run.get("head_commit"))
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
            detail=_first_line(first_text(run.get("display_title"), head.get("message"))),
            extra=_scalars(
                run_id=run.get("id"),
                run_number=run.get("run_number"),
                run_attempt=run.get("run_attempt"),
                trigger=run.get("event"),
                workflow_path=run.get("path"),
            ),
        ),
    )


def _workflow_job(d: _Delivery) -> NormalizedEvent | None:
    job = d.section("workflow_job")
    if not _finished(job, d.action):
        return None
    workflow = text(job.get("workflow_name"))
    job_name = text(job.get("name")) or "job"
    steps = _list(job.get("steps"))
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


def _check_run(d: _Delivery) -> NormalizedEvent | None:
    run = d.section("check_run")
    if not _finished(run, d.action):
        return None
    suite = _obj(run.get("check_suite"))
    output = _obj(run.get("output"))
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
            extra=_scalars(check_run_id=run.get("id"), app=_obj(run.get("app")).get("name")),
        ),
    )


def _check_suite(d: _Delivery) -> NormalizedEvent | None:
    suite = d.section("check_suite")
    if not _finished(suite, d.action):
        return None
    app = _obj(suite.get("app"))
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
            detail=_first_line(_obj(suite.get("head_commit")).get("message")),
            extra=_scalars(check_suite_id=suite.get("id")),
        ),
    )


def _status(d: _Delivery) -> NormalizedEvent | None:
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
            links=[("Details", d.payload.get("target_url")), ("Commit", _obj(d.payload.get("commit")).get("html_url"))],
            occurred=parse_time(d.payload.get("updated_at")) or parse_time(d.payload.get("created_at")),
            detail=text(d.payload.get("description")),
            extra=_scalars(status_id=d.payload.get("id")),
        ),
    )


def _status_branch(branches: object, sha: str | None, default: str | None) -> str | None:
    """The branch a status belongs to: the one whose head is the commit, else the default branch, else the first."""
    names: list[str] = []
    for branch in _list(branches):
        name = text(_obj(branch).get("name"))
        if name is None:
            continue
        if sha and text(_obj(_obj(branch).get("commit")).get("sha")) == sha:
            return name
        names.append(name)
    if default in names:
        return default
    return names[0] if names else None


def _alert_status(action: str, state: object, firing: frozenset[str], resolved: frozenset[str]) -> Status:
    """Firing or resolved from the alert's action, else from its state; open unless told otherwise."""
    if action in firing:
        return Status.firing
    if action in resolved:
        return Status.resolved
    word = (text(state) or "").strip().lower()
    return Status.resolved if word and word not in _OPEN_STATES else Status.firing


def _dependabot_alert(d: _Delivery) -> NormalizedEvent:
    alert = d.section("alert")
    advisory, vulnerability = _obj(alert.get("security_advisory")), _obj(alert.get("security_vulnerability"))
    dependency = _obj(alert.get("dependency"))
    package = _obj(vulnerability.get("package")) or _obj(dependency.get("package"))
    name, ecosystem = text(package.get("name")), text(package.get("ecosystem"))
    number, ghsa, cve = _ident(alert.get("number")), text(advisory.get("ghsa_id")), text(advisory.get("cve_id"))
    summary = text(advisory.get("summary"))
    level = first_text(advisory.get("severity"), vulnerability.get("severity"))
    status = _alert_status(
        d.action,
        alert.get("state"),
        frozenset({"created", "reopened", "auto_reopened", "reintroduced"}),
        frozenset({"fixed", "dismissed", "auto_dismissed"}),
    )
    affected = text(vulnerability.get("vulnerable_version_range"))
    patched = text(_obj(vulnerability.get("first_patched_version")).get("identifier"))
    ids = " / ".join(i for i in (ghsa, cve) if i) or "advisory"
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=status,
        severity=_ADVISORY_SEVERITY.get((level or "").lower(), Severity.medium)
        if status is Status.firing
        else Severity.info,
        title=f"Vulnerable dependency {name or 'package'}"
        + (f" ({ecosystem})" if ecosystem else "")
        + f" in {d.repo or 'a repository'}"
        + (f": {summary}" if summary else ""),
        message=f"{ids}: versions {affected or '(range not given)'} are affected; "
        + (f"patched in {patched}." if patched else "no patched version yet."),
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:dependabot:{number or ghsa or name or 'unknown'}",
        labels=_labels(
            package=name,
            ecosystem=ecosystem,
            vulnerable_version_range=affected,
            patched_version=patched,
            ghsa_id=ghsa,
            cve_id=cve,
            advisory_severity=level,
            manifest_path=dependency.get("manifest_path"),
            scope=dependency.get("scope"),
            state=alert.get("state"),
            alert_number=number,
        ),
        links=_links(("Dependabot alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "fixed_at", "auto_dismissed_at", "dismissed_at", "updated_at", "created_at"),
        extra=_scalars(summary=summary, cvss_score=_obj(advisory.get("cvss")).get("score")),
    )


def _code_scanning_alert(d: _Delivery) -> NormalizedEvent:
    alert = d.section("alert")
    rule, tool = _obj(alert.get("rule")), _obj(alert.get("tool"))
    instance = _obj(alert.get("most_recent_instance")) or _first_object(alert.get("instances"))
    location = _obj(instance.get("location"))
    number = _ident(alert.get("number"))
    status = _alert_status(
        d.action,
        alert.get("state"),
        frozenset({"created", "reopened", "reopened_by_user", "appeared_in_branch"}),
        frozenset({"fixed", "closed_by_user"}),
    )
    level = (text(rule.get("security_severity_level")) or "").lower()
    rule_level = (text(rule.get("severity")) or "").lower()
    severity = _ADVISORY_SEVERITY.get(level) or _RULE_SEVERITY.get(rule_level, Severity.medium)
    path, line = text(location.get("path")), location.get("start_line")
    frames = [StackFrame(filename=path, lineno=line if _small_int(line) else None, in_app=True)] if path else []
    ref = first_text(d.payload.get("ref"), instance.get("ref"))
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=status,
        severity=severity if status is Status.firing else Severity.info,
        title=f"Code scanning security alert in {d.repo or 'a repository'}: "
        + (first_text(rule.get("description"), rule.get("name"), rule.get("id")) or "unnamed rule"),
        message=first_text(rule.get("full_description"), _obj(instance.get("message")).get("text")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:code_scanning:{number or rule.get('id') or 'unknown'}",
        labels=_labels(
            rule_id=rule.get("id"),
            rule_severity=rule_level,
            security_severity_level=level,
            tool=tool.get("name"),
            branch=_branch(ref),
            commit=first_text(d.payload.get("commit_oid"), instance.get("commit_sha")),
            location=f"{path}:{line}" if path and _small_int(line) else path,
            state=alert.get("state"),
            alert_number=number,
        ),
        stack_frames=frames,
        links=_links(("Code scanning alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "fixed_at", "dismissed_at", "updated_at", "created_at"),
    )


def _secret_scanning_alert(d: _Delivery) -> NormalizedEvent:
    alert = d.section("alert")
    number = _ident(alert.get("number"))
    status = _alert_status(
        d.action,
        alert.get("state") or ("resolved" if text(alert.get("resolution")) else None),
        frozenset({"created", "reopened", "publicly_leaked"}),
        frozenset({"resolved"}),
    )
    kind = first_text(alert.get("secret_type_display_name"), alert.get("secret_type")) or "secret"
    # The secret itself (`alert.secret`) is deliberately never copied into the event.
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=status,
        severity=Severity.critical if status is Status.firing else Severity.info,
        title=f"Leaked secret in {d.repo or 'a repository'}: {kind} (secret scanning alert #{number or '?'})",
        message=f"A {kind} was found in the repository; revoke and rotate it."
        if status is Status.firing
        else f"Secret scanning alert resolved ({text(alert.get('resolution')) or 'no reason given'}).",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:secret_scanning:{number or 'unknown'}",
        labels=_labels(
            secret_type=alert.get("secret_type"),
            resolution=alert.get("resolution"),
            validity=alert.get("validity"),
            publicly_leaked=alert.get("publicly_leaked"),
            push_protection_bypassed=alert.get("push_protection_bypassed"),
            alert_number=number,
        ),
        links=_links(("Secret scanning alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "resolved_at", "updated_at", "created_at"),
    )


def _security_advisory(d: _Delivery) -> NormalizedEvent:
    advisory = d.section("security_advisory")
    ghsa, summary = text(advisory.get("ghsa_id")), text(advisory.get("summary"))
    packages = []
    for item in _list(advisory.get("vulnerabilities")):
        package = _obj(_obj(item).get("package"))
        if name := text(package.get("name")):
            packages.append(f"{text(package.get('ecosystem')) or '?'}:{name}")
    references = _list(advisory.get("references"))
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Security advisory{' ' + ghsa if ghsa else ''} {d.action or 'received'}: {summary or 'no summary'}",
        message=text(advisory.get("description")) or "",
        grouping_key=f"github:advisory:{ghsa}" if ghsa else None,
        labels=_labels(
            ghsa_id=ghsa, cve_id=advisory.get("cve_id"), severity=advisory.get("severity"), packages=",".join(packages)
        ),
        links=_links(
            ("Advisory", advisory.get("html_url")),
            *(("Reference", _obj(ref).get("url")) for ref in references[:3]),
        ),
        occurred_at=_latest(advisory, "withdrawn_at", "updated_at", "published_at"),
    )


def _push(d: _Delivery) -> NormalizedEvent:
    ref = text(d.payload.get("ref"))
    if ref is None or d.repo is None:
        raise PayloadInvalid("GitHub push payload has no `ref` or no repository.full_name")
    commits = _list(d.payload.get("commits"))
    head = _obj(d.payload.get("head_commit"))
    short = ref.removeprefix("refs/heads/").replace("refs/tags/", "tag ", 1)
    if d.payload.get("deleted") is True:
        title = f"{short} deleted in {d.repo}"
    else:
        title = f"Push to {short} in {d.repo}: {len(commits)} commit{'s' if len(commits) != 1 else ''}"
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=title,
        message=_first_line(head.get("message")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo}:push:{ref}",
        labels=_labels(
            ref=ref,
            before=d.payload.get("before"),
            after=d.payload.get("after"),
            pusher=_obj(d.payload.get("pusher")).get("name"),
            created=d.payload.get("created"),
            deleted=d.payload.get("deleted"),
            forced=d.payload.get("forced"),
        ),
        links=_links(("Compare", d.payload.get("compare")), ("Head commit", head.get("url"))),
        occurred_at=parse_time(head.get("timestamp")),
    )


def _pull_request(d: _Delivery) -> NormalizedEvent:
    pr = d.section("pull_request")
    number = _ident(d.payload.get("number")) or _ident(pr.get("number")) or "?"
    verb = "merged" if d.action == "closed" and pr.get("merged") is True else d.action or "updated"
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Pull request #{number} {verb}: {text(pr.get('title')) or 'untitled'} ({d.repo or 'unknown'})",
        message=_first_line(pr.get("body")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:pull_request:{number}",
        labels=_labels(
            number=number,
            state=pr.get("state"),
            base=_obj(pr.get("base")).get("ref"),
            head=_obj(pr.get("head")).get("ref"),
            author=_obj(pr.get("user")).get("login"),
            draft=pr.get("draft"),
            merged=pr.get("merged"),
        ),
        links=_links(("Pull request", pr.get("html_url"))),
        occurred_at=parse_time(pr.get("updated_at")) or parse_time(pr.get("created_at")),
    )


def _other(d: _Delivery) -> NormalizedEvent:
    """Any other repository or organization event, kept as a record."""
    sender, organization = _obj(d.payload.get("sender")), _obj(d.payload.get("organization"))
    owner = d.repo or text(organization.get("login"))
    if owner is None and text(sender.get("login")) is None:
        raise PayloadInvalid(f"not a GitHub {d.event!r} payload: no repository, organization or sender")
    where = f" in {owner}" if owner else ""
    return NormalizedEvent(
        source=GitHubSource.name,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"GitHub {d.event}{' ' + d.action if d.action else ''}{where}",
        service=d.repo,
        grouping_key=f"github:{owner or text(sender.get('login'))}:{d.event}",
        links=_links(("Repository", d.repo_url)),
    )


_BUILDERS: dict[str, Callable[[_Delivery], NormalizedEvent | None]] = {
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "status": _status,
    "dependabot_alert": _dependabot_alert,
    "code_scanning_alert": _code_scanning_alert,
    "secret_scanning_alert": _secret_scanning_alert,
    "security_advisory": _security_advisory,
    "push": _push,
    "pull_request": _pull_request,
}


def _obj(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _first_object(value: object) -> Payload:
    return _obj(value[0]) if isinstance(value, list) and value else {}


def _small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _ident(value: object) -> str | None:
    """An id or number given as a string or a plain integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    found = text(value)
    return found.strip() if found else None


def _branch(ref: str | None) -> str | None:
    return ref.removeprefix("refs/heads/") if ref else None


def _first_line(value: object) -> str | None:
    found = text(value)
    return found.strip().splitlines()[0] if found else None


def _pr_numbers(value: object) -> tuple[str, ...]:
    return tuple(number for item in _list(value) if (number := _ident(_obj(item).get("number"))))


def _pr_head(value: object) -> str | None:
    """The head branch of the first pull request a check belongs to (forks leave head_branch empty)."""
    return text(_obj(_first_object(value).get("head")).get("ref"))


def _latest(item: Payload, *keys: str) -> datetime | None:
    """The first of `keys` that holds a time (callers list the most recent kind of time first)."""
    for key in keys:
        if found := parse_time(item.get(key)):
            return found
    return None
