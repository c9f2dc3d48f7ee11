"""What the source test modules share: reading their payloads, summarizing events, and the signing round trip.

Each test module keeps its own tables (the payloads, and the events they must become); these
helpers are the scaffolding around those tables, so a module reads as what it checks:

    OWN = PAYLOADS / "bitbucket"

    def test_fixture_normalizes(read_fixture, path, expected):
        [event] = source().parse({}, read_payload(read_fixture, OWN, path))
        assert summary(event) == expected
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources.base import Source

# Payloads of our own, one folder per source, for shapes the shared fixtures do not cover.
PAYLOADS = Path(__file__).parent / "payloads"
# A path under the shared fixtures tree, or one of these prefixes and a file of the source's own folder.
OWN_PREFIXES = ("own:", "own/")
SUMMARY = ("kind", "status", "severity", "title", "message", "service", "grouping_key", "links")


def read_payload(read_fixture: Callable[[str], bytes], own: Path, path: str) -> bytes:
    """A shared fixture by its path, or the file of `own` named after an `own:` or `own/` prefix."""
    for prefix in OWN_PREFIXES:
        if path.startswith(prefix):
            return (own / path.removeprefix(prefix)).read_bytes()
    return read_fixture(path)


def payload_reader(read_fixture: Callable[[str], bytes], own: Path) -> Callable[[str], bytes]:
    """`read_payload` with the fixture reader and the source's own folder bound, for a module's `read` fixture."""

    def read(path: str) -> bytes:
        return read_payload(read_fixture, own, path)

    return read


def basic_auth(user: str, password: str) -> str:
    """An `Authorization` value for HTTP Basic authentication, built here independently of the code under test."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def json_object(body: bytes) -> dict[str, Any]:
    """`body` decoded; a payload a test edits is always a JSON object."""
    data = json.loads(body)
    assert isinstance(data, dict), type(data)
    return data


def json_files(*folders: Path) -> list[Any]:
    """Every `*.json` file of the folders, decoded, folder by folder in name order: what property tests mutate."""
    return [json.loads(path.read_bytes()) for folder in folders for path in sorted(folder.glob("*.json"))]


def summary(event: NormalizedEvent, fields: Sequence[str] = SUMMARY) -> dict[str, Any]:
    """The named fields of `event` (links as their URLs), to compare with an expected table row."""
    found = {name: getattr(event, name) for name in fields if name != "links"}
    if "links" in fields:
        found["links"] = [link.url for link in event.links]
    return {name: found[name] for name in fields}


def assert_sign_round_trip(signed: Source, unsigned: Source, body: bytes, expected: dict[str, str]) -> None:
    """`signed.sign(body)` is exactly `expected` and passes `verify`; a source without a secret signs nothing."""
    headers = signed.sign(body)
    assert headers == expected
    signed.verify({name.lower(): value for name, value in headers.items()}, body)
    assert unsigned.sign(body) == {}
