"""Azure Monitor source: common alert schema per signal type, Sev0..Sev4, Fired/Resolved, auth and refusals.

Own payloads: tests/sources/payloads/azure/ (the Fired notification of the shared resolved metric
alert, and Microsoft's Service Health test sample; origins in SOURCES.md there).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.azure import AzureConfig, AzureSource
from tests.sources._contract import ContractServer, assert_fields, contract_server
from tests.sources._fuzz import check, encode, json_values, mutate, shaped_values
from tests.sources.conftest import documented_config, without_each_key

OWN = Path(__file__).parent / "payloads" / "azure"
SECRET = "s3cret"
LOG_FIRED = "azure-monitor/common-schema-log-alert-fired.json"
METRIC_RESOLVED = "azure-monitor/common-schema-metric-resolved.json"
METRIC_FIRED = "own:metric-alert-fired.json"
SERVICE_HEALTH = "own:service-health-test-resolved.json"
METRIC_KEY = (
    "azure:/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/"
    "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
)
LOG_LINK = (
    "https://portal.azure.com#@12f345bf-12f3-12af-12ab-1d2cd345db67/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade"
    "/source/Alerts.EmailLinks/..."
)

# (kind, status, severity, title, message, service, grouping key, links, occurred_at)
FIXTURES: list[tuple[str, tuple[Any, ...]]] = [
    (
        LOG_FIRED,
        (
            "log_alert",
            Status.firing,
            Severity.info,
            "AcmeRule",
            "log alert rule V2",
            "testvm",
            "azure:/subscriptions/12345a-1234b-123c-123d-12345678e/providers/Microsoft.AlertsManagement/alerts"
            "/12345a-1234b-123c-123d-12345678e",
            [LOG_LINK],
            "2020-07-09T14:04:49.996450+00:00",
        ),
    ),
    (
        METRIC_RESOLVED,
        (
            "metric_alert",
            Status.resolved,
            Severity.low,
            "WCUS-R2-Gen2",
            "Percentage CPU GreaterThan 25 (value 7.727)",
            "wcus-r2-gen2",
            METRIC_KEY,
            [],
            "2019-03-22T14:03:16.224631+00:00",
        ),
    ),
    (
        METRIC_FIRED,
        (
            "metric_alert",
            Status.firing,
            Severity.low,
            "WCUS-R2-Gen2",
            "Percentage CPU GreaterThan 25 (value 31.1024)",
            "wcus-r2-gen2",
            METRIC_KEY,
            [],
            "2019-03-22T13:58:24.371321+00:00",
        ),
    ),
    (
        SERVICE_HEALTH,
        (
            "activity_log_alert",
            Status.resolved,
            Severity.info,
            "test-ServiceHealthAlertRule",
            "Alertruledescription",
            "AzureServiceName",
            "azure:service_health:TEST-TTT",
            [],
            "2025-04-15T18:20:36.256000+00:00",
        ),
    ),
]


@pytest.fixture(scope="session")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads (`own:<file>`)."""

    def read_any(path: str) -> bytes:
        if path.startswith("own:"):
            return (OWN / path.removeprefix("own:")).read_bytes()
        return read_fixture(path)

    return read_any


def source(secret: str | None = None, **config: Any) -> AzureSource:
    return AzureSource(AzureConfig(**config), {"webhook_secret": secret} if secret else {})


def load(read: Callable[[str], bytes], path: str) -> dict[str, Any]:
    data = json.loads(read(path))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read: Callable[[str], bytes], path: str, expected: tuple[Any, ...]) -> None:
    [event] = source().parse({}, read(path))
    occurred = event.occurred_at.isoformat() if event.occurred_at else None
    got = (
        event.kind,
        event.status,
        event.severity,
        event.title,
        event.message,
        event.service,
        event.grouping_key,
        [link.url for link in event.links],
        occurred,
    )
    assert got == expected
    assert event.source == "azure" and event.environment is None


def test_labels_of_the_resolved_metric_alert(read: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(METRIC_RESOLVED))
    assert event.labels == {
        "ResourceId": "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1",
        "Key1": "Value1",
        "Key2": "Value2",
        "alert_rule": "WCUS-R2-Gen2",
        "signal_type": "Metric",
        "monitoring_service": "Platform",
        "monitor_condition": "Resolved",
        "azure_severity": "Sev3",
    }
    assert event.extra["condition_type"] == "SingleResourceMultipleMetricCriteria"
    assert event.extra["origin_alert_id"].startswith("3f2d4487")


def test_fired_and_resolved_of_one_alert_share_the_grouping_key(read: Callable[[str], bytes]) -> None:
    fired, resolved = (source().parse({}, read(path))[0] for path in (METRIC_FIRED, METRIC_RESOLVED))
    assert (fired.status, resolved.status) == (Status.firing, Status.resolved)
    assert fired.grouping_key == resolved.grouping_key == METRIC_KEY


def alert(**essentials: Any) -> bytes:
    base = {"alertId": "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1", "alertRule": "cpu"}
    return json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": base | essentials}}).encode()


@pytest.mark.parametrize(
    ("severity", "config", "expected"),
    [
        ("Sev0", {}, Severity.critical),
        ("Sev1", {}, Severity.high),
        ("sev2", {}, Severity.medium),
        ("Sev3", {}, Severity.low),
        ("Sev4", {}, Severity.info),
        ("Sev9", {}, Severity.medium),
        (None, {}, Severity.medium),
        (3, {"severity": "high"}, Severity.high),
    ],
)
def test_severity(severity: Any, config: dict[str, Any], expected: Severity) -> None:
    assert source(**config).parse({}, alert(severity=severity))[0].severity is expected


