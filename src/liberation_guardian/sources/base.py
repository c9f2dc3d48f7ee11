"""What every source module provides: a config model, `verify` and `parse`.

A source module defines one `Source` subclass. Its `name` is the URL segment
(`/webhook/{name}`) and the key under `integrations.<group>` in the configuration;
`aliases` lists other keys accepted for it (`prometheus` for
`alertmanager`). Headers reach `verify` and `parse` with lower-case names.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed
from liberation_guardian.events import NormalizedEvent

Headers = Mapping[str, str]
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class SourceConfig(BaseModel):
    """Keys every source accepts under `integrations.<group>.<name>`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Accept webhooks from this source.")
    webhook_secret_env: str | None = Field(
        default=None,
        description="Variable holding the signing secret or shared token this source authenticates with.",
    )
    max_body_bytes: int | None = Field(
        default=None, gt=0, description="Body size limit for this source; defaults to core.max_body_bytes."
    )
    allowed_ips: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) allowed to post to this source; empty allows any (403 otherwise).",
    )
    rate_limit_per_minute: int | None = Field(
        default=None, gt=0, description="Requests per minute accepted from this source; more get 429 with Retry-After."
    )

    def idle_keys(self) -> list[str]:
        """Keys set here that have no effect in this combination, each with why (`check-config` lists them)."""
        return []


class Source(ABC):
    """One tool that sends webhooks: how it authenticates and how its payloads read."""

    name: ClassVar[str]
    group: ClassVar[str] = "observability"
    aliases: ClassVar[tuple[str, ...]] = ()
    config_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_scheme: ClassVar[str] = "none"
    calls_out: ClassVar[bool] = False  # True when verify or handshake may make a network call

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        self.config = config
        self.secrets = secrets

    @classmethod
    def endpoints(cls, config: SourceConfig, secrets: Mapping[str, str]) -> dict[str, Source]:
        """The URL segments this configuration answers at, each with its source: by default just `name`."""
        return {cls.name: cls(config, secrets)}

    @property
    def secret(self) -> str | None:
        """The value of the variable `webhook_secret_env` names, if one is configured."""
        return self.secrets.get("webhook_secret")

    @abstractmethod
    def verify(self, headers: Headers, body: bytes) -> None:
        """Raise `Unauthorized` unless the request proves it came from this tool."""

    def handshake(self, headers: Headers, body: bytes) -> dict[str, Any] | None:
        """Answer a tool's setup handshake (a subscription confirmation, a URL check) after `verify`.

        Return the JSON to answer with (status 200), or None when the request is an ordinary
        payload for `parse`. A handshake may call the tool back (confirming a subscription),
        but only to an address the source has checked; `parse` never calls anything.
        """
        return None

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers this tool would add to prove `body` is its own (used by `liberation-guardian send`)."""
        return {}

    def redact(self, headers: Headers, body: bytes) -> bytes:
        """The body as it may be stored, shown and parsed: by default exactly as received.

        Called after `verify` and `handshake` (which see the raw body) and before `parse`. A
        tool whose payloads carry a credential (a leaked secret, an access token) returns the
        body with it replaced by `_redact.REDACTED`, so neither the stored payload nor any
        event holds it.
        """
        return body

    @abstractmethod
    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one payload into events; raise `PayloadMalformed` or `PayloadInvalid` with a reason."""


def load_json(body: bytes) -> Any:
    """Decode a JSON body, raising `PayloadMalformed` with the position of the first error."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise PayloadMalformed(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadMalformed("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise PayloadMalformed(f"body is not usable JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(body):
        # An escaped half of a surrogate pair with no other half decodes to text no database can store.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadMalformed("body is not valid JSON: a \\u escape is half of a surrogate pair") from None
    return data


def load_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON body that must be an object, raising `PayloadInvalid` for any other JSON value."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise PayloadInvalid(f"expected a JSON object, got a JSON {_json_type(data)}")
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
