"""New Relic source: every workflow payload normalized field by field, shared-secret auth, refusals, HTTP contract.

The payloads under tests/sources/payloads/newrelic/ are default-template deliveries like the shared
fixtures (https://docs.newrelic.com/docs/alerts/get-notified/notification-integrations/#webhook);
that folder's SOURCES.md names their origin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.newrelic import NewRelicSource
from tests.sources._contract import ContractServer, as_stored, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_files, json_object, payload_reader
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "newrelic"
ISSUES = "https://radar-api.service.newrelic.com/accounts/"
HIGH_CPU = "0ea2df1c-adab-45d2-aae0-042b609d2322"

CASES: dict[str, dict[str, Any]] = {
    "newrelic/workflow-issue-created.json": {
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "MAIN-APP-UBUNTU query result is > 2.0 for 1 minutes on 'High CPU'",
        "service": "MAIN-APP-UBUNTU",
        "grouping_key": f"newrelic:issue:{HIGH_CPU}",
        "links": [f"{ISSUES}1/issues/{HIGH_CPU}?notifier=SLACK"],
        "occurred_at": "2024-04-22T06:36:29.495000+00:00",
        "labels": {
            "priority": "CRITICAL",
            "state": "CREATED",
            "trigger": "INCIDENT_ADDED",
            "policy": "Golden Signals",
            "condition": "High CPU",
            "workflow": "DBA Team workflow",
            "entities": "MAIN-APP-UBUNTU",
        },
    },
    "newrelic/workflow-issue-closed.json": {
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "main_app-UBUNTU query result is > 2.0 for 1 minutes on 'High CPU'",
        "service": "main_app-UBUNTU",
        "grouping_key": f"newrelic:issue:{HIGH_CPU}",
        "links": [f"{ISSUES}1/issues/{HIGH_CPU}?notifier=SLACK"],
        "occurred_at": "2024-04-22T06:17:37.383000+00:00",
        "labels": {
            "priority": "CRITICAL",
            "state": "CLOSED",
            "trigger": "INCIDENT_CLOSED",
            "policy": "Golden Signals",
            "condition": "High CPU",
            "workflow": "DBA Team workflow",
            "entities": "main_app-UBUNTU",
        },
    },
    "own/workflow-issue-activated.json": {
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "zulip_app query result is > 1.0 for 1 minutes on 'Zulip Server Low Storage'",
        "service": "zulip_app",
        "grouping_key": "newrelic:issue:c5faa7e6-7b54-402d-af79-f99601e0278c",
        "links": [f"{ISSUES}4420147/issues/c5faa7e6-7b54-402d-af79-f99601e0278c?notifier=WEBHOOK"],
        "occurred_at": "2024-04-22T07:08:28.699000+00:00",
        "labels": {
            "priority": "CRITICAL",
            "state": "ACTIVATED",
            "trigger": "STATE_CHANGE",
            "policy": "Golden Signals",
            "condition": "Zulip Server Low Storage",
            "workflow": "testWorkflow",
            "entities": "zulip_app",
        },
    },
    "own/workflow-issue-acknowledged.json": {
        "status": Status.firing,
        "severity": Severity.high,
        "title": "PIETER-UBUNTU query result is > 1.0 for 5 minutes on 'Storage on Host Exceeded Threshold'",
        "service": "PIETER-UBUNTU",
        "grouping_key": "newrelic:issue:13bbcdca-f0b6-470d-b0be-b34583c58869",
        "links": [f"{ISSUES}4420147/issues/13bbcdca-f0b6-470d-b0be-b34583c58869?notifier=WEBHOOK"],
        "occurred_at": "2024-04-22T07:14:37.412000+00:00",
        "labels": {
            "priority": "HIGH",
            "state": "ACTIVATED",
            "trigger": "USER_ACTION",
            "policy": "Golden Signals",
            "condition": "Storage on Host Exceeded Threshold",
            "workflow": "issue workflow",
            "entities": "PIETER-UBUNTU",
        },
    },
}


@pytest.fixture(scope="module")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads as `own/<file>`."""
    return payload_reader(read_fixture, OWN)


def source(secret: str | None = None) -> NewRelicSource:
    return NewRelicSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


def created(read_fixture: Callable[[str], bytes]) -> dict[str, Any]:
    return json_object(read_fixture("newrelic/workflow-issue-created.json"))


def parse_one(body: dict[str, Any]) -> Any:
    [event] = source().parse({}, json.dumps(body).encode())
    return event


def test_every_own_payload_has_a_case() -> None:
    assert {f"own/{path.name}" for path in OWN.glob("*.json")} <= set(CASES)


@pytest.mark.parametrize("path", CASES)
def test_payload_normalizes(read: Callable[[str], bytes], path: str) -> None:
    [event] = source().parse({}, read(path))
    assert (event.source, event.kind, event.message, event.environment) == ("newrelic", "issue", "", None)
    got = {
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "service": event.service,
        "grouping_key": event.grouping_key,
        "links": [link.url for link in event.links],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "labels": event.labels,
    }
    assert got == CASES[path]


