"""Elastic (Kibana alerting) source: the documented webhook bodies, severity and status rules, auth, contract.

Kibana's Webhook connector posts a body the user templates, so there is no shared fixture: the
payloads under tests/sources/payloads/elastic/ are the documented templates (docs/sources/elastic.md)
rendered with values of our own; tests/sources/payloads/elastic/SOURCES.md says which Kibana
action variables each one uses and where they are documented.
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

from liberation_guardian.config import load_text
from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.elastic import ElasticConfig, ElasticSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, keyed_json, mutate
from tests.sources._helpers import PAYLOADS, basic_auth, json_object
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "elastic"
CPU_RULE = "8d7b1c70-3f4e-11ee-9d2a-4b1f0c2a7e11"
DISK_RULE = "3e5c2b10-7a9d-4c1e-b2f4-6d8a0e1c3b57"
SUDO_RULE = "6b2f0d84-9c1a-4e37-a5d2-0f7e3c9b1a46"
KIBANA = "https://kibana.example.com"
CPU_LINKS = [
    f"{KIBANA}/app/observability/alerts/5f0e2a9b-8c41-4d7e-9a3b-2e6f1d4c8b70",
    f"{KIBANA}/app/metrics/explorer",
    f"{KIBANA}/app/management/insightsAndAlerting/triggersActions/rule/{CPU_RULE}",
    KIBANA,
]
DISK_LINKS = [f"{KIBANA}/s/ops/app/management/insightsAndAlerting/triggersActions/rule/{DISK_RULE}", KIBANA]
SUDO_LINKS = [
    f"{KIBANA}/app/security/detections/rules/id/{SUDO_RULE}",
    f"{KIBANA}/app/security/rules/id/{SUDO_RULE}",
    KIBANA,
]


def cpu(status: str, severity: str, message: str, occurred: str) -> dict[str, Any]:
    return {
        "kind": "alert",
        "status": status,
        "severity": severity,
        "title": "High CPU on web hosts (web-01)",
        "message": message,
        "service": "checkout",
        "environment": "production",
        "grouping_key": f"elastic:{CPU_RULE}:web-01",
        "links": CPU_LINKS,
        "occurred_at": occurred,
    }


def disk(host: str, status: str, severity: str, percent: str, occurred: str) -> dict[str, Any]:
    return {
        "kind": "alert",
        "status": status,
        "severity": severity,
        "title": f"Disk usage above 85% ({host})",
        "message": f"system.filesystem.used.pct is {percent}% for {host}. Alert when > 85%.",
        "environment": "staging",
        "grouping_key": f"elastic:{DISK_RULE}:{host}",
        "links": DISK_LINKS,
        "occurred_at": occurred,
    }


def sudo(host: str, user: str, severity: str, occurred: str) -> dict[str, Any]:
    return {
        "kind": "alert",
        "status": "firing",
        "severity": severity,
        "title": f"Sudo to root ({host})",
        "message": f"process event with process sudo, by {user} on {host} created {severity} alert Sudo to root.",
        "grouping_key": f"elastic:{SUDO_RULE}:host:{host}",
        "links": SUDO_LINKS,
        "occurred_at": occurred,
    }


FIXTURES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "per-alert-fired.json",
        [
            cpu(
                "firing",
                "high",
                "system.cpu.total.norm.pct is 94.2% in the last 5 mins for web-01. Alert when > 90%.",
                "2024-05-14T09:31:07.412000+00:00",
            )
        ],
    ),
    (
        "per-alert-recovered.json",
        [
            cpu(
                "resolved",
                "info",
                "system.cpu.total.norm.pct is 41.0% in the last 5 mins for web-01. Alert when > 90%.",
                "2024-05-14T09:52:40.018000+00:00",
            )
        ],
    ),
    (
        "per-alert-es-query.json",
        [
            {
                "kind": "alert",
                "status": "firing",
                "severity": "critical",
                "title": "Payment errors",
                "message": "Document count is 37 in the last 5m in logs-payments-*. Alert when greater than 10.",
                "service": "payments-api",
                "grouping_key": "elastic:c41e9a02-1b7d-4f65-8e3a-77d0b5e1f2c9:query matched",
                "links": ["https://kibana.example.com/app/discover#/view/c41e9a02"],
                "occurred_at": "2024-05-14T10:05:00+00:00",
            }
        ],
    ),
    (
        "summary-alerts.json",
        [
            disk("db-07", "firing", "high", "91.3", "2024-05-14T11:00:12+00:00"),
            disk("db-03", "firing", "high", "88.0", "2024-05-14T10:40:12+00:00"),
            disk("db-01", "resolved", "info", "62.5", "2024-05-14T11:00:12+00:00"),
        ],
    ),
    (
        "summary-counts.json",
        [
            {
                "kind": "alert_summary",
                "status": "resolved",
                "severity": "info",
                "title": "Disk usage above 85%",
                "message": "alerts: 0 new, 0 ongoing, 2 recovered",
                "environment": "staging",
                "grouping_key": f"elastic:{DISK_RULE}",
                "links": DISK_LINKS,
                "occurred_at": "2024-05-14T12:00:15.771000+00:00",
            }
        ],
    ),
    (
        "security-summary.json",
        [
            sudo("db-02", "alice", "high", "2024-05-14T13:20:41.118000+00:00"),
            sudo("db-02", "alice", "high", "2024-05-14T13:21:02.530000+00:00"),
            sudo("db-03", "mallory", "critical", "2024-05-14T13:22:19.004000+00:00"),
        ],
    ),
]


def source(secret: str | None = None) -> ElasticSource:
    return ElasticSource(ElasticConfig(), {"webhook_secret": secret} if secret else {})


def load(name: str) -> dict[str, Any]:
    return json_object((OWN / name).read_bytes())


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def normalized(event: NormalizedEvent, wanted: dict[str, Any]) -> dict[str, Any]:
    got = event.model_dump(mode="json")
    got["links"] = [link.url for link in event.links]
    got["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    return {key: got[key] for key in wanted}


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(name: str, expected: list[dict[str, Any]]) -> None:
    events = source().parse({}, (OWN / name).read_bytes())
    assert [normalized(event, wanted) for event, wanted in zip(events, expected, strict=True)] == expected
    assert len(events) == len(expected)
    assert all(event.source == "elastic" and event.stack_frames == [] for event in events)


def test_firing_and_recovered_actions_share_the_grouping_key() -> None:
    [fired] = source().parse({}, (OWN / "per-alert-fired.json").read_bytes())
    [recovered] = source().parse({}, (OWN / "per-alert-recovered.json").read_bytes())
    assert fired.grouping_key == recovered.grouping_key
    assert (fired.status, recovered.status) == (Status.firing, Status.resolved)


def test_labels_and_extra_of_a_per_alert_action() -> None:
    [event] = source().parse({}, (OWN / "per-alert-fired.json").read_bytes())
    assert event.labels == {"service": "checkout", "env": "production", "alert_id": "web-01", "space": "default"}
    assert event.extra == {
        "action_group": "metrics.threshold.fired",
        "action_group_name": "Alert",
        "alert_uuid": "5f0e2a9b-8c41-4d7e-9a3b-2e6f1d4c8b70",
        "flapping": "false",
        "tags": ["service:checkout", "env:production", "team-web"],
    }


@pytest.mark.parametrize(
    ("group", "name", "severity"),
    [
        ("metrics.threshold.fired", "Alert", Severity.high),
        ("metrics.threshold.warning", "Warning", Severity.medium),
        ("slo.burnRate.alert", "Critical", Severity.critical),
        ("slo.burnRate.low", "Low", Severity.low),
        ("threshold met", "Threshold met", Severity.high),
        ("recovered", "Recovered", Severity.info),
    ],
)
def test_action_group_maps_to_severity(group: str, name: str, severity: Severity) -> None:
    payload = load("per-alert-fired.json")
    payload["alert"].update(actionGroup=group, actionGroupName=name)
    assert source().parse({}, encode(payload))[0].severity is severity


def test_a_severity_set_in_the_template_wins() -> None:
    payload = load("per-alert-recovered.json")
    payload["severity"] = "LOW"
    [event] = source().parse({}, encode(payload))
    assert (event.severity, event.status) == (Severity.low, Status.resolved)
    payload = load("security-summary.json")
    payload["severity"] = "medium"
    assert {event.severity for event in source().parse({}, encode(payload))} == {Severity.medium}


def test_security_rule_severity_is_the_fallback_for_documents() -> None:
    payload = load("security-summary.json")
    for doc in payload["context"]["alerts"]:
        del doc["kibana.alert.severity"]
    assert {event.severity for event in source().parse({}, encode(payload))} == {Severity.high}


def test_flattened_keys_and_template_fields_are_read() -> None:
    body = {
        "rule.id": "r-1",
        "rule.name": "Heap usage",
        "rule.tags": ["jvm"],
        "alert.id": "node-3",
        "alert.actionGroup": "threshold met",
        "context.reason": "heap at 97%",
        "service": "search-api",
        "environment": "qa",
        "date": "2024-05-14T00:00:00Z",
    }
    [event] = source().parse({}, encode(body))
    assert (event.title, event.message, event.service, event.environment, event.grouping_key) == (
        "Heap usage (node-3)",
        "heap at 97%",
        "search-api",
        "qa",
        "elastic:r-1:node-3",
    )


def test_summary_counts_with_active_alerts_fire() -> None:
    payload = load("summary-counts.json")
    payload["alerts"]["new"]["count"] = "2"
    [event] = source().parse({}, encode(payload))
    assert (event.status, event.severity, event.message) == (
        Status.firing,
        Severity.high,
        "alerts: 2 new, 0 ongoing, 2 recovered",
    )


def test_a_body_with_only_the_rule_fires_for_the_rule() -> None:
    [event] = source().parse({}, encode({"rule": {"name": "Nightly job failed"}, "context": {"message": "exit 3"}}))
    assert (event.kind, event.status, event.grouping_key, event.message) == (
        "rule",
        Status.firing,
        "elastic:Nightly job failed",
        "exit 3",
    )


def test_alert_documents_alone_identify_their_rule() -> None:
    payload = load("summary-alerts.json")
    del payload["rule"]
    events = source().parse({}, encode(payload))
    assert [event.grouping_key for event in events] == [
        f"elastic:{DISK_RULE}:db-07",
        f"elastic:{DISK_RULE}:db-03",
        f"elastic:{DISK_RULE}:db-01",
    ]


@pytest.mark.parametrize(
    "other",
    [
        "github/code_scanning_alert-created.json",
        "gcp-monitoring/incident-closed-v1.2.json",
        "sentry/metric_alert-resolved.json",
        "opsgenie/alert-create.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Kibana alerting payload"):
        source().parse({}, read_fixture(other))


def test_empty_mustache_variables_are_not_an_identity() -> None:
    with pytest.raises(PayloadInvalid, match=r"rule\.id or rule\.name"):
        source().parse({}, encode({"rule": {"id": "", "name": " "}, "alert": {"id": "x"}}))


def test_truncated_json_is_malformed() -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, (OWN / "per-alert-fired.json").read_bytes()[:100])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"rule": {"id": "x"}}]')


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(name: str, expected: list[dict[str, Any]]) -> None:
    payload = load(name)
    nested = tuple(key for key in ("rule", "alert", "context", "alerts") if isinstance(payload.get(key), dict))
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("rule", "rule.id", "rule.name"), removed
            continue
        assert events and all(event.title for event in events), removed


def test_basic_and_bearer_pass() -> None:
    source(SECRET).verify({"authorization": basic_auth("kibana", SECRET)}, b"{}")
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer nope"}, {"authorization": basic_auth("kibana", "no")}],
    ids=["missing", "wrong-token", "wrong-password"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_registered_under_name_and_elk_stack_alias() -> None:
    assert registry()["elastic"] is ElasticSource
    assert config_keys()["elk_stack"] is ElasticSource
    assert ElasticSource.group == "observability"


def test_config_marks_future_keys_and_forbids_unknown() -> None:
    properties = ElasticConfig.model_json_schema()["properties"]
    assert properties["elasticsearch_url"]["not_yet_used"] is True
    assert properties["index_pattern"]["not_yet_used"] is True
    with pytest.raises(ValidationError):
        ElasticConfig.model_validate({"kibana_url": "http://kibana:5601"})


def test_the_specs_elk_stack_entry_loads(tmp_path: Path) -> None:
    text = (
        "integrations:\n  observability:\n    elk_stack:\n      enabled: true\n"
        '      elasticsearch_url: "http://elasticsearch:9200"\n      index_pattern: "logs-*"\n'
    )
    config = load_text(text, {}, base_dir=tmp_path)
    assert config.sources["elastic"][0] is ElasticSource
    assert "integrations.observability.elk_stack.elasticsearch_url" in config.not_yet_used
    assert "integrations.observability.elk_stack.index_pattern" in config.not_yet_used


def test_sign_produces_what_verify_accepts() -> None:
    signed = source(SECRET).sign(b"{}")
    assert signed["Authorization"].startswith("Basic ")
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source().sign(b"{}") == {}


def test_documented_example_config_validates() -> None:
    config = ElasticConfig.model_validate(documented_config("elastic"))
    assert (config.webhook_secret_env, config.index_pattern) == ("ELASTIC_WEBHOOK_SECRET", "logs-*")


def test_documented_templates_render_to_what_the_parser_reads() -> None:
    # Each JSON template in the docs, with every {{variable}} filled in, parses to at least one event.
    page = (Path(__file__).resolve().parents[2] / "docs" / "sources" / "elastic.md").read_text(encoding="utf-8")
    templates = [block for block in page.split("```json\n")[1:]]
    assert len(templates) == 3
    for template in templates:
        body = template.split("```", 1)[0]
        body = body.replace("{{{", "{{").replace("}}}", "}}")
        for variable in ("alerts.new.count", "alerts.ongoing.count", "alerts.recovered.count"):
            body = body.replace("{{" + variable + "}}", "1")
        for variable in ("alerts.new.data.asJSON", "alerts.ongoing.data.asJSON", "alerts.recovered.data.asJSON"):
            body = body.replace("{{" + variable + "}}", "[]")
        body = body.replace("{{context.alerts.asJSON}}", '[{"host": {"name": "h1"}}]')
        while "{{" in body:
            start = body.index("{{")
            end = body.index("}}", start) + 2
            body = body[:start] + body[start + 2 : end - 2].replace(".", "-") + body[end:]
        assert source().parse({}, body.encode()), body


contract = contract_fixture("elastic")


def test_contract_fixtures_are_accepted_and_stored(contract: ContractServer) -> None:
    for name, expected in FIXTURES:
        answer = contract.post((OWN / name).read_bytes(), {"User-Agent": "axios/1.6.8", "kbn-xsrf": "true"})
        rows = [{key: value for key, value in wanted.items() if key != "links"} for wanted in expected]
        events = contract.events(answer)
        assert_fields(events, rows)
        assert [[link["url"] for link in event["links"]] for event in events] == [row["links"] for row in expected]


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        (OWN / "per-alert-fired.json").read_bytes(),
        read_fixture("github/code_scanning_alert-created.json"),
        "Kibana",
    )


SHAPED_KEYS = ["rule", "alert", "context", "alerts", "id", "name", "tags", "actionGroup", "actionGroupName", "reason",
               "new", "ongoing", "recovered", "count", "data", "kibana.alert.instance.id", "kibana.alert.status",
               "kibana", "severity", "date", "rule.id", "host"]  # fmt: skip
shaped = keyed_json(SHAPED_KEYS, max_leaves=30)


@FUZZ
@given(value=shaped)
def test_random_json(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data(), name=st.sampled_from([case[0] for case in FIXTURES]))
def test_mutated_fixtures(data: st.DataObject, name: str) -> None:
    check(source(), {}, encode(mutate(data, load(name))))
