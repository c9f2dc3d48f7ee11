"""Datadog source: templates read field by field, severity rules, shared-secret auth, refusals, HTTP contract.

Besides the shared fixtures (Keep's template), tests/sources/payloads/datadog/ holds bodies made
with Datadog's default template and with every documented variable
(https://docs.datadoghq.com/integrations/webhooks/); see that folder's SOURCES.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.datadog import DatadogConfig, DatadogSource
from tests.sources._contract import ContractServer, as_stored, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_files, payload_reader
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "datadog"
EVENT = "https://app.datadoghq.com/event/event?id="
MONITOR = "https://app.datadoghq.com/monitors/"
LOAD_KEY = "datadog:aggregation:9bd4ac313a4d1e8fae2482df7b77628"

CASES: dict[str, dict[str, Any]] = {
    "datadog/log_alert-triggered.json": {
        "kind": "log_alert",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "Error monitor",
        "service": "keep-api-matvey-kuk-workflows-fix",
        "environment": None,
        "grouping_key": "datadog:monitor:160076582:service:keep-api-matvey-kuk-workflows-fix",
        "links": [
            EVENT + "7879709198622396010",
            MONITOR + "160076582?group=service%3Akeep-api-matvey-kuk-workflows-fix&from_ts=1733929142000"
            "&to_ts=1733930342000&event_id=7879709198622396010&link_source=monitor_notif",
        ],
        "occurred_at": "2024-12-11T15:15:33+00:00",
    },
    "datadog/log_alert-recovered.json": {
        "kind": "log_alert",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Error monitor",
        "service": "keep-api-feature-unique-id",
        "environment": None,
        "grouping_key": "datadog:monitor:160076582:service:keep-api-feature-unique-id",
        "links": [
            EVENT + "7879702138782271851",
            MONITOR + "160076582?group=service%3Akeep-api-feature-unique-id&from_ts=1733928722000"
            "&to_ts=1733929922000&event_id=7879702138782271851&link_source=monitor_notif",
        ],
        "occurred_at": "2024-12-11T15:08:32+00:00",
    },
    "datadog/log_alert-warn.json": {
        "kind": "log_alert",
        "status": Status.firing,
        "severity": Severity.medium,
        "title": "Unauthorized access to API keep-api",
        "service": "keep-api",
        "environment": "production",
        "grouping_key": "datadog:monitor:134462228:service:keep-api",
        "links": [
            EVENT + "7879713311244615328",
            MONITOR + "134462228?group=service%3Akeep-api&from_ts=1733929388000&to_ts=1733930588000"
            "&event_id=7879713311244615328&link_source=monitor_notif",
        ],
        "occurred_at": "2024-12-11T15:19:38+00:00",
    },
    "own/default-template-triggered.json": {
        "kind": "query_alert_monitor",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "Host is Down",
        "service": None,
        "environment": None,
        "grouping_key": "datadog:monitor:1234:host:ip-012345",
        "links": [MONITOR + "1234?group=host%3Aip-012345&link_source=monitor_notif"],
        "occurred_at": "2014-07-29T19:37:52+00:00",
    },
    "own/all-variables-triggered.json": {
        "kind": "query_alert_monitor",
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "Load is high",
        "service": "checkout",
        "environment": "prod",
        "grouping_key": LOAD_KEY,
        "links": [
            EVENT + "7131234567890123457",
            "https://p.datadoghq.com/snapshot/view/dd-snapshots-prod/org_123456/2014-07-29/abcdef.png",
        ],
        "occurred_at": "2014-07-29T19:37:52+00:00",
    },
    "own/all-variables-recovered.json": {
        "kind": "query_alert_monitor",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Load is high",
        "service": "checkout",
        "environment": "prod",
        "grouping_key": LOAD_KEY,
        "links": [EVENT + "7131234567890123999"],
        "occurred_at": "2014-07-29T19:57:52+00:00",
    },
}


@pytest.fixture(scope="module")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads as `own/<file>`."""
    return payload_reader(read_fixture, OWN)


def source(secret: str | None = None, **config: Any) -> DatadogSource:
    return DatadogSource(DatadogConfig(**config), {"webhook_secret": secret} if secret else {})


def parse_one(body: dict[str, Any]) -> Any:
    [event] = source().parse({}, json.dumps(body).encode())
    return event


def test_every_own_payload_has_a_case() -> None:
    assert {f"own/{path.name}" for path in OWN.glob("*.json")} <= set(CASES)


