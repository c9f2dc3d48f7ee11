"""Splunk On-Call (VictorOps) source: flat and nested incident payloads, shared-secret auth, refusals, contract.

The payloads under tests/sources/payloads/victorops/ use Splunk On-Call's outbound-webhook
variables (`INCIDENT.*`, `ALERT.*`, `STATE.*`, listed at
https://help.victorops.com/knowledge-base/custom-outbound-webhooks/) in the two shapes the
shared fixture's origin documents: flat keys (its "Example Raw Payload") and nested sections
(its "Example Event Payload", relay-integrations/relay-splunk-on-call
triggers/incident-triggered/README.md). The values are our own.
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
from liberation_guardian.sources.victorops import VictorOpsConfig, VictorOpsSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_server
from tests.sources._fuzz import FUZZ, check, encode, keyed_json, mutate
from tests.sources._helpers import PAYLOADS, basic_auth, json_object, read_payload
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "victorops"
RAW = "victorops/outbound-webhook-incident-raw.json"

FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        # The documented example: the incident is resolved while its ALERT.* fields still
        # describe the CRITICAL alert that opened it.
        RAW,
        {
            "kind": "incident",
            "status": "resolved",
            "severity": "critical",
            "title": "Incident 9",
            "message": "Incident 9 Body",
            "service": "Incident 9",
            "grouping_key": "victorops:9",
            "links": [],
            "occurred_at": "2022-03-02T12:41:08.334000+00:00",
        },
    ),
    (
        "own/incident-triggered-warning.json",
        {
            "kind": "incident",
            "status": "firing",
            "severity": "medium",
            "title": "order-queue depth above 10k on queue-02",
            "message": "Queue depth is 12840 messages (threshold 10000).",
            "service": "order-queue",
            "grouping_key": "victorops:57",
            "links": [{"title": "More information", "url": "https://grafana.example.com/d/queues?var-host=queue-02"}],
            "occurred_at": "2024-05-14T10:20:00.512000+00:00",
        },
    ),
    (
        "own/incident-acknowledged.json",
        {
            "kind": "incident",
            "status": "firing",
            "severity": "critical",
            "title": "postgres replication lag on db-04",
            "service": "postgres",
            "grouping_key": "victorops:58",
        },
    ),
    (
        "own/incident-resolved-nested.json",
        {
            "kind": "incident",
            "status": "resolved",
            "severity": "info",
            "title": "order-queue depth above 10k on queue-02",
            "message": "Queue depth is 312 messages (threshold 10000).",
            "service": "order-queue",
            "grouping_key": "victorops:57",
            "occurred_at": "2024-05-14T10:43:30.101000+00:00",
        },
    ),
]


def source(secret: str | None = None, **config: Any) -> VictorOpsSource:
    return VictorOpsSource(VictorOpsConfig(**config), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def raw_with(read_fixture: Callable[[str], bytes], **changes: Any) -> bytes:
    payload = load(read_fixture, RAW)
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: dict[str, Any]) -> None:
    [event] = source().parse({}, read(read_fixture, path))
    got = event.model_dump(mode="json")
    got["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    assert {key: got[key] for key in expected} == expected
    assert (event.source, event.environment, event.stack_frames) == ("victorops", None, [])


def test_raw_fixture_labels_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read_fixture(RAW))
    assert event.labels == {
        "incident_id": "9",
        "entity_id": "bae7a0fc-42b6-45cc-9bff-5b1719c96c91",
        "monitoring_tool": "manual",
        "teams_paged": "team-RBRIvg2KCxZHJF3i",
    }
    assert event.extra == {
        "phase": "RESOLVED",
        "message_type": "CRITICAL",
        "entity_state": "CRITICAL",
        "acknowledged_by": "timidri",
        "tags": ["incident9", "routingdefault", "typesystemmessagenotify", "typeincidentnotify"],
    }


def test_trigger_and_nested_resolution_share_the_grouping_key(read_fixture: Callable[[str], bytes]) -> None:
    [fired] = source().parse({}, read(read_fixture, "own/incident-triggered-warning.json"))
    [cleared] = source().parse({}, read(read_fixture, "own/incident-resolved-nested.json"))
    assert fired.grouping_key == cleared.grouping_key == "victorops:57"
    assert (fired.status, cleared.status) == (Status.firing, Status.resolved)
    assert fired.labels["teams_paged"] == cleared.labels["teams_paged"] == "team-ops,team-orders"


def test_acknowledged_incident_is_marked(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own/incident-acknowledged.json"))
    assert (event.extra["acknowledged"], event.extra["acknowledged_by"]) == (True, "sam")


@pytest.mark.parametrize(
    ("message_type", "severity", "status"),
    [
        ("CRITICAL", Severity.critical, Status.firing),
        ("WARNING", Severity.medium, Status.firing),
        ("INFO", Severity.info, Status.firing),
        ("RECOVERY", Severity.info, Status.resolved),
        ("recovery", Severity.info, Status.resolved),
        ("ACKNOWLEDGEMENT", Severity.high, Status.firing),
    ],
)
def test_message_type_without_phase(
    read_fixture: Callable[[str], bytes], message_type: str, severity: Severity, status: Status
) -> None:
    body = raw_with(read_fixture, INCIDENT__CURRENT_PHASE=None, ALERT__message_type=message_type)
    [event] = source().parse({}, body)
    assert (event.severity, event.status) == (severity, status)


@pytest.mark.parametrize(("phase", "status"), [("UNACKED", Status.firing), ("ACKED", Status.firing)])
def test_phase_decides_status(read_fixture: Callable[[str], bytes], phase: str, status: Status) -> None:
    [event] = source().parse({}, raw_with(read_fixture, INCIDENT__CURRENT_PHASE=phase))
    assert event.status is status


def test_grouping_key_falls_back_to_the_entity(read_fixture: Callable[[str], bytes]) -> None:
    body = raw_with(read_fixture, INCIDENT__INCIDENT_NAME=None, INCIDENT__INCIDENT_ID=None, STATE__INCIDENT_NAME=None)
    assert source().parse({}, body)[0].grouping_key == "victorops:entity:bae7a0fc-42b6-45cc-9bff-5b1719c96c91"


def test_numeric_incident_id_and_javascript_link(read_fixture: Callable[[str], bytes]) -> None:
    body = raw_with(
        read_fixture, INCIDENT__INCIDENT_NAME=None, INCIDENT__INCIDENT_ID=12, STATE__INFO_URL="javascript:alert(1)"
    )
    [event] = source().parse({}, body)
    assert (event.grouping_key, event.links) == ("victorops:12", [])


@pytest.mark.parametrize(
    "other", ["gcp-monitoring/incident-closed-v1.2.json", "github/dependabot_alert-created.json", "github/push.json"]
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="Splunk On-Call"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture(RAW)[:-10])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"INCIDENT.INCIDENT_ID": "1"}]')


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = load(read_fixture, path)
    nested = tuple(key for key in ("incident", "alert", "state") if isinstance(payload.get(key), dict))
    for removed, body in without_each_key(payload, nested=nested):
        [event] = source().parse({}, body)
        assert event.title, removed


def test_bearer_basic_and_custom_header() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")
    source(SECRET).verify({"authorization": basic_auth("victorops", SECRET)}, b"{}")
    source(SECRET, auth_header="X-VO-Token").verify({"x-vo-token": SECRET}, b"{}")


@pytest.mark.parametrize(
    ("config", "headers", "reason"),
    [
        ({}, {}, "missing Authorization"),
        ({}, {"authorization": "Bearer nope"}, "Authorization"),
        ({"auth_header": "X-VO-Token"}, {}, "missing X-VO-Token"),
        ({"auth_header": "X-VO-Token"}, {"x-vo-token": "nope"}, "X-VO-Token does not match"),
    ],
)
def test_bad_credentials_are_unauthorized(config: dict[str, Any], headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET, **config).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_registered_and_config_forbids_unknown_keys() -> None:
    assert registry()["victorops"] is VictorOpsSource
    assert VictorOpsSource.group == "incident_management"
    with pytest.raises(ValidationError):
        VictorOpsConfig.model_validate({"routing_key": "x"})


@pytest.mark.parametrize("config", [{}, {"auth_header": "X-VO-Token"}])
def test_sign_produces_what_verify_accepts(config: dict[str, Any]) -> None:
    signed = source(SECRET, **config).sign(b"{}")
    source(SECRET, **config).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source(**config).sign(b"{}") == {}


def test_documented_example_config_validates() -> None:
    config = VictorOpsConfig.model_validate(documented_config("victorops"))
    assert (config.webhook_secret_env, config.auth_header) == ("VICTOROPS_WEBHOOK_SECRET", "X-Guardian-Token")


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server("victorops", tmp_path_factory, extra={"auth_header": "X-Guardian-Token"}) as server:
        yield server


def test_contract_fixtures_are_accepted_and_stored(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for path, expected in FIXTURES:
        answer = contract.post(read(read_fixture, path))
        assert_fields(contract.events(answer), [expected])


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract, read_fixture(RAW), read_fixture("gcp-monitoring/incident-closed-v1.2.json"), "Splunk On-Call"
    )


SHAPED_KEYS = ["incident", "alert", "state", "INCIDENT.INCIDENT_NAME", "INCIDENT.CURRENT_PHASE", "ALERT.message_type",
               "ALERT.entity_id", "STATE.INFO_URL", "current_phase", "message_type", "entity_id", "teams_paged",
               "INCIDENT.TEAMS_PAGED.0", "STATE.RESOLVED_AT", "incident_name"]  # fmt: skip
shaped = keyed_json(SHAPED_KEYS)


@FUZZ
@given(value=shaped)
def test_random_json(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data(), path=st.sampled_from([case[0] for case in FIXTURES]))
def test_mutated_fixtures(read_fixture: Callable[[str], bytes], data: st.DataObject, path: str) -> None:
    check(source(), {}, encode(mutate(data, load(read_fixture, path))))
