"""Sentry source: every fixture normalized field by field, signatures, and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status, UserImpact
from liberation_guardian.sources import registry
from liberation_guardian.sources.sentry import SentryConfig, SentrySource
from tests.sources._helpers import assert_sign_round_trip, json_object
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "s3cret"

FIXTURES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "sentry/issue-created.json",
        "issue",
        {
            "kind": "issue",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "ReferenceError: blooopy is not defined",
            "message": "blooopy is not defined",
            "exception_type": "ReferenceError",
            "service": "front-end",
            "environment": None,
            "grouping_key": "sentry:issue:1170820242",
            "user_impact": UserImpact.single_user,
            "frames": 0,
            "links": [],
            "occurred_at": "2019-08-19T20:58:37.391000+00:00",
        },
    ),
    (
        "sentry/event_alert-triggered.json",
        "event_alert",
        {
            "kind": "event_alert",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "ReferenceError: heck is not defined",
            "message": "heck is not defined",
            "exception_type": "ReferenceError",
            "service": "front-end",
            "environment": None,
            "grouping_key": "sentry:issue:1117540176",
            "user_impact": None,
            "frames": 3,
            "links": [
                "https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/",
                "https://sentry.io/api/0/issues/1117540176/",
            ],
            "occurred_at": "2019-08-19T21:06:17.677000+00:00",
        },
    ),
    (
        "sentry/metric_alert-resolved.json",
        "metric_alert",
        {
            "kind": "metric_alert",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Too many errors",
            "message": "1000 events in the last 10 minutes\\nFilter: level:error",
            "exception_type": None,
            "service": "bar",
            "environment": None,
            "grouping_key": "sentry:metric_alert:7",
            "user_impact": None,
            "frames": 0,
            "links": ["https://sentry.io/organizations/baz/alerts/1/"],
            "occurred_at": "2020-09-13T12:26:40+00:00",
        },
    ),
    (
        "sentry/legacy-webhooks-plugin-event.json",
        "",
        {
            "kind": "legacy_plugin",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "ValueError: new sentry error.",
            "message": "new sentry error.",
            "exception_type": "ValueError",
            "service": "foo-live",
            "environment": None,
            "grouping_key": "sentry:issue:1972208801",
            "user_impact": None,
            "frames": 1,
            "links": ["https://sentry.io/organizations/bar-foundation/issues/1972208801/?referrer=webhooks_plugin"],
            "occurred_at": "2020-10-21T23:25:11.147672+00:00",
        },
    ),
]


def source(secret: str | None = None) -> SentrySource:
    return SentrySource(SentryConfig(), {"webhook_secret": secret} if secret else {})


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read_fixture(path))


@pytest.mark.parametrize("send_header", [True, False], ids=["header", "sniffed"])
@pytest.mark.parametrize(("path", "resource", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(
    read_fixture: Callable[[str], bytes], path: str, resource: str, expected: dict[str, Any], send_header: bool
) -> None:
    headers = {"sentry-hook-resource": resource} if send_header and resource else {}
    events = source().parse(headers, read_fixture(path))
    assert len(events) == 1
    event = events[0]
    assert event.source == "sentry"
    assert event.kind == expected["kind"]
    assert event.status is expected["status"]
    assert event.severity is expected["severity"]
    assert event.title == expected["title"]
    assert event.message == expected["message"]
    assert event.exception_type == expected["exception_type"]
    assert event.service == expected["service"]
    assert event.environment == expected["environment"]
    assert event.grouping_key == expected["grouping_key"]
    # The issue id is what `auto_acknowledge` updates in Sentry; metric alerts have none.
    key = expected["grouping_key"]
    assert event.extra.get("issue_id") == (key.removeprefix("sentry:issue:") if "sentry:issue:" in key else None)
    assert event.user_impact == expected["user_impact"]
    assert len(event.stack_frames) == expected["frames"]
    assert [link.url for link in event.links] == expected["links"]
    assert event.occurred_at is not None
    assert event.occurred_at.isoformat() == expected["occurred_at"]


def test_event_alert_frames_keep_sentry_fields(read_fixture: Callable[[str], bytes]) -> None:
    event = source().parse({}, read_fixture("sentry/event_alert-triggered.json"))[0]
    last = event.stack_frames[-1]
    assert (last.filename, last.function, last.module, last.lineno, last.in_app) == (
        "<anonymous>",
        None,
        None,
        3,
        False,
    )
    assert event.labels["browser"] == "Chrome 75.0.3770"
    assert event.extra["triggered_rule"] == "Very Important Alert Rule!"


def test_legacy_frame_is_the_raise_site(read_fixture: Callable[[str], bytes]) -> None:
    frame = source().parse({}, read_fixture("sentry/legacy-webhooks-plugin-event.json"))[0].stack_frames[0]
    assert (frame.filename, frame.function, frame.module, frame.lineno) == (
        "trigger-exception.py",
        "<module>",
        "__main__",
        10,
    )


def test_error_resource_reads_data_error(read_fixture: Callable[[str], bytes]) -> None:
    # The `error` resource carries the same event object as event_alert, under data.error.
    payload = load(read_fixture, "sentry/event_alert-triggered.json")
    payload["data"] = {"error": payload["data"]["event"]}
    payload["action"] = "created"
    body = json.dumps(payload).encode()
    for headers in ({"sentry-hook-resource": "error"}, {}):
        event = source().parse(headers, body)[0]
        assert event.kind == "error"
        assert event.grouping_key == "sentry:issue:1117540176"
        assert len(event.stack_frames) == 3


def test_issue_resolved_action_resolves(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "sentry/issue-created.json")
    payload["action"] = "resolved"
    event = source().parse({"sentry-hook-resource": "issue"}, json.dumps(payload).encode())[0]
    assert event.status is Status.resolved
    assert event.grouping_key == "sentry:issue:1170820242"


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("fatal", Severity.critical),
        ("error", Severity.high),
        ("warning", Severity.medium),
        ("info", Severity.info),
        ("debug", Severity.info),
        ("WARNING", Severity.medium),
        (None, Severity.high),
    ],
)
def test_level_maps_to_severity(read_fixture: Callable[[str], bytes], level: str | None, severity: Severity) -> None:
    payload = load(read_fixture, "sentry/issue-created.json")
    payload["data"]["issue"]["level"] = level
    assert source().parse({}, json.dumps(payload).encode())[0].severity is severity


@pytest.mark.parametrize(
    ("action", "severity", "status"),
    [
        ("critical", Severity.critical, Status.firing),
        ("warning", Severity.medium, Status.firing),
        ("resolved", Severity.info, Status.resolved),
    ],
)
def test_metric_alert_action(
    read_fixture: Callable[[str], bytes], action: str, severity: Severity, status: Status
) -> None:
    payload = load(read_fixture, "sentry/metric_alert-resolved.json")
    payload["action"] = action
    event = source().parse({"sentry-hook-resource": "metric_alert"}, json.dumps(payload).encode())[0]
    assert (event.severity, event.status) == (severity, status)


@pytest.mark.parametrize(
    ("count", "impact"),
    [(0, UserImpact.none), (1, UserImpact.single_user), (7, UserImpact.multiple_users), (None, None), ("3", None)],
)
def test_user_count_maps_to_impact(
    read_fixture: Callable[[str], bytes], count: object, impact: UserImpact | None
) -> None:
    payload = load(read_fixture, "sentry/issue-created.json")
    payload["data"]["issue"]["userCount"] = count
    assert source().parse({}, json.dumps(payload).encode())[0].user_impact == impact


def test_environment_from_field_or_tag(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "sentry/event_alert-triggered.json")
    payload["data"]["event"]["tags"].append(["environment", "staging"])
    assert source().parse({}, json.dumps(payload).encode())[0].environment == "staging"
    payload["data"]["event"]["environment"] = "production"
    assert source().parse({}, json.dumps(payload).encode())[0].environment == "production"


@pytest.mark.parametrize("resource", ["installation", "comment"])
def test_resources_without_a_problem_give_no_events(resource: str) -> None:
    body = json.dumps(
        {"action": "created", "data": {resource: {"uuid": "a8e5d37a"}}, "installation": {"uuid": "a8e5d37a"}}
    ).encode()
    assert source().parse({"sentry-hook-resource": resource}, body) == []
    assert source().parse({}, body) == []


def test_unknown_resource_header_is_invalid(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="seer"):
        source().parse({"sentry-hook-resource": "seer"}, read_fixture("sentry/issue-created.json"))


def test_resource_header_without_its_section_is_invalid(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match=r"data\.issue"):
        source().parse({"sentry-hook-resource": "issue"}, read_fixture("sentry/metric_alert-resolved.json"))


@pytest.mark.parametrize(
    "other", ["grafana/alerting-webhook-firing.json", "alertmanager/firing-grouped.json", "github/push.json"]
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Sentry payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("sentry/issue-created.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[{}]")


@pytest.mark.parametrize(("path", "resource", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(
    read_fixture: Callable[[str], bytes], path: str, resource: str, expected: dict[str, Any]
) -> None:
    payload = load(read_fixture, path)
    nested = tuple(f"data.{key}" for key in payload.get("data", {}) if isinstance(payload["data"][key], dict))
    nested += ("event",) if "event" in payload else ()
    headers = {"sentry-hook-resource": resource} if resource else {}
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse(headers, body)
        except PayloadInvalid:
            continue
        assert all(event.title for event in events), removed


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("sentry/issue-created.json")
    source(SECRET).verify({"sentry-hook-signature": hex_hmac(SECRET, body)}, body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"sentry-hook-signature": ""}, {"sentry-hook-signature": hex_hmac("other", b"{}")}],
    ids=["missing", "empty", "wrong"],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Sentry-Hook-Signature"):
        source(SECRET).verify(headers, read_fixture("sentry/issue-created.json"))


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("sentry/issue-created.json")
    resigned = json.dumps(json.loads(body)).encode()  # same JSON, different bytes
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"sentry-hook-signature": hex_hmac(SECRET, resigned)}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_registered_with_group_and_scheme() -> None:
    assert registry()["sentry"] is SentrySource
    assert SentrySource.group == "observability"
    assert "Sentry-Hook-Signature" in SentrySource.auth_scheme


def test_config_marks_future_keys_and_forbids_unknown() -> None:
    properties = SentryConfig.model_json_schema()["properties"]
    assert properties["dsn_env"]["not_yet_used"] is True
    assert "not_yet_used" not in properties["auto_acknowledge"]
    # On its own (as in the spec's example) it is accepted and reported as having no effect.
    assert SentryConfig(auto_acknowledge=True).idle_keys() == [
        "auto_acknowledge (Sentry is not told: set api_token_env and organization)"
    ]
    with pytest.raises(ValidationError):
        SentryConfig.model_validate({"dns_env": "typo"})


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("sentry/issue-created.json")
    assert_sign_round_trip(source(SECRET), source(), body, {"Sentry-Hook-Signature": hex_hmac(SECRET, body)})


def test_documented_example_config_validates() -> None:
    assert SentryConfig.model_validate(documented_config("sentry")).webhook_secret_env == "SENTRY_WEBHOOK_SECRET"
