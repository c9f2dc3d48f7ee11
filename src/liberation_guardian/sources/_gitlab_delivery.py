"""What every GitLab hook builder reads first: the delivery's kind and project, and GitLab's times.

Hook bodies differ in where they name the project (`project`, `repository`, top-level keys in
older job hooks) and in how they write times; `Delivery` and `gitlab_time` settle both once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.sources._fields import as_object, first_text, identifier, parse_time, text

# GitLabSource.name; builders cannot import the source class without an import cycle.
SOURCE = "gitlab"

Payload = Mapping[str, Any]

_GITLAB_TIMES = ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z")


@dataclass(frozen=True)
class Delivery:
    """The parts of a delivery every builder reads: its kind and project."""

    kind: str
    payload: Payload
    project: str | None
    web_url: str | None
    default_branch: str | None

    @classmethod
    def read(cls, kind: str, payload: Payload) -> Delivery:
        """Read the common parts of `payload`, delivered as `kind`."""
        project, repository = as_object(payload.get("project")), as_object(payload.get("repository"))
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
        found = identifier(item)
        return f"{self.web_url}/-/{suffix}/{found}" if self.web_url and found else None


def _http(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def gitlab_time(value: object) -> datetime | None:
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


def latest(payload: Payload, *keys: str) -> datetime | None:
    """The time in the first of `keys` that holds one."""
    for key in keys:
        if found := gitlab_time(payload.get(key)):
            return found
    return None