@pytest.mark.parametrize(
    ("condition", "status"), [("Fired", Status.firing), ("Resolved", Status.resolved), (None, Status.firing)]
)
def test_monitor_condition(condition: str | None, status: Status) -> None:
    assert source().parse({}, alert(monitorCondition=condition))[0].status is status


@pytest.mark.parametrize(
    ("signal", "kind"),
    [("Metric", "metric_alert"), ("Log", "log_alert"), ("Activity Log", "activity_log_alert"), ("Other", "alert")],
)
def test_kind_follows_the_signal_type(signal: str, kind: str) -> None:
    assert source().parse({}, alert(signalType=signal))[0].kind == kind


def test_origin_alert_id_is_the_fallback_grouping_key() -> None:
    body = json.dumps({"data": {"essentials": {"originAlertId": "o-1", "alertRule": "r"}}}).encode()
    assert source().parse({}, body)[0].grouping_key == "azure:o-1"


def test_environment_and_service_from_custom_properties() -> None:
    payload = json.loads(alert(configurationItems=["vm-1"]))
    payload["data"]["customProperties"] = {"environment": "prod", "service": "billing"}
    [event] = source().parse({}, json.dumps(payload).encode())
    assert (event.environment, event.service) == ("prod", "billing")


def test_only_http_links_are_kept() -> None:
    payload = json.loads(alert(investigationLink="javascript:alert(1)"))
    payload["data"]["alertContext"] = {
        "condition": {"allOf": [{"linkToSearchResultsUI": "https://portal.azure.com/#x", "searchQuery": "Heartbeat"}]},
        "LinkToSearchResults": "ftp://example.com/x",
    }
    [event] = source().parse({}, json.dumps(payload).encode())
    assert [link.url for link in event.links] == ["https://portal.azure.com/#x"]
    assert event.message == "Heartbeat"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"schemaId": "Microsoft.Insights/activityLogs", "data": {}}', "enable it on the action group"),
        (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": []}}', "data.essentials"),
        (b'{"data": "x"}', "data.essentials"),
        (b"[]", "array"),
    ],
)
def test_bodies_that_are_not_common_schema_alerts_are_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


def test_the_legacy_metric_alert_body_is_invalid() -> None:
    legacy = {"status": "Activated", "context": {"name": "ruleName1", "conditionType": "Metric"}}
    with pytest.raises(PayloadInvalid, match="data.essentials"):
        source().parse({}, json.dumps({"WebhookName": "Alert1", "RequestBody": legacy}).encode())


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "gcp-monitoring/incident-closed-v1.2.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="data.essentials"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture(LOG_FIRED)[:-4])


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], path: str) -> None:
    for removed, body in without_each_key(load(read, path), nested=("data", "data.essentials")):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("data", "data.essentials"), removed
            continue
        assert event.title, removed


def test_basic_password_and_bearer_pass() -> None:
    credentials = base64.b64encode(f"azure:{SECRET}".encode()).decode()
    source(SECRET).verify({"authorization": f"Basic {credentials}"}, b"{}")
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic " + base64.b64encode(b"azure:wrong").decode()},
        {"authorization": f"Token {SECRET}"},
    ],
    ids=["missing", "wrong-token", "wrong-password", "wrong-scheme"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_sign_produces_what_verify_accepts() -> None:
    signed = source(SECRET).sign(b"{}")
    assert signed["Authorization"].startswith("Basic ")
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source().sign(b"{}") == {}


def test_registered_as_infrastructure_with_the_azure_monitor_alias() -> None:
    assert registry()["azure"] is AzureSource
    assert config_keys()["azure-monitor"] is AzureSource
    assert AzureSource.group == "infrastructure"


def test_config_forbids_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        AzureConfig.model_validate({"tenant_id": "x"})


def test_documented_example_config_validates() -> None:
    config = AzureConfig.model_validate(documented_config("azure"))
    assert config.webhook_secret_env == "AZURE_WEBHOOK_SECRET"


# --- through the real server ---


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server("azure", tmp_path_factory) as server:
        yield server


CONTRACT = [
    (LOG_FIRED, [{"kind": "log_alert", "status": "firing", "severity": "info", "service": "testvm"}]),
    (METRIC_FIRED, [{"kind": "metric_alert", "status": "firing", "grouping_key": METRIC_KEY}]),
    (METRIC_RESOLVED, [{"kind": "metric_alert", "status": "resolved", "severity": "low", "grouping_key": METRIC_KEY}]),
    (SERVICE_HEALTH, [{"kind": "activity_log_alert", "status": "resolved", "title": "test-ServiceHealthAlertRule"}]),
]


@pytest.mark.parametrize(("path", "expected"), CONTRACT, ids=[case[0] for case in CONTRACT])
def test_contract_fixtures_are_stored_normalized(
    contract: ContractServer, read: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    assert_fields(contract.events(contract.post(read(path))), expected)


def test_contract_refusals(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    body = read(LOG_FIRED)
    assert contract.post(body, secret="not-the-secret").status_code == 401
    assert contract.post(body, sign=False).status_code == 401
    refused = contract.post(read("sentry/issue-created.json"))
    assert refused.status_code == 422 and "essentials" in refused.json()["error"]


# --- property test ---

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def pool(fixtures_dir: Path) -> list[Any]:
    paths = [*sorted((fixtures_dir / "azure-monitor").glob("*.json")), *sorted(OWN.glob("*.json"))]
    return [json.loads(path.read_bytes()) for path in paths]


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_never_escapes(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_fixtures_never_escape(pool: list[Any], data: st.DataObject) -> None:
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(pool)))))
