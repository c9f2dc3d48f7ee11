"""Bitbucket Cloud build statuses: the verdict a build tool reported on a commit, as one event.

A failure and the success that fixes it share a grouping key, so the success resolves it; a
build still in progress gets its own key and leaves the failure open. The state table is in
the `bitbucket` module's docstring.
"""

from __future__ import annotations

from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._bitbucket_payload import (
    SOURCE,
    Payload,
    labels,
    repository,
    section,
    service,
    string_scalars,
)
from liberation_guardian.sources._fields import as_object, first_text, parse_time, text
from liberation_guardian.sources._fields import unique_links as _links

# state -> (severity, status, whether it is a verdict on the build that may resolve a failure)
_STATES: dict[str, tuple[Severity, Status, bool]] = {
    "FAILED": (Severity.high, Status.firing, True),
    "STOPPED": (Severity.medium, Status.firing, True),
    "SUCCESSFUL": (Severity.info, Status.resolved, True),
}
_STATE_WORDS = {"FAILED": "failed", "STOPPED": "was stopped", "SUCCESSFUL": "succeeded", "INPROGRESS": "is in progress"}


def commit_status(payload: Payload, key: str) -> list[NormalizedEvent]:
    """The event of one `repo:commit_status_created` or `repo:commit_status_updated` delivery."""
    status = section(payload, "commit_status", key)
    repo, links = repository(payload, status.get("repository"))
    state = (text(status.get("state")) or "").strip().upper()
    severity, event_status, verdict = _STATES.get(state, (Severity.info, Status.resolved, False))
    tool_key = first_text(status.get("key"), status.get("name")) or "build"
    branch = text(status.get("refname"))
    grouping = f"bitbucket:{repo}:status:{tool_key}" + (f"@{branch}" if branch else "")
    if not verdict:
        grouping += f":{(state or 'unknown').lower()}"
    name = first_text(status.get("name"), status.get("key")) or "Build"
    verb = _STATE_WORDS.get(state, f"is {state.lower() or 'reported'}")
    commit = as_object(status.get("commit"))
    commit_href = text(as_object(as_object(status.get("links")).get("commit")).get("href"))
    sha = text(commit.get("hash")) or (commit_href.rstrip("/").rsplit("/", 1)[-1] if commit_href else None)
    return [
        NormalizedEvent(
            source=SOURCE,
            kind=key,
            status=event_status,
            severity=severity,
            title=f"{name} {verb}" + (f" on {branch}" if branch else "") + f" in {repo}",
            message=text(status.get("description")) or "",
            service=service(payload, status.get("repository")),
            grouping_key=grouping,
            labels=labels(repository=repo, branch=branch, commit=sha, status_key=tool_key, state=state or None),
            links=_links(("Build", status.get("url")), *links),
            occurred_at=parse_time(status.get("updated_on")) or parse_time(status.get("created_on")),
            extra=string_scalars(type=status.get("type"), state=state),
        )
    ]
