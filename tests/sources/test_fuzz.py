"""Property tests: for any body, every parser returns events or raises a SourceError, nothing else."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadMalformed
from liberation_guardian.sources.alertmanager import AlertmanagerConfig, AlertmanagerSource
from liberation_guardian.sources.base import Source
from liberation_guardian.sources.generic import GenericConfig, GenericSource
from liberation_guardian.sources.grafana import GrafanaConfig, GrafanaSource
from liberation_guardian.sources.sentry import SentryConfig, SentrySource
from tests.sources._fuzz import check, encode, json_values, mutate, shaped_values

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


@cache
def fixture_pool(fixtures_dir: Path) -> list[Any]:
    """Every Sentry, Alertmanager and Grafana fixture, decoded; each parser is fed all of them."""
    return [
        json.loads(path.read_bytes()) for name in FIXTURE_DIRS for path in sorted((fixtures_dir / name).glob("*.json"))
    ]


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
