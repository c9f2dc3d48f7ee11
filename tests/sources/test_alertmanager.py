"""Alertmanager source: one event per alert, label mapping, shared-secret auth and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.alertmanager import AlertmanagerConfig, AlertmanagerSource
from tests.sources._helpers import assert_sign_round_trip, basic_auth
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
GENERATOR = (
    "http://cobalt:9090/graph?g0.expr=avg+by%28host%29+%28sensors_temp_input%7Bfeature%3D~%22core_%5B0-9%5D"
    "%2B%22%7D%29+%3E+15&g0.tab=1"
)

# (title, message, severity, status, service, grouping key, label count, link urls) per alert.
FIXTURES: list[tuple[str, list[tuple[Any, ...]]]] = [
    (
        "alertmanager/firing-2-alerts.json",
        [
            (
                "Instance localhost:8081 down",
                "localhost:8081 of job node has been down for more than 1 minute.",
                Severity.critical,
                Status.firing,
                "node",
                "alertmanager:f404ecabc8dd5cd7",
                5,
                [],
            ),
            (
                "Instance localhost:8082 down",
                "localhost:8082 of job node has been down for more than 1 minute.",
                Severity.critical,
                Status.firing,
                "node",
                "alertmanager:f8f08d4e32c61a9d",
                5,
                [],
            ),
        ],
    ),
    (
        "alertmanager/firing-grouped.json",
        [
            (
                "High CPU core temperature",
                "CPU core temperature is 34.75C",
                Severity.critical,
                Status.firing,
                None,
                "alertmanager:a1bc48475b20e73d",
                3,
                [GENERATOR, "http://ops1:9093"],
            ),
            (
                "High CPU core temperature",
                "CPU core temperature is 17.625C",
                Severity.critical,
                Status.firing,
                None,
                "alertmanager:c2ea85182f28cbd9",
                3,
                [GENERATOR, "http://ops1:9093"],
            ),
        ],
    ),
]


def source(secret: str | None = None) -> AlertmanagerSource:
    return AlertmanagerSource(AlertmanagerConfig(), {"webhook_secret": secret} if secret else {})


def one_alert(**alert: Any) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: list[tuple[Any, ...]]) -> None:
    events = source().parse({}, read_fixture(path))
    got = [
        (
            event.title,
            event.message,
            event.severity,
            event.status,
            event.service,
            event.grouping_key,
            len(event.labels),
            [link.url for link in event.links],
        )
        for event in events
    ]
    assert got == expected
    for event in events:
        assert (event.source, event.kind, event.stack_frames) == ("alertmanager", "alert", [])
        assert event.occurred_at is not None and event.occurred_at.year in (2020, 2023)


def test_labels_are_the_alert_labels(read_fixture: Callable[[str], bytes]) -> None:
    event = source().parse({}, read_fixture("alertmanager/firing-2-alerts.json"))[1]
    assert event.labels == {
        "job": "node",
        "group": "canary",
        "instance": "localhost:8082",
        "severity": "critical",
        "alertname": "InstanceDown",
    }


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.critical),
        ("page", Severity.critical),
        ("Emergency", Severity.critical),
        ("error", Severity.high),
        ("high", Severity.high),
        ("major", Severity.high),
        ("warning", Severity.medium),
        ("warn", Severity.medium),
        ("medium", Severity.medium),
        ("low", Severity.low),
        ("minor", Severity.low),
        ("info", Severity.info),
        ("informational", Severity.info),
        ("none", Severity.info),
        ("whatever", Severity.medium),
        (None, Severity.medium),
    ],
)
def test_severity_label(label: str | None, severity: Severity) -> None:
    labels = {"alertname": "X"} | ({"severity": label} if label else {})
    assert source().parse({}, one_alert(labels=labels))[0].severity is severity


def test_resolved_alert_uses_ends_at_and_per_alert_status() -> None:
    body = json.dumps(
        {
            "status": "firing",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "2024-01-01T00:00:00Z"},
                {
                    "status": "resolved",
                    "labels": {"alertname": "B"},
                    "startsAt": "2024-01-01T00:00:00Z",
                    "endsAt": "2024-01-01T01:30:00Z",
                },
            ],
        }
    ).encode()
    firing, resolved = source().parse({}, body)
    assert firing.status is Status.firing and firing.occurred_at is not None and firing.occurred_at.hour == 0
    assert resolved.status is Status.resolved and resolved.occurred_at is not None
    assert (resolved.occurred_at.hour, resolved.occurred_at.minute) == (1, 30)


def test_title_message_service_environment_fallbacks() -> None:
    event = source().parse(
        {},
        one_alert(
            labels={"alertname": "DiskFull", "app": "billing", "env": "prod", "zone": "b"},
            annotations={"message": "disk at 99%", "runbook_url": "https://runbooks/disk"},
            generatorURL="javascript:alert(1)",
        ),
    )[0]
    assert (event.title, event.message, event.service, event.environment) == (
        "DiskFull",
        "disk at 99%",
        "billing",
        "prod",
    )
    # No fingerprint: the alert name and the sorted label set identify it.
    assert event.grouping_key == "alertmanager:DiskFull{alertname=DiskFull,app=billing,env=prod,zone=b}"
    # Only http(s) links survive.
    assert [link.url for link in event.links] == ["https://runbooks/disk"]


def test_non_string_label_values_become_strings() -> None:
    event = source().parse({}, one_alert(labels={"alertname": "X", "code": 503, "up": False, "nested": {"a": 1}}))[0]
    assert event.labels == {"alertname": "X", "code": "503", "up": "false"}


def test_empty_alert_list_gives_no_events() -> None:
    assert source().parse({}, json.dumps({"version": "4", "alerts": []}).encode()) == []


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "datadog/log_alert-triggered.json", "github/push.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="`alerts` list"):
        source().parse({}, read_fixture(other))


@pytest.mark.parametrize("alerts", ['"x"', "{}", "null"])
def test_alerts_not_a_list_is_invalid(alerts: str) -> None:
    with pytest.raises(PayloadInvalid, match="`alerts` list"):
        source().parse({}, b'{"alerts": ' + alerts.encode() + b"}")


def test_alert_not_an_object_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match=r"alerts\[1\]"):
        source().parse({}, b'{"alerts": [{}, 3]}')


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("alertmanager/firing-grouped.json")[:-2])


def test_json_array_is_invalid(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + read_fixture("alertmanager/firing-grouped.json") + b"]")


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = json.loads(read_fixture(path))
    for index in range(len(payload["alerts"])):
        for key in list(payload["alerts"][index]):
            alert = dict(payload["alerts"][index])
            del alert[key]
            body = json.dumps({**payload, "alerts": [alert]}).encode()
            [event] = source().parse({}, body)
            assert event.title, key
    for removed, body in without_each_key(payload):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "alerts"
            continue
        assert len(events) == 2


def test_bearer_token_passes() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


def test_basic_password_passes() -> None:
    source(SECRET).verify({"authorization": basic_auth("alertmanager", SECRET)}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Token {SECRET}"},
        {"authorization": basic_auth("user", "wrong")},
        {"authorization": "Basic not-base64!"},
    ],
    ids=["missing", "wrong-token", "wrong-scheme", "wrong-password", "bad-base64"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_registered_under_name_and_prometheus_alias() -> None:
    assert registry()["alertmanager"] is AlertmanagerSource
    assert config_keys()["prometheus"] is AlertmanagerSource
    assert AlertmanagerSource.group == "observability"


def test_config_marks_future_keys_and_forbids_unknown() -> None:
    properties = AlertmanagerConfig.model_json_schema()["properties"]
    assert properties["scrape_url"]["not_yet_used"] is True
    assert properties["alert_webhook_port"]["not_yet_used"] is True
    with pytest.raises(ValidationError):
        AlertmanagerConfig.model_validate({"scrape_interval": "15s"})


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(source(SECRET), source(), b"{}", {"Authorization": f"Bearer {SECRET}"})


def test_documented_example_config_validates() -> None:
    config = AlertmanagerConfig.model_validate(documented_config("alertmanager"))
    assert config.webhook_secret_env == "ALERTMANAGER_WEBHOOK_SECRET"