@pytest.mark.parametrize("path", CASES)
def test_payload_normalizes(read: Callable[[str], bytes], path: str) -> None:
    [event] = source().parse({}, read(path))
    assert event.source == "datadog"
    got = {
        "kind": event.kind,
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "service": event.service,
        "environment": event.environment,
        "grouping_key": event.grouping_key,
        "links": [link.url for link in event.links],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
    }
    assert got == CASES[path]
    assert event.stack_frames == []


def test_recovery_shares_the_key_of_its_trigger_whatever_the_spelling(read: Callable[[str], bytes]) -> None:
    triggered = source().parse({}, read("own/all-variables-triggered.json"))[0]
    recovered = source().parse({}, read("own/all-variables-recovered.json"))[0]
    assert triggered.grouping_key == recovered.grouping_key == LOAD_KEY
    assert (triggered.status, recovered.status) == (Status.firing, Status.resolved)


def test_monitor_group_key_ignores_scope_order_and_spacing(read: Callable[[str], bytes]) -> None:
    payload = json.loads(read("own/all-variables-recovered.json"))
    del payload["aggreg_key"]
    from_field = parse_one(payload).grouping_key
    del payload["alert_scope"]
    from_title = parse_one(payload).grouping_key
    assert from_field == from_title == "datadog:monitor:1234:availability-zone:us-east-1a,role:computing-node"


def test_message_labels_and_extra(read: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read("datadog/log_alert-warn.json"))
    assert event.message.startswith("https://app.datadoghq.com/logs/analytics?query=")
    assert "%%%" not in event.message
    assert event.labels == {
        "environment": "production",
        "service": "keep-api",
        "alert_type": "warning",
        "alert_transition": "Warn",
        "priority": "P2",
        "monitor_id": "134462228",
    }
    assert event.extra["org"] == "DPN | KeepHQ"
    assert event.extra["original_title"] == "[P2] [Warn] Unauthorized access to API keep-api"
    assert event.extra["tags"] == ["environment:production", "monitor", "service:keep-api"]
    [full] = source().parse({}, read("own/all-variables-triggered.json"))
    assert full.message == "Load is above 4 on my-host"
    assert full.labels["host"] == "my-host"
    assert full.extra["alert_metric"] == "system.load.1"


@pytest.mark.parametrize(
    ("transition", "alert_type", "priority", "severity", "status"),
    [
        ("Triggered", "error", None, Severity.high, Status.firing),
        ("Re-Triggered", "error", None, Severity.high, Status.firing),
        ("Triggered", "warning", None, Severity.medium, Status.firing),
        ("Triggered", "info", None, Severity.info, Status.firing),
        ("Triggered", None, None, Severity.high, Status.firing),
        ("Warn", "warning", None, Severity.medium, Status.firing),
        ("Re-Warn", None, None, Severity.medium, Status.firing),
        ("No Data", "error", None, Severity.medium, Status.firing),
        ("Renotify", "error", None, Severity.high, Status.firing),
        ("Recovered", "success", "P1", Severity.info, Status.resolved),
        ("Triggered", "error", "P1", Severity.critical, Status.firing),
        ("Triggered", "error", "P2", Severity.high, Status.firing),
        ("Triggered", "error", "p3", Severity.medium, Status.firing),
        ("Triggered", "error", "P4", Severity.low, Status.firing),
        ("Triggered", "error", "P5", Severity.info, Status.firing),
        ("Warn", "warning", "P1", Severity.medium, Status.firing),
        ("Warn", "warning", "P4", Severity.low, Status.firing),
        ("No Data", "error", "P1", Severity.critical, Status.firing),
        (None, "success", None, Severity.info, Status.resolved),
        (None, "warning", "P1", Severity.medium, Status.firing),
        ("Triggered", "error", "$ALERT_PRIORITY", Severity.high, Status.firing),
        ("Triggered", "error", "normal", Severity.high, Status.firing),
    ],
)
def test_transition_type_and_priority(
    transition: str | None, alert_type: str | None, priority: str | None, severity: Severity, status: Status
) -> None:
    event = parse_one(
        {"title": "Disk full", "alert_id": 42, "alert_transition": transition, "alert_type": alert_type}
        | ({"alert_priority": priority} if priority else {})
    )
    assert (event.severity, event.status) == (severity, status)
    assert event.grouping_key == "datadog:monitor:42"


