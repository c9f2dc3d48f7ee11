"""Helpers for the source tests: reading fixtures, signing bodies, dropping fields."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="session")
def read_fixture(fixtures_dir: Path) -> Callable[[str], bytes]:
    """Return a reader of one fixture's raw bytes by its path under the fixtures tree."""

    def read(relative: str) -> bytes:
        return (fixtures_dir / relative).read_bytes()

    return read


def hex_hmac(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256, computed here independently of the code under test."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def without_each_key(payload: dict[str, Any], *, nested: tuple[str, ...] = ()) -> Iterator[tuple[str, bytes]]:
    """Yield (removed path, body) for the payload with one key removed, top level and under `nested` objects."""
    for key in payload:
        copy = dict(payload)
        del copy[key]
        yield key, json.dumps(copy).encode()
    for path in nested:
        parent: Any = payload
        parts = path.split(".")
        for part in parts:
            parent = parent[part]
        for key in parent:
            copy = json.loads(json.dumps(payload))
            target = copy
            for part in parts:
                target = target[part]
            del target[key]
            yield f"{path}.{key}", json.dumps(copy).encode()


def documented_config(name: str) -> dict[str, Any]:
    """The `integrations.<group>.<key>` entry of the YAML example in docs/sources/<name>.md."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "sources" / f"{name}.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", page, re.S)
    example = next(yaml.safe_load(block) for block in blocks if block.startswith("integrations:"))
    [group] = example["integrations"].values()
    [entry] = group.values()
    assert isinstance(entry, dict)
    return entry
