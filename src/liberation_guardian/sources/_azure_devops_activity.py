"""Azure DevOps pushes, pull requests and every other event type: records, never alerts.

A `git.push` gives one record per updated ref, a `git.pullrequest.*` one per delivery; work
items, releases and check-ins are kept as the message Azure DevOps wrote for them.
"""

from __future__ import annotations

import re

from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._azure_devops_payload import (
    SOURCE,
    Payload,
    href,
    identifier,
    labels,
    message_of,
    objects,
    ref_name,
    repository_of,
    scalars,
)
from liberation_guardian.sources._fields import as_object, first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links

_ZERO_ID = re.compile(r"^0+$")
_MAX_COMMITS = 5


def push(payload: Payload, resource: Payload) -> list[NormalizedEvent]:
    """One record per ref a `git.push` updated (one for the push when it names none)."""
    repo, repo_link = repository_of(resource, "git.push")
    commits = objects(resource.get("commits"))
    subjects = [line.splitlines()[0] for c in commits if (line := text(c.get("comment")))][:_MAX_COMMITS]
    pusher = text(as_object(resource.get("pushedBy")).get("displayName"))
    updates = objects(resource.get("refUpdates"))
    events = []
    for update in updates or [{}]:
        ref = text(update.get("name"))
        old, new = text(update.get("oldObjectId")), text(update.get("newObjectId"))
        action = "created" if old and _ZERO_ID.match(old) else "deleted" if new and _ZERO_ID.match(new) else "updated"
        kind_word, short = "Branch", ref_name(ref)
        if ref is not None and ref.startswith("refs/tags/"):
            kind_word, short = "Tag", ref.removeprefix("refs/tags/")
        events.append(
            NormalizedEvent(
                source=SOURCE,
                kind="git.push",
                status=Status.resolved,
                severity=Severity.info,
                title=f"{kind_word} {short} {action} in {repo}" if short else f"Push to {repo}",
                message="\n".join(subjects) or message_of(payload),
                service=text(as_object(resource.get("repository")).get("name")),
                grouping_key=f"azure_devops:{repo}:push" + (f":{short}" if short else ""),
                labels=labels(repository=repo, ref=short, commit=new, action=action, pushed_by=pusher),
                links=_links(("Repository", repo_link), *(("Commit", c.get("url")) for c in commits[:1])),
                occurred_at=parse_time(resource.get("date")) or parse_time(payload.get("createdDate")),
                extra=scalars(push_id=identifier(resource.get("pushId"))),
            )
        )
    return events


def pull_request(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    """The record of a `git.pullrequest.*` delivery."""
    repo, repo_link = repository_of(resource, event_type)
    number = identifier(resource.get("pullRequestId"))
    title = text(resource.get("title"))
    source_branch, target_branch = ref_name(resource.get("sourceRefName")), ref_name(resource.get("targetRefName"))
    action = event_type.removeprefix("git.pullrequest.")
    heading = " ".join(part for part in ("Pull request", f"#{number}" if number else "", action) if part)
    return NormalizedEvent(
        source=SOURCE,
        kind=event_type,
        status=Status.resolved,
        severity=Severity.info,
        title=f"{heading} in {repo}" + (f": {title}" if title else ""),
        message=f"{source_branch} → {target_branch}" if source_branch and target_branch else message_of(payload),
        service=text(as_object(resource.get("repository")).get("name")),
        grouping_key=f"azure_devops:{repo}:pr:{number}" if number else None,
        labels=labels(
            repository=repo,
            source_branch=source_branch,
            target_branch=target_branch,
            status=text(resource.get("status")),
            merge_status=text(resource.get("mergeStatus")),
        ),
        links=_links(
            ("Pull request", href(resource, "web")),
            ("Pull request (API)", resource.get("url")),
            ("Repository", repo_link),
        ),
        occurred_at=parse_time(resource.get("closedDate"))
        or parse_time(resource.get("creationDate"))
        or parse_time(payload.get("createdDate")),
    )


def other_event(payload: Payload, resource: Payload, event_type: str) -> NormalizedEvent:
    """A record for event types with nothing to judge (work items, releases, check-ins)."""
    return NormalizedEvent(
        source=SOURCE,
        kind=event_type,
        status=Status.resolved,
        severity=Severity.info,
        title=first_text(as_object(payload.get("message")).get("text")) or f"Azure DevOps {event_type}",
        message=text(as_object(payload.get("detailedMessage")).get("text")) or "",
        links=_links(("Azure DevOps", href(resource, "web")), ("Azure DevOps (API)", resource.get("url"))),
        occurred_at=parse_time(payload.get("createdDate")),
    )
