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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import require_token
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

_HOOKS = {
    "pipeline hook": "pipeline",
    "job hook": "build",
    "deployment hook": "deployment",
    "merge request hook": "merge_request",
    "push hook": "push",
    "tag push hook": "tag_push",
}
_NO_OUTCOME_YET = frozenset(
    {"created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled", "canceling"}
)
_INCONCLUSIVE = frozenset({"canceled", "cancelled", "skipped"})
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_GITLAB_TIMES = ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z")


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
        delivery = _Delivery.read(kind, payload)
        built = _BUILDERS.get(kind, _other)(delivery)
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


@dataclass(frozen=True)
class _Delivery:
    """The parts of a delivery every builder reads: its kind and project."""

    kind: str
    payload: Payload
    project: str | None
    web_url: str | None
    default_branch: str | None

    @classmethod
    def read(cls, kind: str, payload: Payload) -> _Delivery:
        project, repository = _obj(payload.get("project")), _obj(payload.get("repository"))
        web = first_text(
            *(
                url
                for url in (project.get("web_url"), project.get("homepage"), repository.get("homepage"))
                if _http(url)
            )
        )
        return cls(
            kind=kind,
            payload=payload,
            # Older job payloads have no `project`: the repository homepage's path is the project path.
            project=first_text(
                project.get("path_with_namespace"),
                urlsplit(web).path.strip("/") if web else None,
                payload.get("project_name"),
                project.get("name"),
                payload.get("path_with_namespace"),
                payload.get("full_path"),
                payload.get("group_path"),
            ),
            web_url=web.rstrip("/") if web else None,
            default_branch=text(project.get("default_branch")),
        )

    def section(self, key: str) -> Payload:
        """`payload[key]` as an object, raising `PayloadInvalid` naming it when it is missing."""
        value = self.payload.get(key)
        if not isinstance(value, dict):
            raise PayloadInvalid(f"GitLab {self.kind} payload has no `{key}` object")
        return value

    def word(self, key: str) -> str:
        """A string field of the payload, lower-cased; `PayloadInvalid` naming it when it is missing."""
        value = text(self.payload.get(key))
        if value is None:
            raise PayloadInvalid(f"GitLab {self.kind} payload has no `{key}`")
        return value.strip().lower()

    def page(self, suffix: str, item: object) -> str | None:
        """A page of the project (`<web_url>/-/<suffix>/<item>`), when both are known."""
        found = _ident(item)
        return f"{self.web_url}/-/{suffix}/{found}" if self.web_url and found else None


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


def _outcome(d: _Delivery, o: _Outcome) -> NormalizedEvent:
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
        source=GitLabSource.name,
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


def _ref_severity(d: _Delivery, ref: str | None, tag: object) -> Severity:
    """High for a failure on the default branch, medium on any other branch, tag or merge-request ref."""
    return Severity.high if ref is not None and ref == d.default_branch and tag is not True else Severity.medium


def _pipeline(d: _Delivery) -> NormalizedEvent | None:
    attrs = d.section("object_attributes")
    status = (text(attrs.get("status")) or "").strip().lower()
    if not status or status in _NO_OUTCOME_YET:
        return None
    ref, commit, request = text(attrs.get("ref")), _obj(d.payload.get("commit")), _obj(d.payload.get("merge_request"))
    failed = [
        f"{name} ({text(build.get('stage')) or '?'})"
        for build in map(_obj, _list(d.payload.get("builds")))
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
            occurred=_time(attrs.get("finished_at")) or _time(attrs.get("created_at")),
            detail=f"Failed jobs: {', '.join(failed)}" if failed else _first_line(commit.get("message")),
            labels=_labels(
                commit=attrs.get("sha"),
                pipeline_id=_ident(attrs.get("id")),
                source=attrs.get("source"),
                merge_request=_ident(request.get("iid")),
                failed_jobs=",".join(failed),
            ),
        ),
    )


def _job(d: _Delivery) -> NormalizedEvent | None:
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
            occurred=_latest(d.payload, "build_finished_at_iso", "build_finished_at", "build_started_at"),
            detail=f"Failure reason: {reason}" if reason else None,
            environment=text(_obj(d.payload.get("environment")).get("name")),
            labels=_labels(
                commit=d.payload.get("sha"),
                stage=stage,
                job_id=_ident(d.payload.get("build_id")),
                pipeline_id=_ident(d.payload.get("pipeline_id")),
                failure_reason=reason,
                allow_failure=allowed,
            ),
        ),
    )


def _deployment(d: _Delivery) -> NormalizedEvent | None:
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
            occurred=_time(d.payload.get("status_changed_at")),
            detail=text(d.payload.get("commit_title")),
            environment=environment,
            labels=_labels(
                commit=d.payload.get("short_sha"),
                deployment_id=_ident(d.payload.get("deployment_id")),
                environment_tier=d.payload.get("environment_tier"),
            ),
            success_word="succeeded",
        ),
    )