def test_title_prefix_supplies_transition_priority_and_scope() -> None:
    event = parse_one({"event_type": "metric_alert_monitor", "title": "[P1] [Recovered on {host:a, env:x}] CPU"})
    assert (event.title, event.status, event.severity) == ("CPU", Status.resolved, Severity.info)
    event = parse_one({"event_type": "metric_alert_monitor", "title": "[P2] [Triggered] CPU", "alert_id": "9"})
    assert (event.title, event.severity, event.grouping_key) == ("CPU", Severity.high, "datadog:monitor:9")
    # A bracket that is not a Datadog tag stays in the title.
    assert parse_one({"alert_type": "error", "title": "[db] [Triggered] slow"}).title == "[db] [Triggered] slow"


def test_unfilled_variables_count_as_missing() -> None:
    event = parse_one({"alert_type": "error", "title": "$EVENT_TITLE", "alert_id": "$ALERT_ID", "link": "$LINK"})
    assert (event.title, event.grouping_key, event.links) == ("Datadog alert", None, [])


def test_cycle_key_groups_when_there_is_no_monitor() -> None:
    assert parse_one({"alert_type": "error", "alert_cycle_key": "77"}).grouping_key == "datadog:cycle:77"


def test_tags_as_a_list_and_only_http_links() -> None:
    event = parse_one(
        {"alert_type": "error", "tags": ["service:web", "team:core", 3], "link": "ftp://x", "snapshot": "javascript:1"}
    )
    assert (event.service, event.labels.get("team"), event.links) == ("web", "core", [])


@pytest.mark.parametrize(
    "other",
    [
        "sentry/issue-created.json",
        "alertmanager/firing-2-alerts.json",
        "grafana/alerting-webhook-firing.json",
        "newrelic/workflow-issue-created.json",
        "rollbar/new_item.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Datadog payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("datadog/log_alert-warn.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[:-3])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"alert_type": "error"}]')


@pytest.mark.parametrize("path", CASES)
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], path: str) -> None:
    payload = json.loads(read(path))
    for removed, body in without_each_key(payload):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert path == "own/default-template-triggered.json" and removed == "event_type", removed
            continue
        assert event.title, removed


def test_custom_header_token_passes() -> None:
    source(SECRET).verify({"x-datadog-token": SECRET}, b"{}")


def test_configured_header_name_is_used() -> None:
    custom = source(SECRET, auth_header="X-Guardian-Key")
    custom.verify({"x-guardian-key": SECRET}, b"{}")
    with pytest.raises(Unauthorized, match="X-Guardian-Key"):
        custom.verify({"x-datadog-token": SECRET}, b"{}")


def test_bearer_and_basic_pass() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")
    source(SECRET).verify({"authorization": basic_auth("datadog", SECRET)}, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "X-Datadog-Token"),
        ({"x-datadog-token": "wrong"}, "X-Datadog-Token"),
        ({"x-datadog-token": ""}, "X-Datadog-Token"),
        ({"x-datadog-token": "wrong", "authorization": f"Bearer {SECRET}"}, "X-Datadog-Token"),
        ({"authorization": "Bearer wrong"}, "Authorization"),
    ],
    ids=["missing", "wrong", "empty", "wrong-header-beats-bearer", "wrong-bearer"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(source(SECRET), source(), b"{}", {"X-Datadog-Token": SECRET})


def test_registered_with_group_and_scheme() -> None:
    assert registry()["datadog"] is DatadogSource
    assert DatadogSource.group == "observability"
    assert "X-Datadog-Token" in DatadogSource.auth_scheme


def test_config_validates_and_forbids_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        DatadogConfig.model_validate({"auth_header": ""})
    with pytest.raises(ValidationError):
        DatadogConfig.model_validate({"api_key_env": "X"})
    with pytest.raises(TypeError):
        DatadogSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = DatadogConfig.model_validate(documented_config("datadog"))
    assert config.webhook_secret_env == "DATADOG_WEBHOOK_SECRET"
    assert config.auth_header == "X-Datadog-Token"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("datadog")


def test_http_contract_every_payload(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    for path, expected in CASES.items():
        answer = contract.post(read(path))
        # A missing environment is filled in by the server's default, so only set ones are compared.
        wanted = as_stored(expected, ("kind", "status", "severity", "title", "service", "environment", "grouping_key"))
        assert_fields(contract.events(answer), [wanted])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("datadog/log_alert-triggered.json")
    assert_refusals(contract, body, read_fixture("sentry/issue-created.json"), "Datadog")
    assert contract.post(body, {"Authorization": f"Bearer {contract.secret}"}, sign=False).status_code == 202


# --- property tests --------------------------------------------------------------------------

POOL = json_files(OWN)


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(fixtures_dir: Path, data: st.DataObject) -> None:
    shared = json_files(fixtures_dir / "datadog")
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(shared + POOL)))))
