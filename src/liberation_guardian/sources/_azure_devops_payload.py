"""What every Azure DevOps event builder reads: project, branch, commit, repository and message.

Builds, pipeline runs, pushes and pull requests name these in different places (resource
version 1.0 packs the branch and commit into `sourceGetVersion`); the readers here find them,
so the builders in `_azure_devops_builds` and `_azure_devops_activity` stay short. Each reader
returns an empty or None value for a field of the wrong type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.sources._fields import as_object, first_text, text

# AzureDevOpsSource.name; builders cannot import the source class without an import cycle.
SOURCE = "azure_devops"

Payload = Mapping[str, Any]

_SOURCE_VERSION_REF = re.compile(r"^LG:(refs/[^:]+):")


def project_of(payload: Payload, resource: Payload, owner: Payload) -> str:
    """The project id (every delivery's `resourceContainers` has it), else whatever names the project."""
    containers = as_object(payload.get("resourceContainers"))
    for candidate in (containers.get("project"), resource.get("project"), owner.get("project")):
        project = as_object(candidate)
        if found := first_text(project.get("id"), project.get("name")):
            return found
    return "-"


def branch_of(resource: Payload) -> str | None:
    """`sourceBranch`, else the ref inside resource version 1.0's `sourceGetVersion` (`LG:<ref>:<sha>`)."""
    if branch := text(resource.get("sourceBranch")):
        return ref_name(branch)
    version = text(resource.get("sourceGetVersion"))
    match = _SOURCE_VERSION_REF.match(version) if version else None
    return ref_name(match.group(1)) if match else None


def commit_of(resource: Payload) -> str | None:
    """`sourceVersion`, else the commit at the end of resource version 1.0's `sourceGetVersion`."""
    if found := text(resource.get("sourceVersion")):
        return found
    version = text(resource.get("sourceGetVersion"))
    return version.rsplit(":", 1)[-1] if version and version.startswith("LG:") else None


def ref_name(value: object) -> str | None:
    """A ref without `refs/heads/`, so a branch reads as its name."""
    ref = text(value)
    return ref.removeprefix("refs/heads/") if ref else None


def repository_of(resource: Payload, event_type: str) -> tuple[str, object]:
    """`<project>/<repository>` and the repository's web URL."""
    repo = as_object(resource.get("repository"))
    name = first_text(repo.get("name"), repo.get("id"))
    if name is None:
        raise PayloadInvalid(f"Azure DevOps {event_type} payload has no resource.repository")
    project = text(as_object(repo.get("project")).get("name"))
    return (f"{project}/{name}" if project else name), repo.get("webUrl") or repo.get("remoteUrl")


def message_of(payload: Payload) -> str:
    """The delivery's detailed message, else its short one, as Azure DevOps wrote them."""
    for key in ("detailedMessage", "message"):
        if found := text(as_object(payload.get(key)).get("text")):
            return found
    return ""


def href(entity: Payload, rel: str) -> object:
    """`_links.<rel>.href`."""
    return as_object(as_object(entity.get("_links")).get(rel)).get("href")


def labels(**values: str | None) -> dict[str, str]:
    """The values that are set, for an event's labels."""
    return {key: value for key, value in values.items() if value}


def scalars(**values: str | None) -> dict[str, Any]:
    """The values that are set, for an event's `extra`."""
    return {key: value for key, value in values.items() if value}


def identifier(value: object) -> str | None:
    """An id given as a string or an integer, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return str(value)
    return text(value)


def objects(value: object) -> list[Payload]:
    """The JSON objects in `value` when it is a list; [] for anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
