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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

# state -> (severity, status, whether it is a verdict on the build that may resolve a failure)
_STATES: dict[str, tuple[Severity, Status, bool]] = {
    "FAILED": (Severity.high, Status.firing, True),
    "STOPPED": (Severity.medium, Status.firing, True),
    "SUCCESSFUL": (Severity.info, Status.resolved, True),
}
_STATE_WORDS = {"FAILED": "failed", "STOPPED": "was stopped", "SUCCESSFUL": "succeeded", "INPROGRESS": "is in progress"}
_PING = "diagnostics:ping"
_MAX_COMMITS = 5


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
        return [_other(payload, key)]


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


def _commit_status(payload: Payload, key: str) -> list[NormalizedEvent]:
    status = _section(payload, "commit_status", key)
    repo, links = _repository(payload, status.get("repository"))
    state = (text(status.get("state")) or "").strip().upper()
    severity, event_status, verdict = _STATES.get(state, (Severity.info, Status.resolved, False))
    tool_key = first_text(status.get("key"), status.get("name")) or "build"
    branch = text(status.get("refname"))
    grouping = f"bitbucket:{repo}:status:{tool_key}" + (f"@{branch}" if branch else "")
    if not verdict:
        grouping += f":{(state or 'unknown').lower()}"
    name = first_text(status.get("name"), status.get("key")) or "Build"
    verb = _STATE_WORDS.get(state, f"is {state.lower() or 'reported'}")
    commit = _object(status.get("commit"))
    commit_href = text(_object(_object(status.get("links")).get("commit")).get("href"))
    sha = text(commit.get("hash")) or (commit_href.rstrip("/").rsplit("/", 1)[-1] if commit_href else None)
    labels = _labels(repository=repo, branch=branch, commit=sha, status_key=tool_key, state=state or None)
    return [
        NormalizedEvent(
            source=BitbucketSource.name,
            kind=key,
            status=event_status,
            severity=severity,
            title=f"{name} {verb}" + (f" on {branch}" if branch else "") + f" in {repo}",
            message=text(status.get("description")) or "",
            service=_service(payload, status.get("repository")),
            grouping_key=grouping,
            labels=labels,
            links=_links(("Build", status.get("url")), *links),
            occurred_at=parse_time(status.get("updated_on")) or parse_time(status.get("created_on")),
            extra=_scalars(type=status.get("type"), state=state),
        )
    ]


def _cloud_push(payload: Payload, key: str) -> list[NormalizedEvent]:
    push = _section(payload, "push", key)
    repo, repo_links = _repository(payload)
    changes = _objects(push.get("changes"))
    events = []
    for change in changes or [{}]:
        new, old = _object(change.get("new")), _object(change.get("old"))
        ref = new or old
        target = _object(new.get("target"))
        if change.get("created") is True:
            action = "created"
        elif change.get("closed") is True or (old and not new):
            action = "deleted"
        else:
            action = "force-pushed" if change.get("forced") is True else "updated"
        commits = _objects(change.get("commits"))
        events.append(
            _push_event(
                key,
                repo,
                ref_type=text(ref.get("type")),
                ref_name=text(ref.get("name")),
                action=action,
                sha=text(target.get("hash")),
                messages=[text(c.get("message")) for c in commits],
                service=_service(payload),
                when=parse_time(target.get("date")),
                links=[
                    ("Compare", _href(change, "html")),
                    ("Branch", _href(new, "html")),
                    ("Commit", _href(target, "html")),
                    *repo_links,
                ],
            )
        )
    return events


def _server_refs_changed(payload: Payload, key: str) -> list[NormalizedEvent]:
    changes = payload.get("changes")
    if not isinstance(changes, list):
        raise PayloadInvalid(f"Bitbucket {key} payload has no `changes` list")
    repo, repo_links = _repository(payload)
    actions = {"ADD": "created", "DELETE": "deleted", "UPDATE": "updated"}
    events = []
    for change in _objects(changes):
        ref = _object(change.get("ref"))
        change_type = (text(change.get("type")) or "").upper()
        events.append(
            _push_event(
                key,
                repo,
                ref_type=text(ref.get("type")),
                ref_name=first_text(ref.get("displayId"), ref.get("id"), change.get("refId")),
                action=actions.get(change_type, "updated"),
                # A deleted ref "moves" to the all-zero hash; the commit it pointed at is the one to show.
                sha=text(change.get("fromHash")) if change_type == "DELETE" else text(change.get("toHash")),
                messages=[],
                service=_service(payload),
                when=parse_time(payload.get("date")),
                links=list(repo_links),
            )
        )
    return events


def _push_event(
    key: str,
    repo: str,
    *,
    ref_type: str | None,
    ref_name: str | None,
    action: str,
    sha: str | None,
    messages: list[str | None],
    service: str | None,
    when: datetime | None,
    links: list[tuple[str, object]],
) -> NormalizedEvent:
    """The record of one pushed branch or tag."""
    kind_word = (ref_type or "ref").lower()
    subjects = [message.strip().splitlines()[0] for message in messages if message and message.strip()]
    return NormalizedEvent(
        source=BitbucketSource.name,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{kind_word.capitalize()} {ref_name} {action} in {repo}" if ref_name else f"Push to {repo}",
        message="\n".join(subjects[:_MAX_COMMITS]),
        service=service,
        grouping_key=f"bitbucket:{repo}:push" + (f":{ref_name}" if ref_name else ""),
        labels=_labels(repository=repo, ref=ref_name, ref_type=kind_word, commit=sha, action=action),
        links=_links(*links),
        occurred_at=when,
        extra={"commits": len(messages)} if messages else {},
    )


