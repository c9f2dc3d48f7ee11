"""What every GitHub event builder reads first: the delivery's event, action and repository.

`Delivery.read` takes them from a payload once, and `Delivery.section` gives the object a
builder needs or refuses the payload naming it; the field readers are in `_fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.sources._fields import as_object, first_text, text

# GitHubSource.name; builders cannot import the source class without an import cycle.
SOURCE = "github"

Payload = Mapping[str, Any]


@dataclass(frozen=True)
class Delivery:
    """The parts of a delivery every builder reads: its event, action and repository."""

    event: str
    payload: Payload
    action: str
    repo: str | None
    repo_url: str | None
    default_branch: str | None

    @classmethod
    def read(cls, event: str, payload: Payload) -> Delivery:
        """Read the common parts of `payload`, delivered as `event`."""
        repository = as_object(payload.get("repository"))
        return cls(
            event=event,
            payload=payload,
            action=(text(payload.get("action")) or "").strip().lower(),
            repo=text(repository.get("full_name")),
            repo_url=text(repository.get("html_url")),
            default_branch=first_text(repository.get("default_branch"), repository.get("master_branch")),
        )

    def section(self, key: str) -> Payload:
        """`payload[key]` as an object, raising `PayloadInvalid` naming it when it is missing."""
        value = self.payload.get(key)
        if not isinstance(value, dict):
            raise PayloadInvalid(f"GitHub {self.event} payload has no `{key}` object")
        return value


def first_object(value: object) -> Payload:
    """The first item of a list as an object; empty when there is none."""
    return as_object(value[0]) if isinstance(value, list) and value else {}
