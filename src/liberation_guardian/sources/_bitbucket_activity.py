"""Bitbucket pushes, pull requests and every other repository event: records, never alerts.

Cloud's `repo:push` and Server's `repo:refs_changed` give one event per changed branch or tag;
Cloud's `pullrequest:*` and Server's `pr:*` one per delivery. Both products' shapes are read
into the same record, so a pull request looks alike whichever product sent it.
"""

from __future__ import annotations

from datetime import datetime

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._bitbucket_payload import (
    SOURCE,
    Payload,
    href,
    identifier,
    labels,
    objects,
    repository,
    section,
    server_href,
    service,
)
from liberation_guardian.sources._fields import as_object, first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links

_MAX_COMMITS = 5


def cloud_push(payload: Payload, key: str) -> list[NormalizedEvent]:
    """One record per branch or tag a Cloud `repo:push` changed (one for the push when it lists none)."""
    push = section(payload, "push", key)
    repo, repo_links = repository(payload)
    changes = objects(push.get("changes"))
    events = []
    for change in changes or [{}]:
        new, old = as_object(change.get("new")), as_object(change.get("old"))
        ref = new or old
        target = as_object(new.get("target"))
        if change.get("created") is True:
            action = "created"
        elif change.get("closed") is True or (old and not new):
            action = "deleted"
        else:
            action = "force-pushed" if change.get("forced") is True else "updated"
        commits = objects(change.get("commits"))
        events.append(
            _push_event(
                key,
                repo,
                ref_type=text(ref.get("type")),
                ref_name=text(ref.get("name")),
                action=action,
                sha=text(target.get("hash")),
                messages=[text(c.get("message")) for c in commits],
                service=service(payload),
                when=parse_time(target.get("date")),
                links=[
                    ("Compare", href(change, "html")),
                    ("Branch", href(new, "html")),
                    ("Commit", href(target, "html")),
                    *repo_links,
                ],
            )
        )
    return events


def server_refs_changed(payload: Payload, key: str) -> list[NormalizedEvent]:
    """One record per ref a Server `repo:refs_changed` delivery added, deleted or updated."""
    changes = payload.get("changes")
    if not isinstance(changes, list):
        raise PayloadInvalid(f"Bitbucket {key} payload has no `changes` list")
    repo, repo_links = repository(payload)
    actions = {"ADD": "created", "DELETE": "deleted", "UPDATE": "updated"}
    events = []
    for change in objects(changes):
        ref = as_object(change.get("ref"))
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
                service=service(payload),
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
        source=SOURCE,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{kind_word.capitalize()} {ref_name} {action} in {repo}" if ref_name else f"Push to {repo}",
        message="\n".join(subjects[:_MAX_COMMITS]),
        service=service,
        grouping_key=f"bitbucket:{repo}:push" + (f":{ref_name}" if ref_name else ""),
        labels=labels(repository=repo, ref=ref_name, ref_type=kind_word, commit=sha, action=action),
        links=_links(*links),
        occurred_at=when,
        extra={"commits": len(messages)} if messages else {},
    )


def cloud_pull_request(payload: Payload, key: str) -> list[NormalizedEvent]:
    """The record of a Cloud `pullrequest:*` delivery."""
    pr = section(payload, "pullrequest", key)
    destination = as_object(pr.get("destination"))
    repo, repo_links = repository(payload, destination.get("repository"))
    return [
        _pull_request_event(
            key,
            repo,
            number=identifier(pr.get("id")),
            title=text(pr.get("title")),
            state=text(pr.get("state")),
            source_branch=text(as_object(as_object(pr.get("source")).get("branch")).get("name")),
            target_branch=text(as_object(destination.get("branch")).get("name")),
            service=service(payload, destination.get("repository")),
            when=parse_time(pr.get("updated_on")) or parse_time(pr.get("created_on")),
            links=[("Pull request", href(pr, "html")), *repo_links],
        )
    ]


def server_pull_request(payload: Payload, key: str) -> list[NormalizedEvent]:
    """The record of a Server `pr:*` delivery."""
    pr = section(payload, "pullRequest", key)
    to_ref, from_ref = as_object(pr.get("toRef")), as_object(pr.get("fromRef"))
    repo, repo_links = repository(payload, to_ref.get("repository"))
    return [
        _pull_request_event(
            key,
            repo,
            number=identifier(pr.get("id")),
            title=text(pr.get("title")),
            state=text(pr.get("state")),
            source_branch=first_text(from_ref.get("displayId"), from_ref.get("id")),
            target_branch=first_text(to_ref.get("displayId"), to_ref.get("id")),
            service=service(payload, to_ref.get("repository")),
            when=parse_time(payload.get("date")),
            links=[("Pull request", server_href(pr)), *repo_links],
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
        source=SOURCE,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{heading} in {repo}" + (f": {title}" if title else ""),
        message=f"{source_branch} → {target_branch}" if source_branch and target_branch else "",
        service=service,
        grouping_key=f"bitbucket:{repo}:pr:{number}" if number else None,
        labels=labels(repository=repo, source_branch=source_branch, target_branch=target_branch, state=state),
        links=_links(*links),
        occurred_at=when,
    )


def other_event(payload: Payload, key: str) -> NormalizedEvent:
    """A record for any other repository or project event (forks, comments, settings changes)."""
    # Server's `repo:modified` and `project:modified` carry the changed entity as `new`.
    if not any(isinstance(payload.get(name), dict) for name in ("repository", "project", "new")):
        raise PayloadInvalid(f"Bitbucket {key!r} payload has no repository, project or new object")
    repo, repo_links = repository(payload, payload.get("new"))
    return NormalizedEvent(
        source=SOURCE,
        kind=key,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Bitbucket {key} in {repo}",
        service=service(payload, payload.get("new")),
        grouping_key=f"bitbucket:{repo}:{key}",
        labels=labels(repository=repo),
        links=_links(*repo_links),
        occurred_at=parse_time(payload.get("date")),
    )
