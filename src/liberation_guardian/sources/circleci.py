"""CircleCI outbound webhooks: `workflow-completed` and `job-completed`, one event per delivery.

Event kinds (`kind` is the `circleci-event-type` header, else the body's `type`):

- `workflow-completed`: a workflow reached a terminal state.
- `job-completed`: a job reached a terminal state.
- `ping` (the "Test Ping Event" button): no event.

Signature: with a secret token set on the webhook, CircleCI sends
`circleci-signature: v1=<hex HMAC-SHA256 of the raw body>`, a comma-separated list of
versioned signatures; only `v1` exists, and a request passes when one `v1` entry matches.
CircleCI signs no delivery time (`happened_at` is when the workflow ended, and retries resend
the same body later), so no replay window is enforced; the body's `id` identifies retries.

| `status`                          | Severity | Status   | grouping key                                       |
|-----------------------------------|----------|----------|----------------------------------------------------|
| failed, error, failing            | high     | firing   | `circleci:<project slug>/<workflow>@<branch>`      |
| unauthorized                      | medium   | firing   | same                                               |
| success                           | info     | resolved | same, so it resolves the failure                   |
| canceled, on_hold, anything else  | info     | resolved | same plus `:<status>` (no verdict on the workflow) |

Jobs are keyed `circleci:<project slug>/<workflow>/<job>@<branch>`. `<branch>` is
`pipeline.vcs.branch` (GitHub OAuth and Bitbucket Cloud projects), else
`pipeline.trigger_parameters.git.branch` or `.gitlab.branch` (GitLab, GitHub App, Bitbucket Data
Center); a tag build uses `tag:<tag>`; with neither the key has no `@` part.

Vendor docs: https://circleci.com/docs/webhooks-reference/ and https://circleci.com/docs/webhooks/
Fixtures: circleci/workflow-completed-success-github.json, circleci/job-completed-success-github.json,
circleci/workflow-completed-failed-gitlab.json, tests/sources/payloads/circleci/*.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import hmac_hex, require_any_hmac
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

# status -> (severity, status, wording); statuses not listed give no verdict.
_VERDICTS: dict[str, tuple[Severity, Status, str]] = {
    "failed": (Severity.high, Status.firing, "failed"),
    "error": (Severity.high, Status.firing, "errored"),
    "failing": (Severity.high, Status.firing, "is failing"),
    "unauthorized": (Severity.medium, Status.firing, "was not authorized to run"),
    "success": (Severity.info, Status.resolved, "succeeded"),
}
_WORDS = {"canceled": "was canceled", "on_hold": "is on hold"}
_KINDS = ("workflow-completed", "job-completed")
_PING = "ping"
_HEADER = "circleci-signature"


class CircleCISource(Source):
    """CircleCI project outbound webhooks."""

    name: ClassVar[str] = "circleci"
    group: ClassVar[str] = "ci_cd"
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "circleci-signature: v1=<hex HMAC-SHA256 of the body>"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require a `v1` entry of `circleci-signature` that matches the raw body, when a secret is configured."""
        if self.secret is None:
            return
        given = headers.get(_HEADER)
        if not given or not given.strip():
            raise Unauthorized(f"missing signature header {_HEADER}")
        candidates = []
        for entry in given.split(","):
            version, _, value = entry.strip().partition("=")
            # Only v1 is checked: a newer version CircleCI may add must not be downgraded to an unchecked one.
            if version.strip().lower() == "v1":
                candidates.append(value)
        if not candidates:
            raise Unauthorized(f"{_HEADER} has no v1 signature")
        require_any_hmac(self.secret, body, candidates, header=_HEADER)

    def sign(self, body: bytes) -> dict[str, str]:
        """The `circleci-signature` CircleCI would send for `body` with the configured secret."""
        return {} if self.secret is None else {"circleci-signature": "v1=" + hmac_hex(self.secret, body)}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one delivery into one event (none for a ping)."""
        payload = load_json_object(body)
        kind = ((headers.get("circleci-event-type") or "").strip() or text(payload.get("type")) or "").strip()
        if not kind:
            raise PayloadInvalid("not a CircleCI webhook: no circleci-event-type header and no `type`")
        if kind.lower() == _PING:
            return []
        if kind not in _KINDS:
            raise PayloadInvalid(f"unsupported CircleCI event type {kind!r}")
        workflow = _section(payload, "workflow", kind)
        job = _section(payload, "job", kind) if kind == "job-completed" else None
        return [_event(payload, kind, workflow, job)]


def _event(payload: Payload, kind: str, workflow: Payload, job: Payload | None) -> NormalizedEvent:
    project = _object(payload.get("project"))
    slug = first_text(project.get("slug"), project.get("name"), project.get("id"))
    if slug is None:
        raise PayloadInvalid(f"CircleCI {kind} payload names no project: no project.slug, name or id")
    pipeline = _object(payload.get("pipeline"))
    workflow_name = first_text(workflow.get("name"), workflow.get("id")) or "workflow"
    branch, tag = _ref(pipeline)
    ref = branch or (f"tag:{tag}" if tag else None)
    path = f"{slug}/{workflow_name}"
    subject = f"workflow {workflow_name}"
    node = workflow
    if job is not None:
        job_name = first_text(job.get("name"), job.get("id")) or "job"
        path += f"/{job_name}"
        subject = f"job {job_name} of workflow {workflow_name}"
        node = job
    key = f"circleci:{path}" + (f"@{ref}" if ref else "")
    state = (text(node.get("status")) or "").strip().lower()
    if state in _VERDICTS:
        severity, status, word = _VERDICTS[state]
    else:
        severity, status, word = Severity.info, Status.resolved, _WORDS.get(state, state or "finished")
        key += f":{state or 'unknown'}"
    project_name = first_text(project.get("name"), slug)
    where = f" on {branch}" if branch else f" for tag {tag}" if tag else ""
    vcs = _object(pipeline.get("vcs"))
    commit = _object(vcs.get("commit"))
    trigger = _trigger_parameters(pipeline)
    return NormalizedEvent(
        source=CircleCISource.name,
        kind=kind,
        status=status,
        severity=severity,
        title=f"CircleCI {subject} {word}{where} ({project_name})",
        message=first_text(commit.get("subject"), trigger.get("commit_title"), trigger.get("commit_message")) or "",
        service=project_name,
        grouping_key=key,
        labels=_labels(
            project=slug,
            workflow=workflow_name,
            job=text(job.get("name")) if job is not None else None,
            branch=branch,
            tag=tag,
            status=state or None,
            pipeline_number=_number(pipeline.get("number")),
            revision=first_text(vcs.get("revision"), trigger.get("checkout_sha"), trigger.get("commit_sha")),
        ),
        links=_links(
            ("Workflow", workflow.get("url")),
            ("Repository", vcs.get("target_repository_url")),
            ("Repository", trigger.get("web_url")),
        ),
        occurred_at=parse_time(node.get("stopped_at")) or parse_time(payload.get("happened_at")),
        extra=_scalars(
            event_id=payload.get("id"),
            organization=_object(payload.get("organization")).get("name"),
            trigger=_object(pipeline.get("trigger")).get("type"),
            job_number=_number(job.get("number")) if job is not None else None,
        ),
    )


def _ref(pipeline: Payload) -> tuple[str | None, str | None]:
    """The branch and tag built: from `vcs`, else from `trigger_parameters.git` or `.gitlab`."""
    vcs = _object(pipeline.get("vcs"))
    parameters = _object(pipeline.get("trigger_parameters"))
    git, gitlab = _object(parameters.get("git")), _object(parameters.get("gitlab"))
    branch = first_text(vcs.get("branch"), git.get("branch"), gitlab.get("branch"))
    tag = first_text(vcs.get("tag"), git.get("tag"))
    return branch, None if branch else tag


def _trigger_parameters(pipeline: Payload) -> Payload:
    """The provider map of `trigger_parameters` (`gitlab`, `github_app`...), merged over `git`."""
    parameters = _object(pipeline.get("trigger_parameters"))
    merged: dict[str, Any] = dict(_object(parameters.get("git")))
    for name, value in parameters.items():
        if name not in ("git", "circleci", "webhook") and isinstance(value, dict):
            merged.update(value)
    return merged


def _section(payload: Payload, key: str, kind: str) -> Payload:
    section = payload.get(key)
    if not isinstance(section, dict):
        raise PayloadInvalid(f"CircleCI {kind} payload has no `{key}` object")
    return section


def _labels(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def _scalars(**values: object) -> dict[str, Any]:
    return {key: value for key, value in values.items() if isinstance(value, str) and value}


def _number(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}
