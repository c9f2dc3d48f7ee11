"""PagerDuty source: V3 and V2 webhooks field by field, v1= signatures with rotation, refusals, HTTP contract.

The payloads under tests/sources/payloads/pagerduty/ are built from PagerDuty's published V3
format (PagerDuty/developer-docs `docs/webhooks/01-Overview.md`, "Webhook Payload", "Event
Types" and "Event Data Types": the `incident` and `incident_note` objects; the `pagey.ping`
body is the test event a subscription sends), with values of our own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.pagerduty import PagerDutyConfig, PagerDutySource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, keyed_json, mutate
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_object, read_payload
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "pagerduty"
INCIDENT_URL = "https://acme.pagerduty.com/incidents/Q2K9X7NM4HB1C"

# (fixture, [expected event fields]); paths starting with "own/" are under payloads/pagerduty/.
FIXTURES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "pagerduty/v3-incident-priority_updated.json",
        [
            {
                "kind": "incident.priority_updated",
                "status": Status.firing,
                "severity": Severity.critical,
                "title": "A little bump in the road",
                "service": "API Service",
                "grouping_key": "pagerduty:PGR0VU2",
                "links": ["https://acme.pagerduty.com/incidents/PGR0VU2", "https://example.com"],
                "occurred_at": "2020-10-02T18:45:22.169000+00:00",
            }
        ],
    ),
    (
        "pagerduty/v3-service-updated.json",
        [
            {
                "kind": "service.updated",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "service.updated: testing service updates",
                "service": "testing service updates",
                "grouping_key": "pagerduty:service:PF9KMXH",
                "links": ["https://acme.pagerduty.com/services/PF9KMXH"],
                "occurred_at": "2021-03-02T13:35:11.682000+00:00",
            }
        ],
    ),
    (
        "pagerduty/v2-incident-trigger.json",
        [
            {
                "kind": "incident.trigger",
                "status": Status.firing,
                "severity": Severity.high,
                "title": "My new incident",
                "message": "Oh my gosh",
                "service": "Production XDB Cluster",
                "grouping_key": "pagerduty:PRORDTY",
                "links": ["https://webdemo.pagerduty.com/incidents/PRORDTY"],
                "occurred_at": "2017-09-26T15:14:36+00:00",
            }
        ],
    ),
    (
        "pagerduty/v2-incident-resolve.json",
        [
            {
                "kind": "incident.resolve",
                "status": Status.resolved,
                "severity": Severity.high,
                "title": "My new incident",
                "message": "Resolved by Laura Haley",
                "service": "Production XDB Cluster",
                "grouping_key": "pagerduty:PRORDTY",
                "links": ["https://webdemo.pagerduty.com/incidents/PRORDTY"],
                "occurred_at": "2017-09-26T15:18:09+00:00",
            }
        ],
    ),
    (
        "own/v3-incident-triggered.json",
        [
            {
                "kind": "incident.triggered",
                "status": Status.firing,
                "severity": Severity.high,
                "title": "checkout-api: 5xx rate above 5% for 10 minutes",
                "service": "Checkout API",
                "grouping_key": "pagerduty:Q2K9X7NM4HB1C",
                "links": [INCIDENT_URL],
                "occurred_at": "2024-05-14T08:02:11.204000+00:00",
            }
        ],
    ),
    (
        "own/v3-incident-acknowledged.json",
        [
            {
                "kind": "incident.acknowledged",
                "status": Status.firing,
                "severity": Severity.high,
                "service": "Checkout API",
                "grouping_key": "pagerduty:Q2K9X7NM4HB1C",
                "links": [INCIDENT_URL],
                "acknowledged": True,
            }
        ],
    ),
    (
        "own/v3-incident-resolved.json",
        [
            {
                "kind": "incident.resolved",
                "status": Status.resolved,
                "severity": Severity.high,
                "service": "Checkout API",
                "grouping_key": "pagerduty:Q2K9X7NM4HB1C",
                "links": [INCIDENT_URL],
                "occurred_at": "2024-05-14T08:41:03.015000+00:00",
            }
        ],
    ),
    (
        "own/v3-incident-annotated.json",
        [
            {
                "kind": "incident.annotated",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Note added: checkout-api: 5xx rate above 5% for 10 minutes",
                "message": "Rolled back deploy 2024.05.14-3; error rate dropping.",
                "grouping_key": "pagerduty:Q2K9X7NM4HB1C:activity",
                "links": [INCIDENT_URL],
            }
        ],
    ),
    ("own/v3-pagey-ping.json", []),
]
HEADERS = {"User-Agent": "PagerDuty-Webhook/V3.0", "X-Webhook-Id": "8f1d3c9e-0b2a-4c5d-9e6f-7a8b9c0d1e2f"}


def source(secret: str | None = None, previous: str | None = None) -> PagerDutySource:
    secrets = {"webhook_secret": secret} if secret else {}
    if previous:
        secrets["previous_webhook_secret"] = previous
    return PagerDutySource(PagerDutyConfig(), secrets)


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def fields(event: NormalizedEvent, wanted: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    for key in wanted:
        if key == "links":
            got[key] = [link.url for link in event.links]
        elif key == "occurred_at":
            got[key] = event.occurred_at.isoformat() if event.occurred_at else None
        elif key == "acknowledged":
            got[key] = event.extra.get("acknowledged")
        else:
            got[key] = getattr(event, key)
    return got


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]) -> None:
    events = source().parse({}, read(read_fixture, path))
    assert [fields(event, wanted) for event, wanted in zip(events, expected, strict=True)] == expected
    for event in events:
        assert event.source == "pagerduty"
        assert event.title
        assert event.environment is None and event.stack_frames == []


def test_incident_labels_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read_fixture("pagerduty/v3-incident-priority_updated.json"))
    assert event.labels == {
        "status": "triggered",
        "urgency": "high",
        "priority": "P1",
        "incident_number": "2",
        "incident_key": "d3640fbd41094207a1c11e58e46b1662",
        "service_id": "PF9KMXH",
    }
    assert event.extra == {
        "event_id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "agent": "Tenex Engineer",
        "incident_id": event.grouping_key.removeprefix("pagerduty:") if event.grouping_key else None,
        "assignees": ["User 123"],
    }


def test_firing_and_resolution_share_the_grouping_key(read_fixture: Callable[[str], bytes]) -> None:
    keys = {
        source().parse({}, read(read_fixture, path))[0].grouping_key
        for path in (
            "own/v3-incident-triggered.json",
            "own/v3-incident-acknowledged.json",
            "own/v3-incident-resolved.json",
        )
    }
    assert keys == {"pagerduty:Q2K9X7NM4HB1C"}
    v2 = {
        source().parse({}, read_fixture(path))[0].grouping_key
        for path in ("pagerduty/v2-incident-trigger.json", "pagerduty/v2-incident-resolve.json")
    }
    assert v2 == {"pagerduty:PRORDTY"}


@pytest.mark.parametrize(
    ("priority", "urgency", "severity"),
    [
        ("P1", "low", Severity.critical),
        ("P2", "low", Severity.high),
        ("p3", "high", Severity.medium),
        ("P4", "high", Severity.low),
        ("P5", "high", Severity.info),
        ("SEV-1", "high", Severity.high),  # a custom priority name says nothing: urgency decides
        (None, "high", Severity.high),
        (None, "low", Severity.medium),
        (None, None, Severity.medium),
    ],
)
def test_priority_then_urgency_maps_to_severity(
    read_fixture: Callable[[str], bytes], priority: str | None, urgency: str | None, severity: Severity
) -> None:
    payload = load(read_fixture, "pagerduty/v3-incident-priority_updated.json")
    data = payload["event"]["data"]
    data["priority"] = {**data["priority"], "summary": priority} if priority else None
    data["urgency"] = urgency
    assert source().parse({}, json.dumps(payload).encode())[0].severity is severity


def test_status_resolved_wins_over_event_type(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "pagerduty/v3-incident-priority_updated.json")
    payload["event"]["data"]["status"] = "resolved"
    assert source().parse({}, json.dumps(payload).encode())[0].status is Status.resolved


@pytest.mark.parametrize(
    ("event_type", "data", "title", "message"),
    [
        ("incident.status_update_published", {"message": "Fix deploying"}, "Status update published", "Fix deploying"),
        ("incident.responder.added", {"message": "Please help", "state": "pending"}, "Responder added", "Please help"),
        ("incident.custom_thing", {}, "incident.custom_thing", ""),
    ],
)
def test_events_about_an_incident_are_activity(event_type: str, data: dict[str, Any], title: str, message: str) -> None:
    incident = {"id": "PGR0VU2", "summary": "A little bump in the road", "type": "incident_reference"}
    body = json.dumps({"event": {"event_type": event_type, "data": {"incident": incident, **data}}}).encode()
    [event] = source().parse({}, body)
    assert (event.title, event.message) == (f"{title}: A little bump in the road", message)
    assert (event.status, event.severity, event.grouping_key) == (
        Status.resolved,
        Severity.info,
        "pagerduty:PGR0VU2:activity",
    )


def test_v2_annotate_and_acknowledge(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "pagerduty/v2-incident-trigger.json")
    annotate = json.loads(json.dumps(payload))
    annotate["messages"][0]["event"] = "incident.annotate"
    annotate["messages"][0]["log_entries"][0]["channel"] = {"type": "note", "summary": "Looking into it"}
    [note] = source().parse({}, json.dumps(annotate).encode())
    assert (note.kind, note.status, note.severity) == ("incident.annotate", Status.resolved, Severity.info)
    assert (note.title, note.message, note.grouping_key) == (
        "Note added: My new incident",
        "Looking into it",
        "pagerduty:PRORDTY:activity",
    )
    payload["messages"][0]["event"] = "incident.acknowledge"
    payload["messages"][0]["incident"]["status"] = "acknowledged"
    payload["messages"].append(payload["messages"][0])
    acks = source().parse({}, json.dumps(payload).encode())
    assert [(ack.status, ack.extra["acknowledged"]) for ack in acks] == [(Status.firing, True)] * 2


def test_empty_v2_message_list_gives_no_events() -> None:
    assert source().parse({}, b'{"messages": []}') == []


@pytest.mark.parametrize(
    "other", ["sentry/legacy-webhooks-plugin-event.json", "opsgenie/alert-create.json", "github/push.json"]
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="PagerDuty"):
        source().parse({}, read_fixture(other))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event": {"data": {}}}', "event_type"),
        (b'{"event": {"event_type": "incident.triggered"}}', "event.data"),
        (b'{"messages": [3]}', r"messages\[0\]"),
        (b'{"messages": [{"event": "incident.trigger"}]}', "incident"),
    ],
)
def test_incomplete_payloads_are_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("pagerduty/v2-incident-trigger.json")[:-3])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"event": {}}]')


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = load(read_fixture, path)
    nested: tuple[str, ...] = ("event", "event.data") if "event" in payload else ()
    if "messages" in payload:
        copy = json.loads(json.dumps(payload))
        payload = {"messages": [copy["messages"][0]]}
        for key in list(copy["messages"][0]):
            message = dict(copy["messages"][0])
            del message[key]
            try:
                events = source().parse({}, json.dumps({"messages": [message]}).encode())
            except PayloadInvalid:
                assert key in ("event", "incident")
                continue
            assert events[0].title, key
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            continue
        assert all(event.title for event in events), removed


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("pagerduty/v3-incident-priority_updated.json")
    source(SECRET).verify({"x-pagerduty-signature": f"v1={hex_hmac(SECRET, body)}"}, body)


def test_one_of_several_rotating_signatures_is_enough(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("pagerduty/v3-incident-priority_updated.json")
    header = f"v1={hex_hmac('old-secret', body)}, v1={hex_hmac(SECRET, body).upper()},v0=abc"
    source(SECRET).verify({"x-pagerduty-signature": header}, body)


def test_previous_secret_is_accepted_while_rotating(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("pagerduty/v3-incident-priority_updated.json")
    signed_with_previous = {"x-pagerduty-signature": f"v1={hex_hmac('previous', body)}"}
    source(SECRET, previous="previous").verify(signed_with_previous, body)
    with pytest.raises(Unauthorized, match="X-PagerDuty-Signature"):
        source(SECRET).verify(signed_with_previous, body)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature header X-PagerDuty-Signature"),
        ({"x-pagerduty-signature": ""}, "missing signature header"),
        ({"x-pagerduty-signature": "sha256=abc"}, "no v1= signature"),
        ({"x-pagerduty-signature": f"v1={hex_hmac('other', b'{}')}"}, "no signature in X-PagerDuty-Signature"),
    ],
    ids=["missing", "empty", "no-v1", "wrong"],
)
def test_bad_signature_is_unauthorized(
    read_fixture: Callable[[str], bytes], headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET, previous="previous").verify(headers, read_fixture("pagerduty/v3-service-updated.json"))


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("pagerduty/v3-service-updated.json")
    resigned = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"x-pagerduty-signature": f"v1={hex_hmac(SECRET, resigned)}"}, body)


def test_v2_basic_credentials_from_the_url_pass() -> None:
    source(SECRET).verify({"authorization": basic_auth("pagerduty", SECRET)}, b"{}")
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify({"authorization": basic_auth("pagerduty", "wrong")}, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")
    source(previous="previous").verify({}, b"anything")


def test_registered_with_group_and_scheme() -> None:
    assert registry()["pagerduty"] is PagerDutySource
    assert config_keys()["pagerduty"] is PagerDutySource
    assert PagerDutySource.group == "incident_management"
    assert "X-PagerDuty-Signature" in PagerDutySource.auth_scheme


def test_config_forbids_unknown_keys() -> None:
    assert PagerDutyConfig(previous_webhook_secret_env="OLD").previous_webhook_secret_env == "OLD"
    with pytest.raises(ValidationError):
        PagerDutyConfig.model_validate({"previous_secret_env": "typo"})


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("pagerduty/v3-service-updated.json")
    assert_sign_round_trip(source(SECRET), source(), body, {"X-PagerDuty-Signature": f"v1={hex_hmac(SECRET, body)}"})


def test_documented_example_config_validates() -> None:
    config = PagerDutyConfig.model_validate(documented_config("pagerduty"))
    assert config.webhook_secret_env == "PAGERDUTY_WEBHOOK_SECRET"
    assert config.previous_webhook_secret_env == "PAGERDUTY_PREVIOUS_WEBHOOK_SECRET"


# HTTP contract: every fixture through the real server, signed as PagerDuty signs.


contract = contract_fixture("pagerduty")


def stored(expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expected fields as the events API shows them."""
    rows = []
    for wanted in expected:
        row = {key: value for key, value in wanted.items() if key not in ("occurred_at", "acknowledged", "links")}
        row = {key: value.value if isinstance(value, Status | Severity) else value for key, value in row.items()}
        rows.append(row)
    return rows


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_contract_fixture_is_accepted_and_stored(
    contract: ContractServer, read_fixture: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    answer = contract.post(read(read_fixture, path), HEADERS)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == len(expected)
    events = contract.events(answer)
    assert_fields(events, stored(expected))
    for event, wanted in zip(events, expected, strict=True):
        assert [link["url"] for link in event["links"]] == wanted["links"]


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        read_fixture("pagerduty/v3-incident-priority_updated.json"),
        read_fixture("splunk/search-alert-one-result.json"),
        "PagerDuty",
        HEADERS,
    )


# Property tests: any body gives events or a SourceError, nothing else.

FIXTURE_POOL = [case[0] for case in FIXTURES]
SHAPED_KEYS = ["event", "event_type", "data", "type", "incident", "status", "priority", "summary", "urgency",
               "service", "messages", "log_entries", "channel", "id", "title", "html_url", "occurred_at"]  # fmt: skip
shaped = keyed_json(SHAPED_KEYS, max_size=5)


@FUZZ
@given(value=shaped)
def test_random_json(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data(), path=st.sampled_from(FIXTURE_POOL))
def test_mutated_fixtures(read_fixture: Callable[[str], bytes], data: st.DataObject, path: str) -> None:
    check(source(), {}, encode(mutate(data, load(read_fixture, path))))
