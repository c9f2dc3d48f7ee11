"""Splunk source: the webhook alert action body, severity from the result row, auth, refusals, contract.

The payloads under tests/sources/payloads/splunk/ have the fixed body of Splunk's webhook alert
action (`sid`, `search_name`, `app`, `owner`, `results_link`, `result`), documented at
https://help.splunk.com/splunk-enterprise/alert-and-respond/alerting-manual/10.0/configure-alert-actions/use-a-webhook-alert-action
(whose example has `"search_name": null`); the result rows and values are our own, the first
shaped like an Enterprise Security notable (with `urgency`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.splunk import SplunkSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, keyed_json, mutate
from tests.sources._helpers import PAYLOADS, basic_auth, json_object, read_payload
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "splunk"
SHARED = "splunk/search-alert-one-result.json"
RESULTS = (
    "http://example.com:8000/app/search/search?q=%7Cloadjob%20rt_scheduler__admin__search__sudo_at_1483557185_2.2"
    "%20%7C%20head%201%20%7C%20tail%201&earliest=0&latest=now"
)

FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        SHARED,
        {
            "kind": "search_alert",
            "status": "firing",
            "severity": "medium",
            "title": "sudo",
            "message": "Jan  4 11:14:32 myserver sudo: pam_unix(sudo:session): session closed for user root",
            "service": None,
            "grouping_key": "splunk:sudo:myserver",
            "links": [{"title": "Splunk search results", "url": RESULTS}],
            "occurred_at": "2017-01-04T19:14:32+00:00",
        },
    ),
    (
        "own/notable-urgency-high.json",
        {
            "kind": "search_alert",
            "status": "firing",
            "severity": "high",
            "title": "Web - Upstream Timeouts - Rule",
            "message": "48 upstream timeouts in 5 minutes",
            "service": "storefront",
            "environment": "production",
            "grouping_key": "splunk:Web - Upstream Timeouts - Rule:web-07",
            "occurred_at": "2024-05-14T09:59:41+00:00",
        },
    ),
    (
        "own/no-search-name.json",
        {
            "kind": "search_alert",
            "status": "firing",
            "severity": "critical",
            "title": "Splunk alert in app search",
            "message": "",
            "grouping_key": None,
            "occurred_at": None,
        },
    ),
]


def source(secret: str | None = None) -> SplunkSource:
    return SplunkSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def with_result(read_fixture: Callable[[str], bytes], **result: Any) -> bytes:
    payload = load(read_fixture, SHARED)
    payload["result"].update(result)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: dict[str, Any]) -> None:
    [event] = source().parse({}, read(read_fixture, path))
    got = event.model_dump(mode="json")
    got["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    assert {key: got[key] for key in expected} == expected
    assert (event.source, event.stack_frames) == ("splunk", [])


def test_labels_skip_internal_fields_and_extra_keeps_the_search(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read_fixture(SHARED))
    assert event.environment is None  # the server then assumes core.environment
    assert event.labels == {
        "splunk_server": "myserver",
        "source": "/var/log/auth.log",
        "host": "myserver",
        "index": "main",
        "process": "sudo",
        "sourcetype": "syslog",
    }
    assert event.extra == {
        "sid": "rt_scheduler__admin__search__sudo_at_1483557185_2.2",
        "search_name": "sudo",
        "app": "search",
        "owner": "admin",
    }


@pytest.mark.parametrize(
    ("result", "severity"),
    [
        ({"severity": "critical"}, Severity.critical),
        ({"severity": "Severe"}, Severity.critical),
        ({"severity": "6"}, Severity.critical),
        ({"severity": "high"}, Severity.high),
        ({"severity": "4"}, Severity.high),
        ({"severity": "warning"}, Severity.medium),
        ({"severity": "low"}, Severity.low),
        ({"severity": "informational"}, Severity.info),
        ({"severity": "1"}, Severity.info),
        ({"urgency": "critical"}, Severity.critical),
        ({"urgency": "low"}, Severity.low),
        ({"severity": "low", "urgency": "critical"}, Severity.low),
        ({"severity": "unknown", "urgency": "high"}, Severity.high),
        ({"severity": 5}, Severity.critical),
        ({}, Severity.medium),
    ],
)
def test_severity_from_the_result_row(
    read_fixture: Callable[[str], bytes], result: dict[str, Any], severity: Severity
) -> None:
    assert source().parse({}, with_result(read_fixture, **result))[0].severity is severity


def test_every_delivery_is_firing_and_one_search_per_host_groups(read_fixture: Callable[[str], bytes]) -> None:
    first = source().parse({}, with_result(read_fixture, _time="1483557272"))[0]
    later = source().parse({}, with_result(read_fixture, _time="1483560000", _raw="other line"))[0]
    other_host = source().parse({}, with_result(read_fixture, host="db-1"))[0]
    assert first.status is later.status is Status.firing
    assert first.grouping_key == later.grouping_key != other_host.grouping_key
    without_host = json.loads(read_fixture(SHARED))
    del without_host["result"]["host"]
    assert source().parse({}, json.dumps(without_host).encode())[0].grouping_key == "splunk:sudo"


@pytest.mark.parametrize(
    "other", ["pagerduty/v3-service-updated.json", "opsgenie/alert-create.json", "github/push.json"]
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Splunk webhook payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture(SHARED)[:-4])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"sid": "x"}]')


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = load(read_fixture, path)
    for removed, body in without_each_key(payload, nested=("result",)):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "sid" and not payload.get("search_name"), removed
            continue
        assert event.title, removed


def test_basic_and_bearer_pass() -> None:
    source(SECRET).verify({"authorization": basic_auth("splunk", SECRET)}, b"{}")
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": basic_auth("splunk", "no")}],
    ids=["missing", "wrong-token", "wrong-password"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_registered_with_group() -> None:
    assert registry()["splunk"] is SplunkSource
    assert SplunkSource.group == "observability"


def test_sign_produces_what_verify_accepts() -> None:
    signed = source(SECRET).sign(b"{}")
    assert signed["Authorization"].startswith("Basic ")
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source().sign(b"{}") == {}


def test_documented_example_config_validates() -> None:
    assert SourceConfig.model_validate(documented_config("splunk")).webhook_secret_env == "SPLUNK_WEBHOOK_SECRET"


contract = contract_fixture("splunk")


def test_contract_fixtures_are_accepted_and_stored(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for path, expected in FIXTURES:
        answer = contract.post(read(read_fixture, path), {"User-Agent": "Splunk"})
        assert_fields(contract.events(answer), [expected])


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(contract, read_fixture(SHARED), read_fixture("opsgenie/alert-close.json"), "Splunk")


SHAPED_KEYS = ["sid", "search_name", "app", "owner", "results_link", "result", "host", "severity", "urgency",
               "_raw", "_time", "service", "message"]  # fmt: skip
shaped = keyed_json(SHAPED_KEYS)


@FUZZ
@given(value=shaped)
def test_random_json(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data(), path=st.sampled_from([case[0] for case in FIXTURES]))
def test_mutated_fixtures(read_fixture: Callable[[str], bytes], data: st.DataObject, path: str) -> None:
    check(source(), {}, encode(mutate(data, load(read_fixture, path))))
