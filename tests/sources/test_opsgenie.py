"""Opsgenie source: alert actions field by field, shared-secret auth, refusals, HTTP contract.

The payloads under tests/sources/payloads/opsgenie/ follow the body Opsgenie's Webhook
integration posts (top-level `action`, `alert`, `source`, `integrationId`, `integrationName`;
escalations add `escalationName`, `escalationNotify`, ...), as described at
https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-webhook/ and shown by the
shared fixtures; the values are our own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.opsgenie import OpsgenieConfig, OpsgenieSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_server
from tests.sources._fuzz import FUZZ, check, encode, keyed_json, mutate
from tests.sources._helpers import PAYLOADS, basic_auth, json_object, read_payload
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "opsgenie"
ALERT = "052652ac-5d1c-464a-812a-7dd18bbfba8c"
OWN_ALERT = "7c1e4b2a-9f3d-4e8a-b6c5-2d1f0e9a8b7c"

# (fixture, expected fields of its one event); "own/" paths are under payloads/opsgenie/.
FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        "opsgenie/alert-create.json",
        {
            "kind": "Create",
            "status": "firing",
            "severity": "critical",
            "title": "test alert",
            "message": "Testing opsgenie alerts",
            "service": "An example entity",
            "grouping_key": f"opsgenie:{ALERT}",
            "labels": {"tags": "tag1,tag2"},
            "occurred_at": "2023-06-16T11:51:06.116000+00:00",
        },
    ),
    (
        "opsgenie/alert-close.json",
        {
            "kind": "Close",
            "status": "resolved",
            "severity": "medium",
            "title": "test alert",
            "message": "",
            "service": None,
            "grouping_key": f"opsgenie:{ALERT}",
            "labels": {},
            "occurred_at": "2015-01-05T10:06:14.669000+00:00",
        },
    ),
    (
        "own/acknowledge.json",
        {
            "kind": "Acknowledge",
            "status": "firing",
            "severity": "high",
            "title": "checkout-api: 5xx rate above 5%",
            "service": "checkout-api",
            "grouping_key": f"opsgenie:{OWN_ALERT}",
            "labels": {"tags": "checkout,env:production"},
            "occurred_at": "2024-05-14T08:05:41.503000+00:00",
        },
    ),
    (
        "own/add-note.json",
        {
            "kind": "AddNote",
            "status": "resolved",
            "severity": "info",
            "title": "AddNote: checkout-api: 5xx rate above 5%",
            "message": "Rolled back the 14:02 deploy; watching the error rate.",
            "service": "checkout-api",
            "grouping_key": f"opsgenie:{OWN_ALERT}:activity",
        },
    ),
    (
        "own/escalate.json",
        {
            "kind": "Escalate",
            "status": "firing",
            "severity": "medium",
            "title": f"Opsgenie alert {OWN_ALERT}",
            "service": None,
            "grouping_key": f"opsgenie:{OWN_ALERT}",
            "occurred_at": None,
        },
    ),
]


def source(secret: str | None = None, **config: Any) -> OpsgenieSource:
    return OpsgenieSource(OpsgenieConfig(**config), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def with_action(read_fixture: Callable[[str], bytes], action: str, **alert: Any) -> bytes:
    payload = load(read_fixture, "opsgenie/alert-create.json")
    payload["action"] = action
    payload["alert"].update(alert)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: dict[str, Any]) -> None:
    [event] = source().parse({}, read(read_fixture, path))
    got = event.model_dump(mode="json")
    got["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    assert {key: got[key] for key in expected} == expected
    assert (event.source, event.links, event.stack_frames, event.environment) == ("opsgenie", [], [], None)


def test_extra_keeps_the_alert_identity(read_fixture: Callable[[str], bytes]) -> None:
    [created] = source().parse({}, read_fixture("opsgenie/alert-create.json"))
    assert created.extra == {
        "action": "Create",
        "alert_id": ALERT,
        "alias": "aliastest",
        "tiny_id": "10",
        "priority": "P1",
        "entity": "An example entity",
        "alert_source": "user@domain.com",
        "username": "username",
        "integration": "Port-Integration",
        "teams": ["team1", "team2"],
    }
    [acked] = source().parse({}, read(read_fixture, "own/acknowledge.json"))
    assert acked.extra["acknowledged"] is True
    [escalated] = source().parse({}, read(read_fixture, "own/escalate.json"))
    assert escalated.extra["escalation"] == "payments_escalation"


def test_create_and_close_share_the_grouping_key(read_fixture: Callable[[str], bytes]) -> None:
    [created] = source().parse({}, read_fixture("opsgenie/alert-create.json"))
    [closed] = source().parse({}, read_fixture("opsgenie/alert-close.json"))
    assert created.grouping_key == closed.grouping_key
    assert (created.status, closed.status) == (Status.firing, Status.resolved)


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("P1", Severity.critical),
        ("P2", Severity.high),
        ("P3", Severity.medium),
        ("p4", Severity.low),
        ("P5", Severity.info),
        ("P9", Severity.medium),
        (None, Severity.medium),
    ],
)
def test_priority_maps_to_severity(
    read_fixture: Callable[[str], bytes], priority: str | None, severity: Severity
) -> None:
    assert source().parse({}, with_action(read_fixture, "Create", priority=priority))[0].severity is severity


@pytest.mark.parametrize(
    ("action", "status", "activity"),
    [
        ("Delete", Status.resolved, False),
        ("UnAcknowledge", Status.firing, False),
        ("EscalateToNext", Status.firing, False),
        ("UpdatePriority", Status.firing, False),
        ("AddTags", Status.resolved, True),
        ("AssignOwnership", Status.resolved, True),
        ("CustomAction", Status.resolved, True),
        ("SomethingNew", Status.resolved, True),
    ],
)
def test_actions(read_fixture: Callable[[str], bytes], action: str, status: Status, activity: bool) -> None:
    [event] = source().parse({}, with_action(read_fixture, action))
    assert (event.kind, event.status) == (action, status)
    assert event.grouping_key == f"opsgenie:{ALERT}" + (":activity" if activity else "")
    assert (event.severity is Severity.info) == activity


def test_alias_identifies_an_alert_without_id_and_details_give_service(read_fixture: Callable[[str], bytes]) -> None:
    body = with_action(read_fixture, "Create", alertId=None, details={"service": "billing", "env": "staging", "n": 3})
    [event] = source().parse({}, body)
    assert (event.grouping_key, event.service, event.environment) == ("opsgenie:aliastest", "billing", "staging")
    assert event.labels == {"service": "billing", "env": "staging", "n": "3", "tags": "tag1,tag2"}


@pytest.mark.parametrize(
    "other", ["github/dependabot_alert-created.json", "pagerduty/v3-incident-priority_updated.json", "github/push.json"]
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="Opsgenie"):
        source().parse({}, read_fixture(other))


def test_missing_action_is_invalid(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "opsgenie/alert-close.json")
    del payload["action"]
    with pytest.raises(PayloadInvalid, match="action"):
        source().parse({}, json.dumps(payload).encode())


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("opsgenie/alert-create.json")[:40])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[]")


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = load(read_fixture, path)
    for removed, body in without_each_key(payload, nested=("alert",)):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            remaining = {"alertId", "alias"} & set(payload["alert"]) - {removed.removeprefix("alert.")}
            assert removed in ("alert", "action") or not remaining, removed
            continue
        assert event.title, removed


def test_bearer_and_basic_pass() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")
    source(SECRET).verify({"authorization": basic_auth("opsgenie", SECRET)}, b"{}")


def test_custom_header_passes_and_authorization_no_longer_does() -> None:
    custom = source(SECRET, auth_header="X-Guardian-Token")
    custom.verify({"x-guardian-token": SECRET}, b"{}")
    with pytest.raises(Unauthorized, match="X-Guardian-Token"):
        custom.verify({"authorization": f"Bearer {SECRET}"}, b"{}")
    with pytest.raises(Unauthorized, match="X-Guardian-Token"):
        custom.verify({"x-guardian-token": "wrong"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": f"GenieKey {SECRET}"}, {"x-guardian-token": SECRET}],
    ids=["missing", "wrong", "wrong-scheme", "other-header"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")
    source(auth_header="X-Token").verify({}, b"{}")


def test_registered_with_group_and_scheme() -> None:
    assert registry()["opsgenie"] is OpsgenieSource
    assert OpsgenieSource.group == "incident_management"


def test_config_validates_header_name_and_forbids_unknown_keys() -> None:
    assert OpsgenieConfig(auth_header="X-Api-Token").auth_header == "X-Api-Token"
    with pytest.raises(ValidationError):
        OpsgenieConfig(auth_header="X Token: bad")
    with pytest.raises(ValidationError):
        OpsgenieConfig.model_validate({"api_key_env": "KEY"})


@pytest.mark.parametrize("config", [{}, {"auth_header": "X-Guardian-Token"}])
def test_sign_produces_what_verify_accepts(config: dict[str, Any]) -> None:
    signed = source(SECRET, **config).sign(b"{}")
    source(SECRET, **config).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source(**config).sign(b"{}") == {}


def test_documented_example_config_validates() -> None:
    config = OpsgenieConfig.model_validate(documented_config("opsgenie"))
    assert (config.webhook_secret_env, config.auth_header) == ("OPSGENIE_WEBHOOK_SECRET", "X-Guardian-Token")


# HTTP contract, once with Authorization and once with the secret in a custom header.


@pytest.fixture(scope="module", params=[{}, {"auth_header": "X-Guardian-Token"}], ids=["authorization", "custom"])
def contract(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server("opsgenie", tmp_path_factory, extra=request.param) as server:
        yield server


def test_contract_fixtures_are_accepted_and_stored(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for path, expected in FIXTURES:
        answer = contract.post(read(read_fixture, path), {"User-Agent": "Opsgenie"})
        assert_fields(contract.events(answer), [expected])


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        read_fixture("opsgenie/alert-create.json"),
        read_fixture("github/dependabot_alert-created.json"),
        "Opsgenie",
    )


# Property tests: any body gives events or a SourceError, nothing else.

SHAPED_KEYS = ["action", "alert", "alertId", "alias", "tinyId", "message", "priority", "tags", "teams", "details",
               "entity", "note", "createdAt", "updatedAt", "description", "source", "escalationName"]  # fmt: skip
shaped = keyed_json(SHAPED_KEYS)


@FUZZ
@given(value=shaped)
def test_random_json(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data(), path=st.sampled_from([case[0] for case in FIXTURES]))
def test_mutated_fixtures(read_fixture: Callable[[str], bytes], data: st.DataObject, path: str) -> None:
    check(source(), {}, encode(mutate(data, load(read_fixture, path))))
