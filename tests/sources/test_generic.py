"""Generic source: default and configured JMESPath mappings, config validation, HMAC and API key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.generic import GenericConfig, GenericSource
from tests.sources.conftest import documented_config, hex_hmac

SECRET = "s3cret"
API_KEY = "k3y"


def source(secrets: dict[str, str] | None = None, **config: Any) -> GenericSource:
    return GenericSource(GenericConfig.model_validate(config), secrets or {})


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_plain_body_needs_no_mapping() -> None:
    [event] = source().parse(
        {}, body({"title": "Queue backed up", "severity": "high", "message": "12k messages waiting"})
    )
    assert (event.source, event.kind, event.status) == ("generic", "event", Status.firing)
    assert (event.title, event.severity, event.message) == ("Queue backed up", Severity.high, "12k messages waiting")
    assert (event.service, event.environment, event.grouping_key, event.links) == (None, None, None, [])


def test_default_mapping_reads_every_field() -> None:
    [event] = source().parse(
        {},
        body(
            {
                "summary": "Disk full",
                "description": "/var at 100%",
                "level": "Warning",
                "state": "resolved",
                "service": "db",
                "env": "prod",
                "fingerprint": "disk-/var",
                "labels": {"host": "db-1", "cores": 8, "ssd": True},
                "timestamp": 1700000000,
                "url": "https://tool.example/issue/1",
            }
        ),
    )
    assert (event.title, event.message, event.severity, event.status) == (
        "Disk full",
        "/var at 100%",
        Severity.medium,
        Status.resolved,
    )
    assert (event.service, event.environment, event.grouping_key) == ("db", "prod", "generic:disk-/var")
    assert event.labels == {"host": "db-1", "cores": "8", "ssd": "true"}
    assert event.occurred_at is not None and event.occurred_at.year == 2023
    assert [link.url for link in event.links] == ["https://tool.example/issue/1"]
    assert event.extra == {}


def test_array_is_one_event_per_object() -> None:
    events = source().parse({}, body([{"title": "a"}, {"title": "b", "severity": "p1"}]))
    assert [(event.title, event.severity) for event in events] == [("a", Severity.medium), ("b", Severity.critical)]


def test_empty_array_gives_no_events() -> None:
    assert source().parse({}, b"[]") == []


def test_configured_mapping_with_events_and_maps() -> None:
    generic = source(
        events="records[?kind != 'heartbeat']",
        mapping={
            "title": "join(' ', [check.name, 'failed'])",
            "message": "details.text",
            "severity": "details.prio",
            "status": "phase",
            "service": "check.owner",
            "environment": None,
            "fingerprint": "check.id",
            "labels": "{region: region, zone: details.zone}",
            "occurred_at": "at",
            "link": "links[0].href",
        },
        severity_map={"URGENT": "Critical", "Later": "low"},
        status_map={"Done": "resolved", "RUNNING": "firing"},
    )
    payload = {
        "records": [
            {"kind": "heartbeat"},
            {
                "kind": "check",
                "check": {"name": "login", "owner": "auth", "id": 42},
                "details": {"text": "HTTP 500", "prio": "urgent", "zone": "b"},
                "phase": "done",
                "region": "eu",
                "at": "2024-05-01T10:00:00Z",
                "links": [{"href": "https://checks.example/42"}],
                "env": "ignored because environment is switched off",
            },
        ]
    }
    [event] = generic.parse({}, body(payload))
    assert (event.title, event.message, event.severity, event.status) == (
        "login failed",
        "HTTP 500",
        Severity.critical,
        Status.resolved,
    )
    assert (event.service, event.environment, event.grouping_key) == ("auth", None, "generic:42")
    assert event.labels == {"region": "eu", "zone": "b"}
    assert event.occurred_at is not None and event.occurred_at.hour == 10
    assert [link.url for link in event.links] == ["https://checks.example/42"]


@pytest.mark.parametrize(
    ("raw", "severity"),
    [
        ("CRITICAL", Severity.critical),
        ("fatal", Severity.critical),
        ("error", Severity.high),
        ("warn", Severity.medium),
        ("minor", Severity.low),
        ("debug", Severity.info),
        ("P5", Severity.info),
        (3, Severity.medium),
    ],
)
def test_severity_words(raw: object, severity: Severity) -> None:
    assert source().parse({}, body({"title": "t", "severity": raw}))[0].severity is severity


def test_unknown_severity_and_status_are_kept_in_extra() -> None:
    [event] = source().parse({}, body({"title": "t", "severity": "sev-x", "status": "limbo"}))
    assert (event.severity, event.status) == (Severity.medium, Status.firing)
    assert event.extra == {"unmapped_severity": "sev-x", "unmapped_status": "limbo"}


def test_numeric_severity_through_severity_map() -> None:
    generic = source(severity_map={"1": "critical", "2": "high"})
    assert generic.parse({}, body({"title": "t", "severity": 1}))[0].severity is Severity.critical


def test_wrongly_typed_optional_fields_are_ignored_and_named() -> None:
    [event] = source().parse(
        {},
        body({"title": "t", "service": {"name": "api"}, "labels": ["a"], "timestamp": "soon", "url": "ftp://x"}),
    )
    assert event.service is None and event.labels == {} and event.links == [] and event.occurred_at is None
    assert set(event.extra["ignored"]) == {"service", "labels", "occurred_at", "link"}


@pytest.mark.parametrize("payload", [{"message": "no title"}, {"title": ""}, {"title": {"text": "x"}}, {"title": None}])
def test_missing_title_is_invalid_and_names_the_expression(payload: dict[str, Any]) -> None:
    with pytest.raises(PayloadInvalid, match=r"mapping\.title expression 'title \|\| summary \|\| name'"):
        source().parse({}, body(payload))


def test_expression_failing_at_runtime_is_invalid() -> None:
    generic = source(mapping={"title": "to_string(ceil(n))"})
    with pytest.raises(PayloadInvalid, match=r"mapping\.title expression"):
        generic.parse({}, b'{"n": 1e400}')  # JSON's 1e400 reads as infinity; ceil() overflows
    with pytest.raises(PayloadInvalid, match=r"mapping\.title expression"):
        generic.parse({}, body({"n": "text"}))


@pytest.mark.parametrize(("events", "payload"), [("records", {"records": {"a": 1}}), ("records", {})])
def test_events_expression_must_select_a_list(events: str, payload: dict[str, Any]) -> None:
    with pytest.raises(PayloadInvalid, match="events expression 'records'"):
        source(events=events).parse({}, body(payload))


@pytest.mark.parametrize("value", [[1, {"title": "x"}], "just text", 5, None])
def test_non_object_items_are_invalid(value: Any) -> None:
    with pytest.raises(PayloadInvalid):
        source().parse({}, body(value))


def test_truncated_json_is_malformed() -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, b'{"title": "cut')


@pytest.mark.parametrize(
    "path",
    [
        "alertmanager/firing-grouped.json",
        "sentry/issue-created.json",
        "grafana/alerting-webhook-firing.json",
        "datadog/log_alert-triggered.json",
    ],
)
def test_other_tools_payloads_parse_or_are_invalid_without_mapping(
    read_fixture: Callable[[str], bytes], path: str
) -> None:
    try:
        events = source().parse({}, read_fixture(path))
    except PayloadInvalid as exc:
        assert "mapping.title" in exc.reason
    else:
        assert all(event.title for event in events)


def test_a_mapping_for_another_tools_payload(read_fixture: Callable[[str], bytes]) -> None:
    generic = source(
        events="alerts",
        mapping={"title": "annotations.summary", "severity": "labels.severity", "fingerprint": "fingerprint"},
    )
    events = generic.parse({}, read_fixture("alertmanager/firing-grouped.json"))
    assert [(event.title, event.severity, event.grouping_key) for event in events] == [
        ("High CPU core temperature", Severity.critical, "generic:a1bc48475b20e73d"),
        ("High CPU core temperature", Severity.critical, "generic:c2ea85182f28cbd9"),
    ]


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        ({"mapping": {"title": "a["}}, "mapping.title", "invalid JMESPath"),
        ({"mapping": {"severity": "foo(bar)"}}, "mapping.severity", "unknown function foo()"),
        ({"mapping": {"message": "length(a, b)"}}, "mapping.message", "with 2 arguments, it takes 1"),
        ({"mapping": {"labels": "merge()"}}, "mapping.labels", "it takes 1 or more"),
        ({"mapping": {"title": ""}}, "mapping.title", "invalid JMESPath"),
        ({"events": "records[?"}, "events", "invalid JMESPath"),
    ],
)
def test_invalid_expressions_fail_config_validation(config: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        GenericConfig.model_validate(config)
    message = str(info.value)
    assert f"{field}: " in message and reason in message


@pytest.mark.parametrize(
    "config",
    [
        {"mapping": {"titel": "x"}},
        {"mapping": {"title": None}},
        {"severity_map": {"p1": "urgent"}},
        {"status_map": {"done": "closed"}},
        {"signature_header": ""},
    ],
)
def test_other_bad_config_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GenericConfig.model_validate(config)


PAYLOAD = body({"title": "signed"})


def test_hmac_with_and_without_prefix() -> None:
    generic = source({"webhook_secret": SECRET})
    generic.verify({"x-signature-256": hex_hmac(SECRET, PAYLOAD)}, PAYLOAD)
    generic.verify({"x-signature-256": "sha256=" + hex_hmac(SECRET, PAYLOAD)}, PAYLOAD)
    generic.verify({"x-signature-256": "SHA256=" + hex_hmac(SECRET, PAYLOAD).upper()}, PAYLOAD)


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-signature-256": "sha256="}, {"x-signature-256": "sha256=" + hex_hmac("other", PAYLOAD)}],
    ids=["missing", "empty", "wrong"],
)
def test_bad_hmac_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Signature-256"):
        source({"webhook_secret": SECRET}).verify(headers, PAYLOAD)


def test_custom_signature_header() -> None:
    generic = source({"webhook_secret": SECRET}, signature_header="X-Hook-Sig")
    generic.verify({"x-hook-sig": hex_hmac(SECRET, PAYLOAD)}, PAYLOAD)
    with pytest.raises(Unauthorized, match="X-Hook-Sig"):
        generic.verify({"x-signature-256": hex_hmac(SECRET, PAYLOAD)}, PAYLOAD)


def test_api_key() -> None:
    generic = source({"api_key": API_KEY}, api_key_env="HOOK_KEY")
    generic.verify({"x-api-key": API_KEY}, PAYLOAD)
    for headers in ({}, {"x-api-key": "nope"}, {"authorization": f"Bearer {API_KEY}"}):
        with pytest.raises(Unauthorized, match="X-API-Key"):
            generic.verify(headers, PAYLOAD)


def test_custom_api_key_header() -> None:
    generic = source({"api_key": API_KEY}, api_key_env="HOOK_KEY", api_key_header="X-Token")
    generic.verify({"x-token": API_KEY}, PAYLOAD)
    with pytest.raises(Unauthorized, match="X-Token"):
        generic.verify({"x-api-key": API_KEY}, PAYLOAD)


def test_both_configured_requires_both() -> None:
    generic = source({"webhook_secret": SECRET, "api_key": API_KEY}, api_key_env="K", webhook_secret_env="S")
    signature = {"x-signature-256": hex_hmac(SECRET, PAYLOAD)}
    generic.verify({**signature, "x-api-key": API_KEY}, PAYLOAD)
    with pytest.raises(Unauthorized, match="X-API-Key"):
        generic.verify(signature, PAYLOAD)
    with pytest.raises(Unauthorized, match="X-Signature-256"):
        generic.verify({"x-api-key": API_KEY}, PAYLOAD)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_registered_in_custom_group() -> None:
    assert registry()["generic"] is GenericSource
    assert GenericSource.group == "custom"


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ({}, set()),
        ({"webhook_secret": SECRET}, {"X-Signature-256"}),
        ({"api_key": API_KEY}, {"X-API-Key"}),
        ({"webhook_secret": SECRET, "api_key": API_KEY}, {"X-Signature-256", "X-API-Key"}),
    ],
)
def test_sign_produces_what_verify_accepts(secrets: dict[str, str], expected: set[str]) -> None:
    generic = source(secrets)
    signed = generic.sign(PAYLOAD)
    assert set(signed) == expected
    generic.verify({name.lower(): value for name, value in signed.items()}, PAYLOAD)


def test_documented_example_config_validates_and_maps() -> None:
    config = GenericConfig.model_validate(documented_config("generic"))
    generic = GenericSource(config, {})
    [event] = generic.parse(
        {},
        body(
            {
                "records": [
                    {
                        "check": {"name": "Backup", "owner": "ops", "id": "b-1"},
                        "details": {"text": "disk full", "priority": "Urgent", "zone": "a"},
                        "phase": "done",
                        "region": "eu",
                    }
                ]
            }
        ),
    )
    assert (event.title, event.severity, event.status, event.grouping_key) == (
        "Backup",
        Severity.critical,
        Status.resolved,
        "generic:b-1",
    )
