"""GitHub repository activity kept as records: pushes, pull requests and any other event.

None of these is an alert; each is severity info, resolved, under a key of its own so it
never closes an open incident.
"""

from __future__ import annotations

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import as_list, as_object, first_line, identifier, parse_time, text
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._github_delivery import SOURCE, Delivery


def push(d: Delivery) -> NormalizedEvent:
    """A push to a branch or tag, or its deletion."""
    ref = text(d.payload.get("ref"))
    if ref is None or d.repo is None:
        raise PayloadInvalid("GitHub push payload has no `ref` or no repository.full_name")
    commits = as_list(d.payload.get("commits"))
    head = as_object(d.payload.get("head_commit"))
    short = ref.removeprefix("refs/heads/").replace("refs/tags/", "tag ", 1)
    if d.payload.get("deleted") is True:
        title = f"{short} deleted in {d.repo}"
    else:
        title = f"Push to {short} in {d.repo}: {len(commits)} commit{'s' if len(commits) != 1 else ''}"
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=title,
        message=first_line(head.get("message")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo}:push:{ref}",
        labels=_labels(
            ref=ref,
            before=d.payload.get("before"),
            after=d.payload.get("after"),
            pusher=as_object(d.payload.get("pusher")).get("name"),
            created=d.payload.get("created"),
            deleted=d.payload.get("deleted"),
            forced=d.payload.get("forced"),
        ),
        links=_links(("Compare", d.payload.get("compare")), ("Head commit", head.get("url"))),
        occurred_at=parse_time(head.get("timestamp")),
    )


def pull_request(d: Delivery) -> NormalizedEvent:
    """A pull request opened, closed, merged or otherwise changed."""
    pr = d.section("pull_request")
    number = identifier(d.payload.get("number")) or identifier(pr.get("number")) or "?"
    verb = "merged" if d.action == "closed" and pr.get("merged") is True else d.action or "updated"
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Pull request #{number} {verb}: {text(pr.get('title')) or 'untitled'} ({d.repo or 'unknown'})",
        message=first_line(pr.get("body")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:pull_request:{number}",
        labels=_labels(
            number=number,
            state=pr.get("state"),
            base=as_object(pr.get("base")).get("ref"),
            head=as_object(pr.get("head")).get("ref"),
            author=as_object(pr.get("user")).get("login"),
            draft=pr.get("draft"),
            merged=pr.get("merged"),
        ),
        links=_links(("Pull request", pr.get("html_url"))),
        occurred_at=parse_time(pr.get("updated_at")) or parse_time(pr.get("created_at")),
    )


def other_event(d: Delivery) -> NormalizedEvent:
    """Any other repository or organization event, kept as a record."""
    sender, organization = as_object(d.payload.get("sender")), as_object(d.payload.get("organization"))
    owner = d.repo or text(organization.get("login"))
    if owner is None and text(sender.get("login")) is None:
        raise PayloadInvalid(f"not a GitHub {d.event!r} payload: no repository, organization or sender")
    where = f" in {owner}" if owner else ""
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"GitHub {d.event}{' ' + d.action if d.action else ''}{where}",
        service=d.repo,
        grouping_key=f"github:{owner or text(sender.get('login'))}:{d.event}",
        links=_links(("Repository", d.repo_url)),
    )