def test_closing_resolves_the_issue_its_creation_opened(read: Callable[[str], bytes]) -> None:
    opened = source().parse({}, read("newrelic/workflow-issue-created.json"))[0]
    closed = source().parse({}, read("newrelic/workflow-issue-closed.json"))[0]
    assert opened.grouping_key == closed.grouping_key
    assert (opened.status, closed.status) == (Status.firing, Status.resolved)


def test_extra_keeps_the_details(read: Callable[[str], bytes]) -> None:
    event = source().parse({}, read("own/workflow-issue-activated.json"))[0]
    assert event.extra == {
        "id": "c5faa7e6-7b54-402d-af79-f99601e0278c",
        "total_incidents": 1,
        "is_correlated": False,
        "sources": ["newrelic"],
    }
    # The string "false" some deliveries send is not a boolean, so it is not kept as one.
    assert "is_correlated" not in source().parse({}, read("own/workflow-issue-acknowledged.json"))[0].extra


@pytest.mark.parametrize(
    ("priority", "state", "severity", "status"),
    [
        ("CRITICAL", "CREATED", Severity.critical, Status.firing),
        ("HIGH", "ACTIVATED", Severity.high, Status.firing),
        ("MEDIUM", "ACKNOWLEDGED", Severity.medium, Status.firing),
        ("low", "ACTIVATED", Severity.low, Status.firing),
        (None, "CREATED", Severity.high, Status.firing),
        ("URGENT", "CREATED", Severity.high, Status.firing),
        ("CRITICAL", "CLOSED", Severity.info, Status.resolved),
        ("CRITICAL", "deactivated", Severity.info, Status.resolved),
        ("LOW", None, Severity.low, Status.firing),
    ],
)
def test_priority_and_state(
    read_fixture: Callable[[str], bytes], priority: str | None, state: str | None, severity: Severity, status: Status
) -> None:
    payload = created(read_fixture) | {"priority": priority, "state": state}
    event = parse_one(payload)
    assert (event.severity, event.status) == (severity, status)


def test_issue_id_sources_in_order(read_fixture: Callable[[str], bytes]) -> None:
    payload = created(read_fixture)
    assert parse_one(payload | {"issueId": "abc-1"}).grouping_key == "newrelic:issue:abc-1"
    del payload["issueUrl"]
    assert parse_one(payload).grouping_key == "newrelic:issue:208c5e92-f250-40be-b7c2-50508c268c15"


def test_custom_template_fields_are_read(read_fixture: Callable[[str], bytes]) -> None:
    payload = created(read_fixture) | {
        "description": "CPU above 90% on 3 hosts",
        "environment": "production",
        "service": "checkout",
        "issueUrl": "javascript:alert(1)",
    }
    event = parse_one(payload)
    assert (event.message, event.environment, event.service, event.links) == (
        "CPU above 90% on 3 hosts",
        "production",
        "checkout",
        [],
    )


def test_title_falls_back_to_the_condition(read_fixture: Callable[[str], bytes]) -> None:
    payload = created(read_fixture)
    del payload["title"]
    assert parse_one(payload).title == "High CPU"


@pytest.mark.parametrize(
    "other",
    [
        "sentry/issue-created.json",
        "alertmanager/firing-2-alerts.json",
        "grafana/alerting-webhook-firing.json",
        "datadog/log_alert-triggered.json",
        "rollbar/new_item.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a New Relic workflow payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("newrelic/workflow-issue-created.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 3])


def test_json_array_is_invalid(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + read_fixture("newrelic/workflow-issue-created.json") + b"]")


@pytest.mark.parametrize("path", CASES)
def test_any_field_removed_still_parses(read: Callable[[str], bytes], path: str) -> None:
    # `issueUrl` and `state` each identify the payload alone, so no single removal makes it invalid.
    for removed, body in without_each_key(json.loads(read(path))):
        [event] = source().parse({}, body)
        assert event.title, removed


def test_bearer_token_passes() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


def test_basic_password_passes() -> None:
    source(SECRET).verify({"authorization": basic_auth("newrelic", SECRET)}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": basic_auth("newrelic", "wrong")},
        {"authorization": f"Token {SECRET}"},
    ],
    ids=["missing", "wrong-token", "wrong-password", "wrong-scheme"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(source(SECRET), source(), b"{}", {"Authorization": f"Bearer {SECRET}"})


def test_registered_with_group_and_scheme() -> None:
    assert registry()["newrelic"] is NewRelicSource
    assert NewRelicSource.group == "observability"
    assert "Bearer" in NewRelicSource.auth_scheme


def test_documented_example_config_validates() -> None:
    config = SourceConfig.model_validate(documented_config("newrelic"))
    assert config.webhook_secret_env == "NEWRELIC_WEBHOOK_SECRET"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("newrelic")


def test_http_contract_every_payload(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    for path, expected in CASES.items():
        answer = contract.post(read(path))
        wanted = as_stored(expected, ("status", "severity", "title", "service", "grouping_key"), skip_unset=False)
        assert_fields(contract.events(answer), [{"kind": "issue", **wanted}])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        read_fixture("newrelic/workflow-issue-created.json"),
        read_fixture("sentry/issue-created.json"),
        "New Relic",
    )


# --- property tests --------------------------------------------------------------------------

POOL = json_files(OWN)


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(fixtures_dir: Path, data: st.DataObject) -> None:
    shared = json_files(fixtures_dir / "newrelic")
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(shared + POOL)))))
