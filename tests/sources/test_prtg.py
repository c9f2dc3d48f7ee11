"""PRTG source: the documented Postdata as JSON, encoded JSON and form, status and priority, auth, HTTP contract.

PRTG's Execute HTTP Action posts a user-defined payload. The payloads under tests/sources/payloads/prtg/
are what the Postdata in docs/sources/prtg.md becomes with the placeholders documented at
https://www.paessler.com/manuals/prtg/list_of_placeholders_for_notifications filled in; their origin is
described in that folder's SOURCES.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.prtg import PrtgConfig, PrtgSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, basic_auth, json_object
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "prtg"
FORM = {"content-type": "application/x-www-form-urlencoded"}
SWITCH_LINKS = ["https://prtg.example.com/sensor.htm?id=2045", "https://prtg.example.com/device.htm?id=2044"]

# file -> expected fields of its one event
CASES: dict[str, dict[str, Any]] = {
    "down.json": {
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "Ping on core-switch-01 is Down",
        "message": "Request timed out (ICMP error # 11010)",
        "service": "core-switch-01",
        "grouping_key": "prtg:2045",
        "links": SWITCH_LINKS,
    },
    "up.json": {
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Ping on core-switch-01 is Up",
        "message": "OK",
        "service": "core-switch-01",
        "grouping_key": "prtg:2045",
        "links": SWITCH_LINKS,
    },
    "acknowledged.json": {
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Ping on core-switch-01 is Down (Acknowledged)",
        "message": "Acknowledged by PRTG System Administrator: replacing the uplink",
        "service": "core-switch-01",
        "grouping_key": "prtg:2045:acknowledgement",
        "links": SWITCH_LINKS,
    },
    "warning-top-priority.json": {
        "status": Status.firing,
        "severity": Severity.high,
        "title": "Disk Free: C:\\ Label: System on sql-01 is Warning",
        "message": "8 % (Free Space) is below the warning limit of 15 % in Free Space",
        "service": "sql-01",
        "grouping_key": "prtg:3120",
        "links": ["https://prtg.example.com/sensor.htm?id=3120", "https://prtg.example.com/device.htm?id=3101"],
    },
}


def source(secret: str | None = None, **config: Any) -> PrtgSource:
    return PrtgSource(PrtgConfig(**config), {"webhook_secret": secret} if secret else {})


def load(name: str) -> dict[str, Any]:
    return json_object((OWN / name).read_bytes())


def summary(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    [event] = source().parse(headers, body)
    assert (event.source, event.kind, event.environment, event.occurred_at) == ("prtg", "sensor_state", None, None)
    return {
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "message": event.message,
        "service": event.service,
        "grouping_key": event.grouping_key,
        "links": [link.url for link in event.links],
    }


@pytest.mark.parametrize("name", CASES)
def test_json_payload_normalizes(name: str) -> None:
    assert summary({"content-type": "application/json"}, (OWN / name).read_bytes()) == CASES[name]


@pytest.mark.parametrize("name", CASES)
def test_json_labelled_as_form_or_percent_encoded_reads_the_same(name: str) -> None:
    body = (OWN / name).read_bytes()
    assert summary(FORM, body) == CASES[name]
    assert summary(FORM, quote(body.decode(), safe="").encode()) == CASES[name]


@pytest.mark.parametrize("name", CASES)
def test_form_fields_read_the_same(name: str) -> None:
    assert summary(FORM, urlencode(load(name)).encode()) == CASES[name]


def test_every_own_payload_is_covered() -> None:
    assert {path.name for path in OWN.glob("*.json")} - set(CASES) == {"test-notification.json"}


def test_test_notification_gives_no_event() -> None:
    assert source().parse({}, (OWN / "test-notification.json").read_bytes()) == []
    assert source().parse(FORM, b"sensor=%25sensor&status=%25status") == []


def test_labels_and_extra() -> None:
    [event] = source().parse({}, (OWN / "down.json").read_bytes())
    assert event.labels == {
        "sensorid": "2045",
        "sensor": "Ping",
        "device": "core-switch-01",
        "deviceid": "2044",
        "group": "Network Infrastructure",
        "probe": "Local Probe",
        "host": "10.1.0.1",
        "priority": "****",
        "status": "Down",
    }
    assert event.extra == {
        "datetime": "3/12/2024 2:05:31 PM",
        "lastvalue": "No data",
        "laststatus": "Down",
        "down": "Request timed out (ICMP error # 11010)",
    }


@pytest.mark.parametrize(
    ("status", "priority", "severity", "resolved", "suffix"),
    [
        ("Down", "***", Severity.critical, False, ""),
        ("Down", "*****", Severity.critical, False, ""),
        ("Down (Partial)", "***", Severity.high, False, ""),
        ("Down (Partial)", "*****", Severity.critical, False, ""),
        ("Warning", "****", Severity.medium, False, ""),
        ("Warning", "5", Severity.high, False, ""),
        ("Warning", "\u2605\u2605\u2605\u2605\u2605", Severity.high, False, ""),
        ("Unusual", "***", Severity.low, False, ""),
        ("Unusual", "*****", Severity.medium, False, ""),
        ("Unknown", "", Severity.low, False, ""),
        ("Something new", "", Severity.medium, False, ""),
        ("Up", "*****", Severity.info, True, ""),
        ("Down ended (now: Up)", "***", Severity.info, True, ""),
        ("Up ended (now: Warning)", "***", Severity.medium, False, ""),
        ("Down (Acknowledged)", "*****", Severity.info, True, ":acknowledgement"),
        ("Paused (paused by user)", "***", Severity.info, True, ":paused"),
        ("DOWN", "9", Severity.critical, False, ""),
    ],
)
def test_status_and_priority(status: str, priority: str, severity: Severity, resolved: bool, suffix: str) -> None:
    body = json.dumps({**load("down.json"), "status": status, "priority": priority}).encode()
    event = source().parse({}, body)[0]
    assert (event.severity, event.status, event.grouping_key) == (
        severity,
        Status.resolved if resolved else Status.firing,
        "prtg:2045" + suffix,
    )


def test_without_sensor_id_device_and_sensor_group() -> None:
    fields = {**load("down.json"), "sensorid": "%sensorid", "SENSOR": "HTTP", "sensor": None}
    event = source().parse({}, json.dumps(fields).encode())[0]
    assert (event.grouping_key, event.title) == ("prtg:core-switch-01/HTTP", "HTTP on core-switch-01 is Down")
    del fields["device"]
    event = source().parse({}, json.dumps({**fields, "sensorid": 77}).encode())[0]
    assert (event.grouping_key, event.title) == ("prtg:77", "HTTP is Down")


def test_non_http_links_are_dropped() -> None:
    fields = {**load("down.json"), "linksensor": "javascript:alert(1)", "linkdevice": "/device.htm?id=2044"}
    assert source().parse({}, json.dumps(fields).encode())[0].links == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"sensorid": "1"}, "needs `status`"),
        ({"status": "Down"}, "needs `status`"),
        ({"status": "Down", "sensorid": "%sensorid", "sensor": ""}, "needs `status`"),
    ],
)
def test_missing_identity_is_invalid(body: dict[str, str], reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=re.escape(reason)):
        source().parse({}, json.dumps(body).encode())


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a PRTG notification"):
        source().parse({}, read_fixture(other))


def test_broken_bodies_are_malformed() -> None:
    body = (OWN / "down.json").read_bytes()
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])
    with pytest.raises(PayloadMalformed):
        source().parse(FORM, quote(body[:-5].decode(), safe="").encode())
    with pytest.raises(PayloadMalformed, match="neither JSON nor form"):
        source().parse(FORM, b"Sensor Ping is Down")
    with pytest.raises(PayloadMalformed, match="UTF-8"):
        source().parse(FORM, b"status=\xff")
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + body + b"]")


@pytest.mark.parametrize("name", CASES)
def test_any_field_removed_still_parses_or_is_invalid(name: str) -> None:
    for removed, body in without_each_key(load(name)):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "status", removed
            continue
        assert all(event.title for event in events), removed


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": basic_auth("prtg", SECRET)},
        {"authorization": f"Bearer {SECRET}"},
        {"x-guardian-token": SECRET},
    ],
    ids=["basic", "bearer", "token"],
)
def test_right_secret_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Guardian-Token"),
        ({"authorization": basic_auth("prtg", "wrong")}, "do not match"),
        ({"authorization": "Basic !!!"}, "not valid base64"),
        ({"x-guardian-token": "wrong"}, "does not match"),
    ],
    ids=["missing", "wrong-basic", "broken-basic", "wrong-token"],
)
def test_wrong_or_missing_secret_is_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything_and_sign_matches_verify() -> None:
    source().verify({}, b"anything")
    assert source().sign(b"{}") == {}
    assert source(SECRET).sign(b"{}") == {"X-Guardian-Token": SECRET}
    source(SECRET).verify({"x-guardian-token": SECRET}, b"{}")


def test_registered_with_group_scheme_and_config() -> None:
    assert registry()["prtg"] is PrtgSource
    assert PrtgSource.group == "infrastructure"
    assert "Basic" in PrtgSource.auth_scheme
    with pytest.raises(ValidationError):
        PrtgConfig.model_validate({"secret": "x"})
    with pytest.raises(TypeError):
        PrtgSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    assert PrtgConfig.model_validate(documented_config("prtg")).webhook_secret_env == "PRTG_WEBHOOK_SECRET"


def test_documented_payload_is_one_json_line_with_every_field_read() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "sources" / "prtg.md").read_text(encoding="utf-8")
    [line] = [line.strip() for line in page.splitlines() if line.strip().startswith('{"sensorid"')]
    template = json.loads(line)
    assert set(template) == set(load("down.json"))
    assert all(value == f"%{key}" for key, value in template.items())
    assert source().parse({}, line.encode()) == []  # what "Send test notification" posts


# --- HTTP contract --------------------------------------------------------------------------------


contract = contract_fixture("prtg")


def stored(name: str) -> dict[str, Any]:
    expected = CASES[name]
    return {
        "kind": "sensor_state",
        "status": expected["status"].value,
        "severity": expected["severity"].value,
        "title": expected["title"],
        "service": expected["service"],
        "grouping_key": expected["grouping_key"],
    }


def test_contract_every_payload_is_stored_normalized(contract: ContractServer) -> None:
    for name in CASES:
        # PRTG labels the JSON form-encoded and sends the URL credentials as Basic.
        answer = contract.post(
            (OWN / name).read_bytes(),
            {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic_auth("prtg", contract.secret)},
            sign=False,
        )
        assert_fields(contract.events(answer), [stored(name)])
        signed = contract.post((OWN / name).read_bytes())
        assert_fields(contract.events(signed), [stored(name)])
    test = contract.post((OWN / "test-notification.json").read_bytes())
    assert test.status_code == 202 and test.json()["accepted"] == 0


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract, (OWN / "down.json").read_bytes(), read_fixture("sentry/issue-created.json"), "not a PRTG notification"
    )


# --- property tests -------------------------------------------------------------------------------

POOL = [load(path.name) for path in sorted(OWN.glob("*.json"))]
HEADERS = st.sampled_from([{}, FORM, {"content-type": "application/json"}])


@FUZZ
@given(value=json_values | shaped_values, headers=HEADERS)
def test_random_json_returns_events_or_a_source_error(value: Any, headers: dict[str, str]) -> None:
    check(source(), headers, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(data: st.DataObject) -> None:
    document = mutate(data, data.draw(st.sampled_from(POOL)))
    check(source(), FORM, encode(document))
    check(source(), FORM, quote(json.dumps(document), safe="").encode())
    if isinstance(document, dict):
        check(source(), FORM, urlencode({str(k): json.dumps(v) for k, v in document.items()}).encode())


@FUZZ
@given(body=st.binary(max_size=96), headers=HEADERS)
def test_random_bytes_return_events_or_a_source_error(body: bytes, headers: dict[str, str]) -> None:
    check(source(), headers, body)
