"""The spine's sources through the real server: every shared fixture, signed, read back from the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.sources._contract import ContractServer, assert_fields, contract_server

# source -> (fixture, headers, the fields each stored event must have)
CASES: dict[str, list[tuple[str, dict[str, str], list[dict[str, Any]]]]] = {
    "alertmanager": [
        (
            "alertmanager/firing-2-alerts.json",
            {},
            [
                {
                    "status": "firing",
                    "severity": "critical",
                    "title": "Instance localhost:8081 down",
                    "service": "node",
                },
                {
                    "status": "firing",
                    "severity": "critical",
                    "title": "Instance localhost:8082 down",
                    "service": "node",
                },
            ],
        ),
        ("alertmanager/firing-grouped.json", {}, [{"severity": "critical", "kind": "alert"}] * 2),
    ],
    "sentry": [
        (
            "sentry/issue-created.json",
            {"Sentry-Hook-Resource": "issue"},
            [
                {
                    "kind": "issue",
                    "severity": "high",
                    "title": "ReferenceError: blooopy is not defined",
                    "service": "front-end",
                    "user_impact": "single_user",
                    "grouping_key": "sentry:issue:1170820242",
                }
            ],
        ),
        (
            "sentry/event_alert-triggered.json",
            {"Sentry-Hook-Resource": "event_alert"},
            [{"kind": "event_alert", "exception_type": "ReferenceError", "grouping_key": "sentry:issue:1117540176"}],
        ),
        (
            "sentry/metric_alert-resolved.json",
            {"Sentry-Hook-Resource": "metric_alert"},
            [{"kind": "metric_alert", "status": "resolved", "title": "Too many errors"}],
        ),
        (
            "sentry/legacy-webhooks-plugin-event.json",
            {},
            [{"kind": "legacy_plugin", "title": "ValueError: new sentry error.", "exception_type": "ValueError"}],
        ),
    ],
    "grafana": [
        (
            "grafana/alerting-webhook-firing.json",
            {},
            [
                {"status": "firing", "title": "This alert was triggered for zone us-1", "kind": "alert"},
                {"status": "firing", "title": "This alert was triggered for zone eu-1", "kind": "alert"},
            ],
        ),
        ("grafana/alerting-v9-resolved.json", {}, [{"status": "resolved", "grouping_key": "grafana:d8a21484c9c25a60"}]),
        ("grafana/legacy-alerting-firing.json", {}, [{"status": "firing", "title": "TestAlert"}]),
    ],
}


@pytest.fixture(scope="module", params=sorted(CASES))
def contract(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server(request.param, tmp_path_factory) as server:
        yield server


def test_every_fixture_is_accepted_signed_and_stored_normalized(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for fixture, headers, expected in CASES[contract.name]:
        answer = contract.post(read_fixture(fixture), headers)
        assert_fields(contract.events(answer), expected)


def test_a_wrong_signature_is_401_and_another_tools_payload_is_422(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    fixture, headers, _ = CASES[contract.name][0]
    body = read_fixture(fixture)
    assert contract.post(body, headers, secret="not-the-secret").status_code == 401
    assert contract.post(body, headers, sign=False).status_code == 401
    other = "sentry/issue-created.json" if contract.name != "sentry" else "alertmanager/firing-2-alerts.json"
    refused = contract.post(read_fixture(other), headers)
    assert refused.status_code == 422
    assert refused.json()["error"]
