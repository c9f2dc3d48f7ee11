"""GitLab activity kept as records: merge requests, pushes and tag pushes, and every other hook.

None of these is an alert; each is severity info, resolved, under a key of its own so it never
closes an open incident.
"""

from __future__ import annotations

from datetime import datetime

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import as_list, as_object, first_line, first_text, identifier, text
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._gitlab_delivery import SOURCE, Delivery, gitlab_time


def merge_request(d: Delivery) -> NormalizedEvent:
    """A merge request opened, updated, merged or closed."""
    attrs = d.section("object_attributes")
    iid = identifier(attrs.get("iid")) or "?"
    action = first_text(attrs.get("action"), attrs.get("state")) or "updated"
    return _record(
        d,
        title=f"Merge request !{iid} {action}: {text(attrs.get('title')) or 'untitled'} ({d.project or 'unknown'})",
        key=f"merge_request:{iid}",
        links=[("Merge request", attrs.get("url"))],
        occurred=gitlab_time(attrs.get("updated_at")) or gitlab_time(attrs.get("created_at")),
        labels=_labels(
            iid=iid,
            action=action,
            state=attrs.get("state"),
            source_branch=attrs.get("source_branch"),
            target_branch=attrs.get("target_branch"),
        ),
    )


def push(d: Delivery) -> NormalizedEvent:
    """A push or tag push, with its commit count and last commit."""
    ref = text(d.payload.get("ref"))
    if ref is None or d.project is None:
        raise PayloadInvalid(f"GitLab {d.kind} payload has no `ref` or no project")
    commits = [as_object(commit) for commit in as_list(d.payload.get("commits"))]
    total = d.payload.get("total_commits_count")
    count = total if isinstance(total, int) and not isinstance(total, bool) else len(commits)
    last = commits[-1] if commits else {}
    short = ref.removeprefix("refs/heads/").replace("refs/tags/", "tag ", 1)
    return _record(
        d,
        title=f"Push to {short} in {d.project}: {count} commit{'s' if count != 1 else ''}",
        key=f"{d.kind}:{ref}",
        links=[("Last commit", last.get("url"))],
        occurred=gitlab_time(last.get("timestamp")),
        message=first_line(last.get("message")),
        labels=_labels(
            ref=ref,
            before=d.payload.get("before"),
            after=d.payload.get("after"),
            user=first_text(d.payload.get("user_username"), d.payload.get("user_name")),
            commits=count,
        ),
    )


def other_hook(d: Delivery) -> NormalizedEvent:
    """Any other hook (issue, note, release, member...), kept as a record."""
    attrs = as_object(d.payload.get("object_attributes"))
    action = first_text(attrs.get("action"), d.payload.get("action"))
    number = identifier(attrs.get("iid")) or identifier(attrs.get("id"))
    kind = d.kind.replace("_", " ")
    return _record(
        d,
        title=f"GitLab {kind}{' ' + action if action else ''} in {d.project or 'unknown'}"
        + (f": {text(attrs.get('title'))}" if text(attrs.get("title")) else ""),
        key=f"{d.kind}:{number}" if number else d.kind,
        links=[("Details", first_text(attrs.get("url"), d.payload.get("url")))],
        occurred=gitlab_time(attrs.get("updated_at")) or gitlab_time(d.payload.get("updated_at")),
        labels=_labels(action=action, number=number),
    )


def _record(
    d: Delivery,
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
        source=SOURCE,
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
