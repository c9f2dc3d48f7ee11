"""Bugsnag source: every payload normalized field by field, shared-secret auth, refusals and the HTTP contract.

There is no shared Bugsnag fixture; the payloads under tests/sources/payloads/bugsnag/ follow the
JSON payload documented at https://docs.bugsnag.com/product/integrations/webhook/ and that
folder's SOURCES.md says how each was built.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.bugsnag import BugsnagSource
from tests.sources._contract import ContractServer, as_stored, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_files, json_object
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "bugsnag"
ERROR_KEY = "bugsnag:error:56b9ca7f17025f8756f69057"
PROJECT = "My Test Project"
ERROR_URL = "https://app.bugsnag.com/my-company/my-test-project/errors/56b9ca7f17025f8756f69057"
PROJECT_URL = "https://app.bugsnag.com/my-company/my-test-project"

CASES: dict[str, dict[str, Any]] = {
    "firstException.json": {
        "kind": "firstException",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "NoMethodError: Unable to connect to database.",
        "message": "Unable to connect to database.",
        "exception_type": "NoMethodError",
        "service": PROJECT,
        "environment": "production",
        "grouping_key": ERROR_KEY,
        "frames": [
            ("gems/actionpack-7.1.0/lib/abstract_controller/base.rb", "process_action", 6, False),
            ("controllers/auth/session_controller.rb", "create", 1234, True),
        ],
        "links": [ERROR_URL + "?event_id=56b9ca7f17025f8756f69060", "http://demo.bugify.com/issues/3"],
        "occurred_at": "2015-11-27T15:26:11+00:00",
    },
    "exception.json": {
        "kind": "exception",
        "status": Status.firing,
        "severity": Severity.medium,
        "title": "Timeout::Error: execution expired",
        "message": "execution expired",
        "exception_type": "Timeout::Error",
        "service": PROJECT,
        "environment": "staging",
        "grouping_key": "bugsnag:error:5f0c3a1b2c3d4e5f60718290",
        "frames": [
            ("app/controllers/reports_controller.rb", "export", 17, True),
            ("app/services/report_exporter.rb", "fetch_rows", 42, True),
        ],
        "links": [
            "https://app.bugsnag.com/my-company/my-test-project/errors/5f0c3a1b2c3d4e5f60718290"
            "?event_id=5f0c3a1b2c3d4e5f60718293"
        ],
        "occurred_at": "2020-07-13T09:30:00+00:00",
    },
    "errorStateManualChange.json": {
        "kind": "errorStateManualChange",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "NoMethodError: Unable to connect to database.",
        "message": "Unable to connect to database.",
        "exception_type": "NoMethodError",
        "service": PROJECT,
        "environment": "production",
        "grouping_key": ERROR_KEY,
        "frames": [],
        "links": [ERROR_URL + "?event_id=56b9ca7f17025f8756f69061"],
        "occurred_at": "2015-11-28T09:00:00+00:00",
    },
    "comment.json": {
        "kind": "comment",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Comment on NoMethodError: Unable to connect to database.",
        "message": "Looks like the database pool is exhausted; investigating.",
        "exception_type": None,
        "service": PROJECT,
        "environment": "production",
        "grouping_key": "bugsnag:comment:56b9ca7f17025f8756f69057",
        "frames": [],
        "links": [ERROR_URL, PROJECT_URL],
        "occurred_at": None,
    },
    "projectSpiking.json": {
        "kind": "projectSpiking",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "My Test Project: spike in errors",
        "message": "Project spiking: 5000 events in the last hour",
        "exception_type": None,
        "service": PROJECT,
        "environment": None,
        "grouping_key": "bugsnag:project:56b9ca7f17025f8756f69055:spike",
        "frames": [],
        "links": [PROJECT_URL],
        "occurred_at": None,
    },
    "release.json": {
        "kind": "release",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Release 2.5.0",
        "message": "New release",
        "exception_type": None,
        "service": PROJECT,
        "environment": "production",
        "grouping_key": "bugsnag:release:5d7a4f0e1c9d440001a1b2c3",
        "frames": [],
        "links": [PROJECT_URL + "/releases/5d7a4f0e1c9d440001a1b2c3", PROJECT_URL],
        "occurred_at": "2019-09-12T10:00:00+00:00",
    },
}


def read(name: str) -> bytes:
    return (OWN / name).read_bytes()


def load(name: str) -> dict[str, Any]:
    return json_object(read(name))


def source(secret: str | None = None) -> BugsnagSource:
    return BugsnagSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


def test_every_payload_has_a_case() -> None:
    assert {path.name for path in OWN.glob("*.json")} == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_payload_normalizes(name: str) -> None:
    [event] = source().parse({}, read(name))
    assert event.source == "bugsnag"
    got = {
        "kind": event.kind,
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "message": event.message,
        "exception_type": event.exception_type,
        "service": event.service,
        "environment": event.environment,
        "grouping_key": event.grouping_key,
        "frames": [(frame.filename, frame.function, frame.lineno, frame.in_app) for frame in event.stack_frames],
        "links": [link.url for link in event.links],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
    }
    assert got == CASES[name]


def test_fixed_state_change_resolves_what_the_first_exception_opened() -> None:
    opened = source().parse({}, read("firstException.json"))[0]
    fixed = source().parse({}, read("errorStateManualChange.json"))[0]
    comment = source().parse({}, read("comment.json"))[0]
    assert opened.grouping_key == fixed.grouping_key == ERROR_KEY
    assert (opened.status, fixed.status) == (Status.firing, Status.resolved)
    # A comment is recorded apart, so it never resolves the error it is about.
    assert comment.grouping_key != ERROR_KEY


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("fixed", Status.resolved),
        ("ignored", Status.resolved),
        ("snoozed", Status.resolved),
        ("reopened", Status.firing),
        ("unignored", Status.firing),
        ("snoozeCancelled", Status.firing),
        (None, Status.firing),
    ],
)
def test_state_change_status(state: str | None, status: Status) -> None:
    payload = load("errorStateManualChange.json")
    payload["trigger"]["stateChange"] = state
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.status is status
    assert event.severity is (Severity.info if status is Status.resolved else Severity.high)


@pytest.mark.parametrize(
    ("severity", "unhandled", "expected"),
    [
        ("error", False, Severity.high),
        ("error", True, Severity.high),
        ("warning", False, Severity.medium),
        ("warning", True, Severity.high),
        ("info", False, Severity.info),
        ("info", True, Severity.high),
        ("INFO", False, Severity.info),
        (None, True, Severity.high),
        (None, False, Severity.medium),
        ("whatever", "yes", Severity.medium),
    ],
)
def test_severity_and_unhandled(severity: object, unhandled: object, expected: Severity) -> None:
    payload = load("firstException.json")
    payload["error"]["severity"] = severity
    payload["error"]["unhandled"] = unhandled
    assert source().parse({}, json.dumps(payload).encode())[0].severity is expected


@pytest.mark.parametrize("trigger", ["powerTen", "errorEventFrequency", "reopened", "someFutureTrigger"])
def test_other_error_triggers_fire_on_the_error(trigger: str) -> None:
    payload = load("firstException.json")
    payload["trigger"]["type"] = trigger
    [event] = source().parse({}, json.dumps(payload).encode())
    assert (event.kind, event.status, event.grouping_key) == (trigger, Status.firing, ERROR_KEY)


@pytest.mark.parametrize("trigger", ["projectSamplingStarted", "projectApproachingRateLimit"])
def test_rate_limit_notices_are_informational(trigger: str) -> None:
    payload = load("projectSpiking.json")
    payload["trigger"] = {"type": trigger, "message": "Your project is being rate-limited"}
    [event] = source().parse({}, json.dumps(payload).encode())
    assert (event.kind, event.status, event.severity) == (trigger, Status.resolved, Severity.info)
    assert event.title == "Your project is being rate-limited"


def test_labels_and_extra() -> None:
    [event] = source().parse({}, read("firstException.json"))
    assert event.labels == {
        "trigger": "New error in production",
        "context": "auth/session#create",
        "app_version": "0.1.0",
        "severity": "error",
        "status": "open",
        "unhandled": "true",
        "hostname": "web-1",
    }
    assert event.extra == {
        "event_id": "56b9ca7f17025f8756f69060",
        "request_url": "http://localhost:3000/admin/raise_exception",
    }


def test_error_trigger_without_error_is_invalid() -> None:
    payload = load("firstException.json")
    del payload["error"]
    with pytest.raises(PayloadInvalid, match="`error` object"):
        source().parse({}, json.dumps(payload).encode())


@pytest.mark.parametrize(
    "other",
    [
        "sentry/issue-created.json",
        "alertmanager/firing-2-alerts.json",
        "rollbar/new_item.json",
        "zabbix/oncall-formatted-webhook.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Any, other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Bugsnag payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed() -> None:
    body = read("firstException.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + read("release.json") + b"]")


@pytest.mark.parametrize("name", CASES)
def test_any_field_removed_still_parses_or_is_invalid(name: str) -> None:
    payload = load(name)
    nested = tuple(key for key, value in payload.items() if isinstance(value, dict))
    for removed, body in without_each_key(payload, nested=nested):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("trigger", "trigger.type", "error") or (
                removed in ("project", "account") and "account" not in payload
            ), removed
            continue
        assert event.title, removed


def test_basic_password_passes() -> None:
    source(SECRET).verify({"authorization": basic_auth("bugsnag", SECRET)}, b"{}")


def test_bearer_token_passes() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": basic_auth("bugsnag", "wrong")},
        {"authorization": "Basic %%%"},
    ],
    ids=["missing", "wrong-token", "wrong-password", "bad-base64"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(
        source(SECRET),
        source(),
        b"{}",
        {"Authorization": basic_auth("bugsnag", SECRET)},
    )


def test_registered_with_group_and_scheme() -> None:
    assert registry()["bugsnag"] is BugsnagSource
    assert BugsnagSource.group == "observability"
    assert "Basic" in BugsnagSource.auth_scheme


def test_documented_example_config_validates() -> None:
    config = SourceConfig.model_validate(documented_config("bugsnag"))
    assert config.webhook_secret_env == "BUGSNAG_WEBHOOK_SECRET"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("bugsnag")


def test_http_contract_every_payload(contract: ContractServer) -> None:
    for name, expected in CASES.items():
        answer = contract.post(read(name))
        # A missing environment is filled in by the server's default, so only set ones are compared.
        wanted = as_stored(expected, ("kind", "status", "severity", "title", "service", "environment", "grouping_key"))
        assert_fields(contract.events(answer), [wanted])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Any) -> None:
    assert_refusals(contract, read("firstException.json"), read_fixture("sentry/issue-created.json"), "Bugsnag")


# --- property tests --------------------------------------------------------------------------

POOL = json_files(OWN)


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(data: st.DataObject) -> None:
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(POOL)))))
