"""What every Bitbucket event builder reads: the repository, its service name and links, and safe field access.

Cloud and Server / Data Center name a repository differently (Cloud's `full_name`, Server's
project key and slug) and link it differently (`links.html.href`, `links.self[0].href`); the
readers here hide that, so the builders in `_bitbucket_status` and `_bitbucket_activity` read
both products alike. Each reader returns an empty or None value for a field of the wrong type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.sources._fields import as_object, first_text, text

# BitbucketSource.name; builders cannot import the source class without an import cycle.
SOURCE = "bitbucket"

Payload = Mapping[str, Any]


def section(payload: Payload, key: str, event: str) -> Payload:
    """`payload[key]` as an object, raising `PayloadInvalid` naming it when it is missing."""
    found = payload.get(key)
    if not isinstance(found, dict):
        raise PayloadInvalid(f"Bitbucket {event} payload has no `{key}` object")
    return found


def repository(payload: Payload, fallback: object = None) -> tuple[str, list[tuple[str, object]]]:
    """The repository's identity (Cloud full name, or Server `<project key>/<slug>`) and its links."""
    for candidate in (payload.get("repository"), fallback):
        repo = as_object(candidate)
        project_key, slug = text(as_object(repo.get("project")).get("key")), text(repo.get("slug"))
        server = f"{project_key}/{slug}" if project_key and slug else None
        identity = first_text(repo.get("full_name"), server, repo.get("uuid"), repo.get("slug"), repo.get("name"))
        if identity:
            return identity, [("Repository", href(repo, "html")), ("Repository", server_href(repo))]
    project = as_object(payload.get("project"))
    if identity := first_text(project.get("key"), project.get("name")):
        return identity, []
    raise PayloadInvalid("Bitbucket payload names no repository")


def service(payload: Payload, fallback: object = None) -> str | None:
    """The repository's display name (or slug), from the payload's repository or `fallback`."""
    for candidate in (payload.get("repository"), fallback):
        repo = as_object(candidate)
        if found := first_text(repo.get("name"), repo.get("slug")):
            return found
    return None


def href(entity: Payload, rel: str) -> object:
    """Cloud's `links.<rel>.href`."""
    return as_object(as_object(entity.get("links")).get(rel)).get("href")


def server_href(entity: Payload) -> object:
    """Server's `links.self[0].href`."""
    entries = as_object(entity.get("links")).get("self")
    return as_object(entries[0]).get("href") if isinstance(entries, list) and entries else None


def labels(**values: str | None) -> dict[str, str]:
    """The values that are set, for an event's labels."""
    return {key: value for key, value in values.items() if value}


def string_scalars(**values: object) -> dict[str, Any]:
    """The values that are non-empty strings, for an event's `extra`."""
    return {key: value for key, value in values.items() if isinstance(value, str) and value}


def objects(value: object) -> list[Payload]:
    """The JSON objects in `value` when it is a list; [] for anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)