def _merge_request(d: _Delivery) -> NormalizedEvent:
    attrs = d.section("object_attributes")
    iid = _ident(attrs.get("iid")) or "?"
    action = first_text(attrs.get("action"), attrs.get("state")) or "updated"
    return _record(
        d,
        title=f"Merge request !{iid} {action}: {text(attrs.get('title')) or 'untitled'} ({d.project or 'unknown'})",
        key=f"merge_request:{iid}",
        links=[("Merge request", attrs.get("url"))],
        occurred=_time(attrs.get("updated_at")) or _time(attrs.get("created_at")),
        labels=_labels(
            iid=iid,
            action=action,
            state=attrs.get("state"),
            source_branch=attrs.get("source_branch"),
            target_branch=attrs.get("target_branch"),
        ),
    )


def _push(d: _Delivery) -> NormalizedEvent:
    ref = text(d.payload.get("ref"))
    if ref is None or d.project is None:
        raise PayloadInvalid(f"GitLab {d.kind} payload has no `ref` or no project")
    commits = [_obj(commit) for commit in _list(d.payload.get("commits"))]
    total = d.payload.get("total_commits_count")
    count = total if isinstance(total, int) and not isinstance(total, bool) else len(commits)
    last = commits[-1] if commits else {}
    short = ref.removeprefix("refs/heads/").replace("refs/tags/", "tag ", 1)
    return _record(
        d,
        title=f"Push to {short} in {d.project}: {count} commit{'s' if count != 1 else ''}",
        key=f"{d.kind}:{ref}",
        links=[("Last commit", last.get("url"))],
        occurred=_time(last.get("timestamp")),
        message=_first_line(last.get("message")),
        labels=_labels(
            ref=ref,
            before=d.payload.get("before"),
            after=d.payload.get("after"),
            user=first_text(d.payload.get("user_username"), d.payload.get("user_name")),
            commits=count,
        ),
    )


def _other(d: _Delivery) -> NormalizedEvent:
    """Any other hook (issue, note, release, member...), kept as a record."""
    attrs = _obj(d.payload.get("object_attributes"))
    action = first_text(attrs.get("action"), d.payload.get("action"))
    number = _ident(attrs.get("iid")) or _ident(attrs.get("id"))
    kind = d.kind.replace("_", " ")
    return _record(
        d,
        title=f"GitLab {kind}{' ' + action if action else ''} in {d.project or 'unknown'}"
        + (f": {text(attrs.get('title'))}" if text(attrs.get("title")) else ""),
        key=f"{d.kind}:{number}" if number else d.kind,
        links=[("Details", first_text(attrs.get("url"), d.payload.get("url")))],
        occurred=_time(attrs.get("updated_at")) or _time(d.payload.get("updated_at")),
        labels=_labels(action=action, number=number),
    )


def _record(
    d: _Delivery,
    *,
    title: str,
    key: str,
    links: list[tuple[str, object]],
    occurred: datetime | None,
    labels: dict[str, str],
    message: str | None = None,
) -> NormalizedEvent:
    """An informational event: recorded and correlatable, never an alert."""
    return NormalizedEvent(
        source=GitLabSource.name,
        kind=d.kind,
        status=Status.resolved,
        severity=Severity.info,
        title=title,
        message=message or "",
        service=d.project,
        grouping_key=f"gitlab:{d.project or 'unknown'}:{key}",
        labels={**_labels(project=d.project), **labels},
        links=_links(*links, ("Project", d.web_url)),
        occurred_at=occurred,
    )


_BUILDERS: dict[str, Callable[[_Delivery], NormalizedEvent | None]] = {
    "pipeline": _pipeline,
    "build": _job,
    "deployment": _deployment,
    "merge_request": _merge_request,
    "push": _push,
    "tag_push": _push,
}


def _obj(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _http(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _ident(value: object) -> str | None:
    """An id given as a string or a plain integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    found = text(value)
    return found.strip() if found else None


def _first_line(value: object) -> str | None:
    found = text(value)
    return found.strip().splitlines()[0] if found else None


def _time(value: object) -> datetime | None:
    """ISO 8601, or GitLab's `2016-08-12 15:26:29 UTC` and `2021-04-28 21:50:00 +0200` forms."""
    parsed = parse_time(value)
    if parsed is not None or not isinstance(value, str):
        return parsed
    for layout in _GITLAB_TIMES:
        try:
            found = datetime.strptime(value.strip(), layout)
        except (ValueError, OverflowError):
            continue
        return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
    return None


def _latest(payload: Payload, *keys: str) -> datetime | None:
    for key in keys:
        if found := _time(payload.get(key)):
            return found
    return None
