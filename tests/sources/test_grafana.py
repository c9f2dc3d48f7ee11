"""Grafana source: unified and legacy alerting bodies, HMAC with replay protection, bearer auth."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.grafana import GrafanaConfig, GrafanaSource
from tests.sources._helpers import basic_auth
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "s3cret"

# Legacy (Grafana 7 and older) alerting webhook body. The field set and the possible `state`
# values (ok, paused, alerting, pending, no_data) follow the example in Grafana's legacy
# "Alert notifications" docs, section Webhook:
# https://grafana.com/docs/grafana/v7.3/alerting/notifications/#webhook
LEGACY: dict[str, Any] = {
    "dashboardId": 7,
    "evalMatches": [
        {"value": 97.5, "metric": "disk_used_percent", "tags": {"host": "db-1"}},
        {"value": 91, "metric": "disk_used_percent", "tags": {"host": "db-2"}},
    ],
    "imageUrl": "https://grafana.example.net/render/d-solo/abc/disk.png",
    "message": "Disk almost full on the database hosts",
    "orgId": 2,
    "panelId": 4,
    "ruleId": 11,
    "ruleName": "Disk usage alert",
    "ruleUrl": "https://grafana.example.net/d/abc/databases?tab=alert&editPanel=4&orgId=2",
    "state": "alerting",
    "tags": {"service": "postgres", "environment": "production"},
    "title": "[Alerting] Disk usage alert",
}

# (title, message, severity, status, grouping key, link urls) per alert.
FIXTURES: list[tuple[str, list[tuple[Any, ...]]]] = [
    (
        "grafana/alerting-webhook-firing.json",
        [
            (
                "This alert was triggered for zone us-1",
                "The system has high memory usage",
                Severity.high,
                Status.firing,
                "grafana:c6eadffa33fcdf37",
                [
                    "https://play.grafana.org/alerting/1afz29v7z/edit",
                    "https://myrunbook.com/runbook/1234",
                    "https://play.grafana.org/",
                    "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
                    "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
                ],
            ),
            (
                "This alert was triggered for zone eu-1",
                "The system has high CPU usage",
                Severity.high,
                Status.firing,
                "grafana:bc97ff14869b13e3",
                [
                    "https://play.grafana.org/alerting/d1rdpdv7k/edit",
                    "https://myrunbook.com/runbook/1234",
                    "https://play.grafana.org/",
                    "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
                    "&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
                ],
            ),
        ],
    ),
    (
        "grafana/alerting-v9-resolved.json",
        [
            (
                "This is a summary field, failure on <no value>",
                "This is a description",
                Severity.high,
                Status.resolved,
                "grafana:d8a21484c9c25a60",
                [
                    "https://grafana.example.com/alerting/grafana/zTjxv_C7k/view",
                    "https://example.com/",
                    "https://grafana.example.com/",
                    "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
                    "&matcher=alertname%3DTest+alert&matcher=test%3Dtrue",
                ],
            ),
        ],
    ),
    (
        "grafana/legacy-alerting-firing.json",
        [
            (
                "TestAlert",
                "This alert was sent by user for demonstration purposes",
                Severity.high,
                Status.firing,
                "grafana:TestAlert{alertname=TestAlert,region=eu-1}",
                ["http://f1d1ef51d710:9093"],
            ),
        ],
    ),
]


def source(secret: str | None = None, **config: Any) -> GrafanaSource:
    return GrafanaSource(GrafanaConfig(**config), {"webhook_secret": secret} if secret else {})


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: list[tuple[Any, ...]]) -> None:
    events = source().parse({}, read_fixture(path))
    got = [
        (
            event.title,
            event.message,
            event.severity,
            event.status,
            event.grouping_key,
            [link.url for link in event.links],
        )
        for event in events
    ]
    assert got == expected
    for event in events:
        assert (event.source, event.kind, event.stack_frames) == ("grafana", "alert", [])
        assert event.occurred_at is not None


def test_unified_alert_keeps_values_and_resolved_time(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read_fixture("grafana/alerting-v9-resolved.json"))
    assert event.occurred_at is not None and event.occurred_at.minute == 51  # endsAt, not startsAt
    assert event.extra["value_string"].startswith("[ var='B0'")
    firing = source().parse({}, read_fixture("grafana/alerting-webhook-firing.json"))[0]
    assert firing.extra["values"] == {"B": 44.23943737541908, "C": 1.0}
    assert firing.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}


def test_unified_dashboard_panel_and_image_links() -> None:
    body = json.dumps(
        {
            "orgId": 1,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Latency", "severity": "warning", "service": "api"},
                    "dashboardURL": "https://g.example/d/x",
                    "panelURL": "https://g.example/d/x?viewPanel=2",
                    "imageURL": "https://g.example/img.png",
                    "silenceURL": "",
                    "valueString": "[ var='A' value=3.2 ]",
                }
            ],
        }
    ).encode()
    [event] = source().parse({}, body)
    assert [link.title for link in event.links] == ["Dashboard", "Panel", "Panel image"]
    assert (event.severity, event.service, event.message) == (Severity.medium, "api", "[ var='A' value=3.2 ]")


@pytest.mark.parametrize("alertname", ["DatasourceNoData", "DatasourceError"])
def test_datasource_alerts_default_to_medium(alertname: str) -> None:
    body = json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": alertname}}]}).encode()
    assert source().parse({}, body)[0].severity is Severity.medium


def test_legacy_body_normalizes() -> None:
    [event] = source().parse({}, json.dumps(LEGACY).encode())
    assert event.kind == "legacy_alert"
    assert (event.status, event.severity) == (Status.firing, Severity.high)
    assert event.title == "Disk usage alert"
    assert event.message == "Disk almost full on the database hosts"
    assert (event.service, event.environment) == ("postgres", "production")
    assert event.grouping_key == "grafana:legacy:2:11"
    assert event.labels == {"service": "postgres", "environment": "production"}
    assert [link.url for link in event.links] == [LEGACY["ruleUrl"], LEGACY["imageUrl"]]
    assert event.extra["eval_matches"] == ["disk_used_percent=97.5", "disk_used_percent=91"]


@pytest.mark.parametrize(
    ("state", "status", "severity"),
    [
        ("alerting", Status.firing, Severity.high),
        ("no_data", Status.firing, Severity.medium),
        ("pending", Status.firing, Severity.low),
        ("ok", Status.resolved, Severity.info),
        ("paused", Status.resolved, Severity.info),
        ("mystery", Status.firing, Severity.medium),
    ],
)
def test_legacy_states(state: str, status: Status, severity: Severity) -> None:
    body = json.dumps({**LEGACY, "state": state}).encode()
    event = source().parse({}, body)[0]
    assert (event.status, event.severity) == (status, severity)


def test_legacy_severity_tag_wins() -> None:
    body = json.dumps({**LEGACY, "tags": {"severity": "critical"}}).encode()
    assert source().parse({}, body)[0].severity is Severity.critical


def test_legacy_without_message_summarizes_matches() -> None:
    body = json.dumps({**LEGACY, "message": ""}).encode()
    assert source().parse({}, body)[0].message == "disk_used_percent=97.5; disk_used_percent=91"


def test_legacy_any_field_removed_still_parses_or_is_invalid() -> None:
    for removed, body in without_each_key(LEGACY):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            continue
        assert event.title and event.grouping_key, removed
    bare = source().parse({}, json.dumps({"ruleId": 3}).encode())[0]
    assert (bare.title, bare.grouping_key) == ("Grafana alert rule 0:3", "grafana:legacy:0:3")


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_unified_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = json.loads(read_fixture(path))
    for removed, body in without_each_key(payload):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "alerts"
            continue
        assert events and all(event.title for event in events), removed
    for key in list(payload["alerts"][0]):
        alert = {k: v for k, v in payload["alerts"][0].items() if k != key}
        [event] = source().parse({}, json.dumps({**payload, "alerts": [alert]}).encode())
        assert event.title, key


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "opsgenie/alert-create.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Grafana alert payload"):
        source().parse({}, read_fixture(other))


def test_alerts_not_a_list_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="`alerts` list"):
        source().parse({}, b'{"alerts": {"a": 1}}')


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("grafana/alerting-webhook-firing.json")[:100])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, json.dumps([LEGACY]).encode())


BODY = json.dumps(LEGACY).encode()


def test_hmac_signature_passes() -> None:
    source(SECRET).verify({"x-grafana-alerting-signature": hex_hmac(SECRET, BODY)}, BODY)


def test_hmac_in_a_custom_header_passes() -> None:
    signer = source(SECRET, signature_header="X-Hub-Sig")
    signer.verify({"x-hub-sig": hex_hmac(SECRET, BODY)}, BODY)
    with pytest.raises(Unauthorized, match="X-Hub-Sig"):
        signer.verify({"x-grafana-alerting-signature": hex_hmac(SECRET, BODY)}, BODY)


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-grafana-alerting-signature": hex_hmac("other", BODY)}, {"authorization": f"Bearer {SECRET}"}],
    ids=["missing", "wrong", "bearer-in-hmac-mode"],
)
def test_bad_hmac_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Grafana-Alerting-Signature"):
        source(SECRET).verify(headers, BODY)


def timestamped(secret: str, stamp: str, body: bytes = BODY) -> dict[str, str]:
    return {
        "x-grafana-alerting-timestamp": stamp,
        "x-grafana-alerting-signature": hex_hmac(secret, stamp.encode() + b":" + body),
    }


def stamped_source() -> GrafanaSource:
    return source(SECRET, timestamp_header="X-Grafana-Alerting-Timestamp", max_skew_seconds=300)


def test_timestamped_hmac_passes() -> None:
    stamped_source().verify(timestamped(SECRET, str(int(time.time()))), BODY)


def test_timestamped_hmac_over_body_alone_is_unauthorized() -> None:
    headers = timestamped(SECRET, str(int(time.time())))
    headers["x-grafana-alerting-signature"] = hex_hmac(SECRET, BODY)
    with pytest.raises(Unauthorized, match="does not match"):
        stamped_source().verify(headers, BODY)


@pytest.mark.parametrize("offset", [-301, -3600, 3600])
def test_stale_or_future_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(Unauthorized, match="replay"):
        stamped_source().verify(timestamped(SECRET, str(int(time.time()) + offset)), BODY)


def test_signature_with_a_changed_timestamp_is_refused() -> None:
    # A replayer cannot refresh the timestamp: it is part of the signed message.
    headers = timestamped(SECRET, str(int(time.time()) - 1000))
    headers["x-grafana-alerting-timestamp"] = str(int(time.time()))
    with pytest.raises(Unauthorized, match="does not match"):
        stamped_source().verify(headers, BODY)


@pytest.mark.parametrize("stamp", ["", "yesterday", "1_700_000_000", "-5", "1e9"])
def test_unusable_timestamp_is_refused(stamp: str) -> None:
    with pytest.raises(Unauthorized, match="timestamp"):
        stamped_source().verify(timestamped(SECRET, stamp), BODY)


def test_bearer_mode() -> None:
    bearer = source(SECRET, auth="bearer")
    bearer.verify({"authorization": f"Bearer {SECRET}"}, BODY)
    bearer.verify({"authorization": basic_auth("grafana", SECRET)}, BODY)
    for headers in ({}, {"authorization": "Bearer nope"}, {"x-grafana-alerting-signature": hex_hmac(SECRET, BODY)}):
        with pytest.raises(Unauthorized):
            bearer.verify(headers, BODY)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, BODY)
    source(auth="bearer", timestamp_header="X-Ts").verify({}, BODY)


def test_config_validation() -> None:
    assert GrafanaConfig().signature_header == "X-Grafana-Alerting-Signature"
    assert GrafanaConfig().max_skew_seconds == 300
    for bad in ({"auth": "token"}, {"max_skew_seconds": 0}, {"signature_header": ""}, {"hmac": True}):
        with pytest.raises(ValidationError):
            GrafanaConfig.model_validate(bad)


def test_registered() -> None:
    assert registry()["grafana"] is GrafanaSource
    assert GrafanaSource.group == "observability"


@pytest.mark.parametrize(
    "config",
    [{}, {"signature_header": "X-Sig"}, {"timestamp_header": "X-Grafana-Alerting-Timestamp"}, {"auth": "bearer"}],
    ids=["hmac", "custom-header", "timestamped", "bearer"],
)
def test_sign_produces_what_verify_accepts(config: dict[str, Any]) -> None:
    signer = source(SECRET, **config)
    signed = signer.sign(BODY)
    assert signed
    signer.verify({name.lower(): value for name, value in signed.items()}, BODY)
    if config.get("auth") != "bearer":  # a bearer token does not cover the body
        with pytest.raises(Unauthorized):
            signer.verify({name.lower(): value for name, value in signed.items()}, BODY + b" ")
    assert source(**config).sign(BODY) == {}


def test_documented_example_config_validates() -> None:
    config = GrafanaConfig.model_validate(documented_config("grafana"))
    assert config.timestamp_header == "X-Grafana-Alerting-Timestamp"
