"""Nagios source: JSON and form bodies from notification commands, token auth, refusals, HTTP contract.

Nagios has no webhook body of its own. The payloads under tests/sources/payloads/nagios/ are what the
notification commands in docs/sources/nagios.md post, built from the macros documented at
https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/macrolist.html; their origin is
described in that folder's SOURCES.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.nagios import NagiosConfig, NagiosSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, basic_auth, json_object
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "nagios"
FORM = {"content-type": "application/x-www-form-urlencoded"}
HTTP_PAGE = "https://nagios.example.com/nagios/cgi-bin/extinfo.cgi?type=2&host=web-01&service=HTTP"

# file -> expected fields of its one event
CASES: dict[str, dict[str, Any]] = {
    "service-problem.json": {
        "kind": "problem",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "HTTP on web-01 is CRITICAL",
        "message": "CRITICAL - Socket timeout after 10 seconds",
        "service": "web-01",
        "environment": "production",
        "grouping_key": "nagios:web-01/HTTP",
        "links": [HTTP_PAGE],
        "occurred_at": "2024-03-12T14:05:31+00:00",
    },
    "service-recovery.json": {
        "kind": "recovery",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "HTTP on web-01 is OK",
        "message": "HTTP OK: HTTP/1.1 200 OK - 5120 bytes in 0.021 second response time",
        "service": "web-01",
        "environment": "production",
        "grouping_key": "nagios:web-01/HTTP",
        "links": [HTTP_PAGE],
        "occurred_at": "2024-03-12T14:19:02+00:00",
    },
    "service-acknowledgement.json": {
        "kind": "acknowledgement",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "HTTP on web-01 acknowledged",
        "message": "CRITICAL - Socket timeout after 10 seconds\nalice: Restarting httpd, see change 4411",
        "service": "web-01",
        "environment": "production",
        "grouping_key": "nagios:web-01/HTTP:acknowledgement",
        "links": [HTTP_PAGE],
        "occurred_at": "2024-03-12T14:08:40+00:00",
    },
    "service-flappingstart.json": {
        "kind": "flappingstart",
        "status": Status.firing,
        "severity": Severity.low,
        "title": "HTTP on web-01 started flapping",
        "message": "HTTP WARNING: HTTP/1.1 503 Service Unavailable",
        "service": "web-01",
        "environment": "production",
        "grouping_key": "nagios:web-01/HTTP:flapping",
        "links": [HTTP_PAGE],
        "occurred_at": "2024-03-12T15:00:00+00:00",
    },
    "host-problem.json": {
        "kind": "problem",
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "Host db-02 is DOWN",
        "message": "CRITICAL - Host Unreachable (10.0.0.22)",
        "service": "db-02",
        "environment": None,
        "grouping_key": "nagios:db-02",
        "links": [],
        "occurred_at": "2024-03-12T14:06:10+00:00",
    },
    "host-recovery.json": {
        "kind": "recovery",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Host db-02 is UP",
        "message": "PING OK - Packet loss = 0%, RTA = 0.52 ms",
        "service": "db-02",
        "environment": None,
        "grouping_key": "nagios:db-02",
        "links": [],
        "occurred_at": "2024-03-12T14:12:44+00:00",
    },
}


def source(secret: str | None = None, **config: Any) -> NagiosSource:
    return NagiosSource(NagiosConfig(**config), {"webhook_secret": secret} if secret else {})


def load(name: str) -> dict[str, Any]:
    return json_object((OWN / name).read_bytes())


def as_form(fields: dict[str, Any]) -> bytes:
    return urlencode(fields).encode()


def summary(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    [event] = source().parse(headers, body)
    assert event.source == "nagios"
    return {
        "kind": event.kind,
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "message": event.message,
        "service": event.service,
        "environment": event.environment,
        "grouping_key": event.grouping_key,
        "links": [link.url for link in event.links],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
    }


@pytest.mark.parametrize("name", CASES)
def test_json_body_normalizes(name: str) -> None:
    assert summary({"content-type": "application/json"}, (OWN / name).read_bytes()) == CASES[name]


@pytest.mark.parametrize("name", CASES)
def test_form_body_normalizes_the_same(name: str) -> None:
    assert summary(FORM, as_form(load(name))) == CASES[name]
    assert summary({"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, as_form(load(name)))


def test_every_own_payload_is_covered() -> None:
    assert {path.name for path in OWN.glob("*.json")} == set(CASES)


def test_labels_and_extra() -> None:
    [event] = source().parse({}, (OWN / "service-problem.json").read_bytes())
    assert event.labels == {
        "host_name": "web-01",
        "host_alias": "Web server 1",
        "host_address": "10.0.0.11",
        "host_groups": "web-servers,linux-servers",
        "service_desc": "HTTP",
        "state": "CRITICAL",
    }
    assert event.extra == {"long_date_time": "Tue Mar 12 14:05:31 UTC 2024"}


@pytest.mark.parametrize(
    ("fields", "severity", "status"),
    [
        ({"service_state": "CRITICAL"}, Severity.high, Status.firing),
        ({"service_state": "WARNING"}, Severity.medium, Status.firing),
        ({"service_state": "UNKNOWN"}, Severity.medium, Status.firing),
        ({"service_state": "critical"}, Severity.high, Status.firing),
        ({"service_state": "OK"}, Severity.info, Status.resolved),
        ({"service_state": ""}, Severity.medium, Status.firing),
        ({"service_desc": "", "host_state": "DOWN"}, Severity.critical, Status.firing),
        ({"service_desc": "", "host_state": "UNREACHABLE"}, Severity.high, Status.firing),
        ({"service_desc": "", "host_state": "UP"}, Severity.info, Status.resolved),
        ({"service_desc": "$SERVICEDESC$", "host_state": "DOWN"}, Severity.critical, Status.firing),
    ],
)
def test_state_maps_to_severity(fields: dict[str, str], severity: Severity, status: Status) -> None:
    body = json.dumps({**load("service-problem.json"), **fields}).encode()
    event = source().parse({}, body)[0]
    assert (event.severity, event.status) == (severity, status)


@pytest.mark.parametrize(
    ("kind", "status", "severity", "suffix"),
    [
        ("FLAPPINGSTOP", Status.resolved, Severity.info, ":flapping"),
        ("FLAPPINGDISABLED", Status.resolved, Severity.info, ":flapping"),
        ("DOWNTIMESTART", Status.resolved, Severity.info, ":downtime"),
        ("DOWNTIMEEND", Status.resolved, Severity.info, ":downtime"),
        ("DOWNTIMECANCELLED", Status.resolved, Severity.info, ":downtime"),
        ("CUSTOM", Status.resolved, Severity.info, ":custom"),
        ("recovery", Status.resolved, Severity.info, ""),
    ],
)
def test_informational_notification_types(kind: str, status: Status, severity: Severity, suffix: str) -> None:
    body = json.dumps({**load("service-problem.json"), "notification_type": kind}).encode()
    event = source().parse({}, body)[0]
    assert (event.kind, event.status, event.severity, event.grouping_key) == (
        kind.lower(),
        status,
        severity,
        "nagios:web-01/HTTP" + suffix,
    )


def test_nagios_url_link_is_escaped_and_http_only() -> None:
    base = {**load("service-problem.json"), "service_desc": "Disk /var & logs"}
    [event] = source().parse({}, json.dumps(base).encode())
    assert event.links[0].url.endswith("type=2&host=web-01&service=Disk%20%2Fvar%20%26%20logs")
    [event] = source().parse({}, json.dumps({**base, "nagios_url": "javascript:alert(1)"}).encode())
    assert event.links == []


def test_integers_count_and_other_types_are_ignored() -> None:
    body = json.dumps({**load("host-problem.json"), "timestamp": 1710252370, "host_alias": ["x"]}).encode()
    [event] = source().parse({}, body)
    assert event.occurred_at is not None and event.occurred_at.year == 2024
    assert "host_alias" not in event.labels


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"host_name": "web-01"}, "notification_type"),
        ({"notification_type": "PROBLEM"}, "host_name"),
        ({"notification_type": "$NOTIFICATIONTYPE$", "host_name": "$HOSTNAME$"}, "notification_type and host_name"),
    ],
)
def test_missing_identity_is_invalid(body: dict[str, str], missing: str) -> None:
    with pytest.raises(PayloadInvalid, match=f"no {missing}"):
        source().parse({}, json.dumps(body).encode())
    with pytest.raises(PayloadInvalid, match=f"no {missing}"):
        source().parse(FORM, as_form(body))


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Nagios notification"):
        source().parse({}, read_fixture(other))


def test_truncated_or_undecodable_bodies_are_malformed() -> None:
    body = (OWN / "service-problem.json").read_bytes()
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])
    with pytest.raises(PayloadMalformed, match="UTF-8"):
        source().parse(FORM, b"host_name=\xff\xfe")
    with pytest.raises(PayloadMalformed, match="form body"):
        source().parse(FORM, b"&".join(b"f%d=1" % i for i in range(300)))
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + body + b"]")


@pytest.mark.parametrize("name", CASES)
def test_any_field_removed_still_parses_or_is_invalid(name: str) -> None:
    for removed, body in without_each_key(load(name)):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("notification_type", "host_name"), removed
            continue
        assert all(event.title for event in events), removed


@pytest.mark.parametrize(
    "headers",
    [
        {"x-guardian-token": SECRET},
        {"authorization": f"Bearer {SECRET}"},
        {"authorization": basic_auth("nagios", SECRET)},
    ],
    ids=["token", "bearer", "basic"],
)
def test_right_secret_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Guardian-Token"),
        ({"x-guardian-token": "wrong"}, "does not match"),
        ({"authorization": basic_auth("nagios", "wrong")}, "do not match"),
    ],
    ids=["missing", "wrong-token", "wrong-basic"],
)
def test_wrong_or_missing_secret_is_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything_and_sign_matches_verify() -> None:
    source().verify({}, b"anything")
    assert source().sign(b"{}") == {}
    signed = source(SECRET, token_header="X-Nagios-Token").sign(b"{}")
    assert signed == {"X-Nagios-Token": SECRET}
    source(SECRET, token_header="X-Nagios-Token").verify({"x-nagios-token": SECRET}, b"{}")


def test_registered_with_group_scheme_and_config() -> None:
    assert registry()["nagios"] is NagiosSource
    assert NagiosSource.group == "infrastructure"
    assert "X-Guardian-Token" in NagiosSource.auth_scheme
    with pytest.raises(ValidationError):
        NagiosConfig.model_validate({"token": "x"})
    with pytest.raises(TypeError):
        NagiosSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = NagiosConfig.model_validate(documented_config("nagios"))
    assert config.webhook_secret_env == "NAGIOS_WEBHOOK_SECRET"


def test_documented_json_command_builds_the_fixture_fields() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "sources" / "nagios.md").read_text(encoding="utf-8")
    for name in CASES:
        for field in load(name):
            assert f'"{field}":' in page or field == "environment", (name, field)


# --- HTTP contract --------------------------------------------------------------------------------


contract = contract_fixture("nagios")


def stored(name: str) -> dict[str, Any]:
    expected = CASES[name]
    return {
        "kind": expected["kind"],
        "status": expected["status"].value,
        "severity": expected["severity"].value,
        "title": expected["title"],
        "service": expected["service"],
        "grouping_key": expected["grouping_key"],
    }


def test_contract_json_and_form_bodies_are_stored_normalized(contract: ContractServer) -> None:
    for name in CASES:
        answer = contract.post((OWN / name).read_bytes(), {"User-Agent": "curl/8.5.0"})
        assert_fields(contract.events(answer), [stored(name)])
        form = contract.post(as_form(load(name)), {"Content-Type": "application/x-www-form-urlencoded"})
        assert_fields(contract.events(form), [stored(name)])


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        (OWN / "host-problem.json").read_bytes(),
        read_fixture("sentry/issue-created.json"),
        "not a Nagios notification",
    )


# --- property tests -------------------------------------------------------------------------------

POOL = [load(name) for name in CASES]
HEADERS = st.sampled_from([{}, FORM, {"content-type": "application/json"}])


@FUZZ
@given(value=json_values | shaped_values, headers=HEADERS)
def test_random_json_returns_events_or_a_source_error(value: Any, headers: dict[str, str]) -> None:
    check(source(), headers, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(data: st.DataObject) -> None:
    document = mutate(data, data.draw(st.sampled_from(POOL)))
    check(source(), {}, encode(document))
    if isinstance(document, dict):
        check(source(), FORM, urlencode({str(k): json.dumps(v) for k, v in document.items()}).encode())


@FUZZ
@given(body=st.binary(max_size=96), headers=HEADERS)
def test_random_bytes_return_events_or_a_source_error(body: bytes, headers: dict[str, str]) -> None:
    check(source(), headers, body)
