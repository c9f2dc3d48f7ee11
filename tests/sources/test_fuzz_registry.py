"""Every registered source, fed random JSON and mutations of its own payloads: events or a SourceError, nothing else."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liberation_guardian import sources
from liberation_guardian.sources.base import Source
from tests.conftest import FIXTURES
from tests.sources._fuzz import check, encode, json_values, mutate, shaped_values

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OWN_PAYLOADS = Path(__file__).parent / "payloads"
# Header names the tools use to say what a payload is, with values that mean something to some of them.
EVENT_HEADERS = [
    "x-github-event", "x-gitlab-event", "x-event-key", "x-snyk-event", "circleci-event-type",
    "sentry-hook-resource", "x-amz-sns-message-type", "content-type",
]  # fmt: skip
EVENT_VALUES = [
    "workflow_run", "check_run", "push", "Pipeline Hook", "Job Hook", "repo:push", "pr:opened",
    "project_snapshot/v0", "workflow-completed", "issue", "Notification", "SubscriptionConfirmation", "", "?",
]  # fmt: skip
HEADERS = st.dictionaries(st.sampled_from(EVENT_HEADERS), st.sampled_from(EVENT_VALUES), max_size=2)
NAMES = sorted(sources.registry())


@cache
def source(name: str) -> Source:
    cls = sources.registry()[name]
    return cls(cls.config_model(), {})


@cache
def payloads(name: str) -> list[Any]:
    """The decoded shared fixtures of the tool (folders named after it or its aliases) and its own payloads."""
    cls = sources.registry()[name]
    folders = [FIXTURES / key for key in (name, *cls.aliases)] + [OWN_PAYLOADS / name]
    found = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(json.loads(path.read_bytes()))
            except ValueError:
                continue  # a deliberately broken payload
    return found


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(value=json_values | shaped_values, headers=HEADERS)
def test_random_json_never_escapes(name: str, value: Any, headers: dict[str, str]) -> None:
    check(source(name), headers, encode(value))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data(), headers=HEADERS)
def test_mutated_payloads_never_escape(name: str, data: st.DataObject, headers: dict[str, str]) -> None:
    pool = payloads(name)
    if not pool:
        pytest.skip(f"{name} has no payloads to mutate")
    document = data.draw(st.sampled_from(pool))
    check(source(name), headers, encode(mutate(data, document)))