def _cloud_pull_request(payload: Payload, key: str) -> list[NormalizedEvent]:
    pr = _section(payload, "pullrequest", key)
    destination = _object(pr.get("destination"))
    repo, repo_links = _repository(payload, destination.get("repository"))
    return [
        _pull_request_event(
            key,
            repo,
            number=_identifier(pr.get("id")),
            title=text(pr.get("title")),
            state=text(pr.get("state")),
            source_branch=text(_object(_object(pr.get("source")).get("branch")).get("name")),
            target_branch=text(_object(destination.get("branch")).get("name")),
            service=_service(payload, destination.get("repository")),
            when=parse_time(pr.get("updated_on")) or parse_time(pr.get("created_on")),
            links=[("Pull request", _href(pr, "html")), *repo_links],
        )
    ]


def _server_pull_request(payload: Payload, key: str) -> list[NormalizedEvent]:
    pr = _section(payload, "pullRequest", key)
    to_ref, from_ref = _object(pr.get("toRef")), _object(pr.get("fromRef"))
    repo, repo_links = _repository(payload, to_ref.get("repository"))
    return [
        _pull_request_event(
            key,
            repo,
            number=_identifier(pr.get("id")),
            title=text(pr.get("title")),
            state=text(pr.get("state")),
            source_branch=first_text(from_ref.get("displayId"), from_ref.get("id")),
            target_branch=first_text(to_ref.get("displayId"), to_ref.get("id")),
            service=_service(payload, to_ref.get("repository")),
            when=parse_time(payload.get("date")),
            links=[("Pull request", _server_href(pr)), *repo_links],
        )
    ]


def _pull_request_event(
    key: str,
    repo: str,
    *,
    number: str | None,
    title: str | None,
    state: str | None,
    source_branch: str | None,
    target_branch: str | None,
    service: str | None,
    when: datetime | None,
    links: list[tuple[str, object]],
) -> NormalizedEvent:
    """The record of one pull request delivery."""
    # `pullrequest:comment_created` reads "comment created", `pr:reviewer:approved` "reviewer approved".
    action = key.split(":", 1)[1].replace(":", " ").replace("_", " ") if ":" in key else ""
    heading = " ".join(part for part in ("Pull request", f"#{number}" if number else "", action) if part)
    return NormalizedEvent(
        source=BitbucketSource.name,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{heading} in {repo}" + (f": {title}" if title else ""),
        message=f"{source_branch} → {target_branch}" if source_branch and target_branch else "",
        service=service,
        grouping_key=f"bitbucket:{repo}:pr:{number}" if number else None,
        labels=_labels(repository=repo, source_branch=source_branch, target_branch=target_branch, state=state),
        links=_links(*links),
        occurred_at=when,
    )


def _other(payload: Payload, key: str) -> NormalizedEvent:
    """A record for any other repository or project event (forks, comments, settings changes)."""
    # Server's `repo:modified` and `project:modified` carry the changed entity as `new`.
    if not any(isinstance(payload.get(name), dict) for name in ("repository", "project", "new")):
        raise PayloadInvalid(f"Bitbucket {key!r} payload has no repository, project or new object")
    repo, repo_links = _repository(payload, payload.get("new"))
    return NormalizedEvent(
        source=BitbucketSource.name,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Bitbucket {key} in {repo}",
        service=_service(payload, payload.get("new")),
        grouping_key=f"bitbucket:{repo}:{key}",
        labels=_labels(repository=repo),
        links=_links(*repo_links),
        occurred_at=parse_time(payload.get("date")),
    )


_BUILDERS: list[tuple[str, Callable[[Payload, str], list[NormalizedEvent]]]] = [
    ("repo:commit_status_", _commit_status),
    ("repo:push", _cloud_push),
    ("repo:refs_changed", _server_refs_changed),
    ("pullrequest", _cloud_pull_request),
    ("pr:", _server_pull_request),
]


def _section(payload: Payload, key: str, event: str) -> Payload:
    """`payload[key]` as an object, raising `PayloadInvalid` naming it when it is missing."""
    section = payload.get(key)
    if not isinstance(section, dict):
        raise PayloadInvalid(f"Bitbucket {event} payload has no `{key}` object")
    return section


def _repository(payload: Payload, fallback: object = None) -> tuple[str, list[tuple[str, object]]]:
    """The repository's identity (Cloud full name, or Server `<project key>/<slug>`) and its links."""
    for candidate in (payload.get("repository"), fallback):
        repo = _object(candidate)
        project_key, slug = text(_object(repo.get("project")).get("key")), text(repo.get("slug"))
        server = f"{project_key}/{slug}" if project_key and slug else None
        identity = first_text(repo.get("full_name"), server, repo.get("uuid"), repo.get("slug"), repo.get("name"))
        if identity:
            return identity, [("Repository", _href(repo, "html")), ("Repository", _server_href(repo))]
    project = _object(payload.get("project"))
    if identity := first_text(project.get("key"), project.get("name")):
        return identity, []
    raise PayloadInvalid("Bitbucket payload names no repository")


def _service(payload: Payload, fallback: object = None) -> str | None:
    for candidate in (payload.get("repository"), fallback):
        repo = _object(candidate)
        if found := first_text(repo.get("name"), repo.get("slug")):
            return found
    return None


def _href(entity: Payload, rel: str) -> object:
    """Cloud's `links.<rel>.href`."""
    return _object(_object(entity.get("links")).get(rel)).get("href")


def _server_href(entity: Payload) -> object:
    """Server's `links.self[0].href`."""
    entries = _object(entity.get("links")).get("self")
    return _object(entries[0]).get("href") if isinstance(entries, list) and entries else None


def _labels(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def _scalars(**values: object) -> dict[str, Any]:
    return {key: value for key, value in values.items() if isinstance(value, str) and value}


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
