"""The pieces of the sources' property tests: random JSON, mutations of real payloads, and the one rule they check.

The rule: whatever the body, `parse` returns a list of events or raises a SourceError; any other
exception is a bug a sender could trigger. Usage in a source's test module:

    @FUZZ
    @given(value=json_values | keyed_json(["alert", "severity", "host"]))
    def test_random_json_never_escapes(value):
        check(source(), {}, encode(value))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from liberation_guardian.errors import SourceError
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.sources.base import Source

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


def keyed_json(keys: Sequence[str], *, max_size: int = 6, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Random JSON whose objects use only `keys`: one tool's field names, so bodies reach deep into its parser."""
    return st.recursive(
        json_values,
        lambda children: (
            st.dictionaries(st.sampled_from(keys), children, max_size=max_size) | st.lists(children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


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
    """`source` parses `body` into a list of events or refuses it with a SourceError, nothing else."""
    try:
        events = source.parse(headers, body)
    except SourceError:
        return
    assert isinstance(events, list)
    assert all(isinstance(event, NormalizedEvent) for event in events)


def encode(value: Any) -> bytes:
    """`value` as a JSON body."""
    return json.dumps(value).encode()
