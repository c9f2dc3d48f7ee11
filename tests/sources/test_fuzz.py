"""Property tests: for any body, every parser returns events or raises a SourceError, nothing else."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadMalformed, SourceError
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources.alertmanager import AlertmanagerConfig, AlertmanagerSource
from liberation_guardian.sources.base import Source
from liberation_guardian.sources.generic import GenericConfig, GenericSource
from liberation_guardian.sources.grafana import GrafanaConfig, GrafanaSource
from liberation_guardian.sources.sentry import SentryConfig, SentrySource

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOURCES: dict[str, Source] = {
    "sentry": SentrySource(SentryConfig(), {}),
    "alertmanager": AlertmanagerSource(AlertmanagerConfig(), {}),
    "grafana": GrafanaSource(GrafanaConfig(), {}),
    "generic": GenericSource(GenericConfig(), {}),
    # A mapping with functions, so type errors inside JMESPath are exercised too.
    "generic-mapped": GenericSource(
        GenericConfig.model_validate(
            {
                "events": "alerts || data.* || [@]",
                "mapping": {
                    "title": "join(' ', [to_string(labels.alertname || title || 'x'), to_string(length(@))])",
                    "severity": "max_by(values(@)[?type(@) == 'object'], &length(@)).level || level",
                    "labels": "merge(labels || `{}`, tags || `{}`)",
                    "occurred_at": "startsAt || datetime || to_number(timestamp)",
                },
            }
        ),
        {},
    ),
}
FIXTURE_DIRS = ("sentry", "alertmanager", "grafana")
HEADERS = st.dictionaries(
    st.sampled_from(["sentry-hook-resource", "content-type", "x-other"]),
    st.sampled_from(["issue", "error", "event_alert", "metric_alert", "installation", "comment", "", "ISSUE", "?"]),
    max_size=2,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# Objects using the field names the parsers look for, so random bodies get past the first checks.
KNOWN_KEYS = [
    "alerts", "labels", "annotations", "status", "data", "issue", "event", "error", "metric_alert", "alert_rule",
    "project", "level", "id", "title", "message", "exception", "values", "stacktrace", "frames", "tags",
    "ruleName", "ruleId", "state", "evalMatches", "severity", "startsAt", "endsAt", "fingerprint", "url",
    "metadata", "userCount", "orgId", "generatorURL", "externalURL", "silenceURL", "datetime", "timestamp",
]  # fmt: skip
shaped_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


@cache
def fixture_pool(fixtures_dir: Path) -> list[Any]:
    """Every Sentry, Alertmanager and Grafana fixture, decoded; each parser is fed all of them."""
    return [
        json.loads(path.read_bytes()) for name in FIXTURE_DIRS for path in sorted((fixtures_dir / name).glob("*.json"))
    ]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON value, as a tuple of keys and indexes."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate(data: st.DataObject, document: Any) -> Any:
    """Drop or replace a few nodes of a copy of `document`."""
    document = json.loads(json.dumps(document))
    candidates = paths(document)
    for path in data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=6)):
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
        if not isinstance(parent, dict | list):
            continue  # an earlier mutation turned a container into text
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(shaped_values)
    return document


def check(source: Source, headers: dict[str, str], body: bytes) -> None:
    try:
        events = source.parse(headers, body)
    except SourceError:
        return
    assert isinstance(events, list)
    assert all(isinstance(event, NormalizedEvent) for event in events)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize("name", SOURCES)
@FUZZ
@given(value=json_values | shaped_values, headers=HEADERS)
def test_random_json(name: str, value: Any, headers: dict[str, str]) -> None:
    check(SOURCES[name], headers, encode(value))


@pytest.mark.parametrize("name", SOURCES)
@FUZZ
@given(data=st.data(), headers=HEADERS)
def test_mutated_fixtures(name: str, fixtures_dir: Path, data: st.DataObject, headers: dict[str, str]) -> None:
    document = data.draw(st.sampled_from(fixture_pool(fixtures_dir)))
    check(SOURCES[name], headers, encode(mutate(data, document)))


@pytest.mark.parametrize("name", SOURCES)
@FUZZ
@given(body=st.binary(max_size=64))
def test_random_bytes(name: str, body: bytes) -> None:
    check(SOURCES[name], {}, body)


@pytest.mark.parametrize("name", SOURCES)
def test_integer_too_long_to_decode_is_malformed(name: str) -> None:
    with pytest.raises(PayloadMalformed):
        SOURCES[name].parse({}, b'{"alerts": [], "n": ' + b"1" * 5000 + b"}")


@pytest.mark.parametrize("name", SOURCES)
def test_a_lone_surrogate_escape_is_malformed(name: str) -> None:
    # It would decode, then fail to store: refuse it up front with a reason.
    with pytest.raises(PayloadMalformed, match="surrogate"):
        SOURCES[name].parse({}, b'{"alerts": [], "title": "\\ud800"}')
