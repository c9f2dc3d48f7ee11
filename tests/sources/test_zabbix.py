"""Zabbix source: our media type's body and OnCall's formatted webhook, token auth, refusals, HTTP contract.

Zabbix has no fixed webhook body. The payloads under tests/sources/payloads/zabbix/ are the body the
media type script in docs/sources/zabbix.md posts (parameters from the macros documented at
https://www.zabbix.com/documentation/current/en/manual/appendix/macros/supported_by_location) and
what Zabbix's own Grafana OnCall media type sends; their origin is described in that folder's SOURCES.md.
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
from liberation_guardian.sources.zabbix import ZabbixConfig, ZabbixSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, basic_auth, json_files, json_object, read_payload
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "zabbix"
KEY = "zabbix:13500:db-01"
EVENT_LINK = "https://zabbix.example.com/tr_events.php?triggerid=13500&eventid=23857"
TITLE = "High CPU utilization (over 90% for 5m)"

# path (shared fixture, or "own/<file>") -> expected fields of its one event
CASES: dict[str, dict[str, Any]] = {
    "zabbix/oncall-formatted-webhook.json": {
        "kind": "problem",
        "status": Status.firing,
        "severity": Severity.medium,
        "title": "TestAlert: The whole system is down",
        "service": None,
        "environment": None,
        "grouping_key": "zabbix:event:08d6891a-835c-e661-39fa-96b6a9e26552",
        "links": ["https://en.wikipedia.org/wiki/Downtime"],
        "occurred_at": None,
    },
    "own/oncall-problem.json": {
        "kind": "problem",
        "status": Status.firing,
        "severity": Severity.high,
        "title": TITLE,
        "service": "db-01",
        "environment": None,
        "grouping_key": KEY,
        "links": [EVENT_LINK],
        "occurred_at": None,
    },
    "own/oncall-recovery.json": {
        "kind": "recovery",
        "status": Status.resolved,
        "severity": Severity.high,
        "title": TITLE,
        "service": "db-01",
        "environment": None,
        "grouping_key": KEY,
        "links": [EVENT_LINK],
        "occurred_at": None,
    },
    "own/problem.json": {
        "kind": "problem",
        "status": Status.firing,
        "severity": Severity.critical,
        "title": TITLE,
        "service": "billing-db",
        "environment": "production",
        "grouping_key": KEY,
        "links": [EVENT_LINK],
        "occurred_at": "2024-03-12T13:05:31+00:00",
    },
    "own/recovery.json": {
        "kind": "recovery",
        "status": Status.resolved,
        "severity": Severity.critical,
        "title": TITLE,
        "service": "billing-db",
        "environment": "production",
        "grouping_key": KEY,
        "links": [EVENT_LINK],
        "occurred_at": "2024-03-12T13:21:07+00:00",
    },
    "own/update-acknowledged.json": {
        "kind": "update",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": TITLE,
        "service": "billing-db",
        "environment": "production",
        "grouping_key": KEY + ":update",
        "links": [EVENT_LINK],
        "occurred_at": "2024-03-12T13:05:31+00:00",
    },
}


def source(secret: str | None = None, **config: Any) -> ZabbixSource:
    return ZabbixSource(ZabbixConfig(**config), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def with_fields(read_fixture: Callable[[str], bytes], path: str, **fields: Any) -> bytes:
    return json.dumps({**load(read_fixture, path), **fields}).encode()


@pytest.mark.parametrize("path", CASES)
def test_payload_normalizes(read_fixture: Callable[[str], bytes], path: str) -> None:
    [event] = source().parse({}, read(read_fixture, path))
    expected = CASES[path]
    assert event.source == "zabbix"
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
    assert got == expected
    assert event.stack_frames == []


def test_every_own_payload_is_covered() -> None:
    files = {f"own/{path.name}" for path in OWN.glob("*.json")}
    assert files - set(CASES) == {"own/media-type-test.json"}


def test_recovery_resolves_the_problem_of_either_shape(read_fixture: Callable[[str], bytes]) -> None:
    paths = ["own/problem.json", "own/recovery.json", "own/oncall-problem.json", "own/oncall-recovery.json"]
    events = [source().parse({}, read(read_fixture, path))[0] for path in paths]
    assert {event.grouping_key for event in events} == {KEY}
    assert [event.status for event in events] == [Status.firing, Status.resolved] * 2


def test_media_type_fields_become_labels_message_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own/problem.json"))
    assert event.labels == {
        "service": "billing-db",
        "environment": "production",
        "scope": "performance",
        "host_name": "db-01",
        "host_host": "db-01.example.internal",
        "host_ip": "10.0.4.21",
        "trigger_id": "13500",
        "event_severity": "Disaster",
        "event_id": "23857",
    }
    assert event.message.startswith("Problem started at 14:05:31 on 2024.03.12")
    # Unexpanded macros ({EVENT.RECOVERY.ID} in a problem) are dropped, not kept as values.
    assert "event_recovery_id" not in event.extra
    assert event.extra["event_opdata"] == "Current utilization: 97.2 %"


def test_the_media_type_test_dialog_gives_no_event() -> None:
    assert source().parse({}, (OWN / "media-type-test.json").read_bytes()) == []


@pytest.mark.parametrize(
    ("name", "number", "severity"),
    [
        ("Disaster", None, Severity.critical),
        ("High", None, Severity.high),
        ("Average", None, Severity.medium),
        ("Warning", None, Severity.low),
        ("Information", None, Severity.info),
        ("Not classified", None, Severity.info),
        ("DISASTER", None, Severity.critical),
        ("Sev-1 (renamed)", "5", Severity.critical),
        ("Renamed", "2", Severity.low),
        (None, "0", Severity.info),
        ("Renamed", None, Severity.medium),
        (None, None, Severity.medium),
    ],
)
def test_severity_from_name_or_number(
    read_fixture: Callable[[str], bytes], name: str | None, number: str | None, severity: Severity
) -> None:
    body = with_fields(read_fixture, "own/problem.json", event_severity=name, event_nseverity=number)
    assert source().parse({}, body)[0].severity is severity


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"event_value": "0", "event_status": "PROBLEM"}, Status.resolved),
        ({"event_value": None, "event_status": "RESOLVED"}, Status.resolved),
        ({"event_value": "1", "event_status": None}, Status.firing),
        ({"event_value": None, "event_status": None}, Status.firing),
    ],
)
def test_status_from_value_or_status(
    read_fixture: Callable[[str], bytes], fields: dict[str, Any], status: Status
) -> None:
    assert source().parse({}, with_fields(read_fixture, "own/problem.json", **fields))[0].status is status


@pytest.mark.parametrize(
    ("action", "status", "severity", "key"),
    [
        ("acknowledged", Status.resolved, Severity.info, KEY + ":update"),
        ("commented", Status.resolved, Severity.info, KEY + ":update"),
        ("changed severity from Average to Disaster", Status.firing, Severity.critical, KEY),
        ("acknowledged, closed", Status.resolved, Severity.critical, KEY),
    ],
)
def test_update_operations(
    read_fixture: Callable[[str], bytes], action: str, status: Status, severity: Severity, key: str
) -> None:
    body = with_fields(read_fixture, "own/update-acknowledged.json", event_update_action=action)
    event = source().parse({}, body)[0]
    assert (event.kind, event.status, event.severity, event.grouping_key) == ("update", status, severity, key)


def test_without_a_trigger_the_event_id_groups(read_fixture: Callable[[str], bytes]) -> None:
    for path in ("own/problem.json", "own/recovery.json"):
        body = with_fields(read_fixture, path, trigger_id="{TRIGGER.ID}")
        [event] = source().parse({}, body)
        assert event.grouping_key == "zabbix:event:23857"
        assert event.links == []  # no trigger id for the event page


@pytest.mark.parametrize(("event_source", "kind"), [("1", "discovery"), ("2", "autoregistration")])
def test_discovery_and_autoregistration_are_informational(
    read_fixture: Callable[[str], bytes], event_source: str, kind: str
) -> None:
    body = with_fields(read_fixture, "own/problem.json", event_source=event_source, trigger_id="{TRIGGER.ID}")
    event = source().parse({}, body)[0]
    assert (event.kind, event.status, event.severity) == (kind, Status.resolved, Severity.info)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([{"tag": "Service", "value": "api"}, {"tag": "env", "value": "staging"}], ("api", "staging")),
        ("Service:api, env:staging, scope:availability", ("api", "staging")),
        ("{EVENT.TAGS}", ("db-01", None)),
        ("[not json", ("db-01", None)),
        (7, ("db-01", None)),
    ],
)
def test_tags_as_json_list_text_or_comma_list(
    read_fixture: Callable[[str], bytes], tags: object, expected: tuple[str | None, str | None]
) -> None:
    event = source().parse({}, with_fields(read_fixture, "own/problem.json", event_tags=tags))[0]
    assert (event.service, event.environment) == expected


def test_non_http_links_are_dropped(read_fixture: Callable[[str], bytes]) -> None:
    body = with_fields(read_fixture, "own/problem.json", zabbix_url="javascript:alert(1)", trigger_url="ftp://x/y")
    assert source().parse({}, body)[0].links == []
    body = with_fields(read_fixture, "own/problem.json", trigger_url="https://wiki.example.com/runbooks/cpu")
    assert [link.url for link in source().parse({}, body)[0].links] == [
        EVENT_LINK,
        "https://wiki.example.com/runbooks/cpu",
    ]


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Zabbix payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed_and_an_array_invalid(read_fixture: Callable[[str], bytes]) -> None:
    body = read(read_fixture, "own/problem.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[" + body + b"]")


@pytest.mark.parametrize("path", CASES)
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    for removed, body in without_each_key(load(read_fixture, path)):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            continue
        assert all(event.title for event in events), removed


@pytest.mark.parametrize(
    "headers",
    [
        {"x-guardian-token": SECRET},
        {"x-guardian-token": f"  {SECRET} "},
        {"authorization": f"Bearer {SECRET}"},
        {"authorization": basic_auth("zabbix", SECRET)},
    ],
    ids=["token", "token-padded", "bearer", "basic"],
)
def test_right_secret_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Guardian-Token"),
        ({"x-guardian-token": ""}, "missing X-Guardian-Token"),
        ({"x-guardian-token": "wrong"}, "X-Guardian-Token does not match"),
        ({"authorization": "Bearer wrong"}, "do not match"),
        ({"authorization": "Token s3cret"}, "not Bearer or Basic"),
        # The token header wins: a right Authorization does not rescue a wrong token.
        ({"x-guardian-token": "wrong", "authorization": f"Bearer {SECRET}"}, "X-Guardian-Token"),
    ],
    ids=["missing", "empty", "wrong-token", "wrong-bearer", "other-scheme", "wrong-token-right-bearer"],
)
def test_wrong_or_missing_secret_is_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_configured_token_header_is_used() -> None:
    custom = source(SECRET, token_header="X-Zabbix-Key")
    custom.verify({"x-zabbix-key": SECRET}, b"{}")
    with pytest.raises(Unauthorized, match="X-Zabbix-Key"):
        custom.verify({"x-guardian-token": SECRET}, b"{}")
    assert custom.sign(b"{}") == {"X-Zabbix-Key": SECRET}


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")
    assert source().sign(b"{}") == {}


def test_sign_produces_what_verify_accepts() -> None:
    signed = source(SECRET).sign(b"{}")
    assert signed == {"X-Guardian-Token": SECRET}
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, b"{}")


def test_registered_with_group_scheme_and_config() -> None:
    assert registry()["zabbix"] is ZabbixSource
    assert ZabbixSource.group == "infrastructure"
    assert "X-Guardian-Token" in ZabbixSource.auth_scheme
    with pytest.raises(ValidationError):
        ZabbixConfig.model_validate({"token_headr": "x"})
    with pytest.raises(ValidationError):
        ZabbixConfig.model_validate({"token_header": "bad header:"})
    with pytest.raises(TypeError):
        ZabbixSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = ZabbixConfig.model_validate(documented_config("zabbix"))
    assert config.webhook_secret_env == "ZABBIX_WEBHOOK_SECRET"
    assert config.token_header == "X-Guardian-Token"


def test_documented_parameters_match_what_is_read() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "sources" / "zabbix.md").read_text(encoding="utf-8")
    for path in ("problem.json", "recovery.json"):
        for name in json.loads((OWN / path).read_bytes()):
            assert f"`{name}`" in page, name


# --- HTTP contract --------------------------------------------------------------------------------


contract = contract_fixture("zabbix")


def stored(path: str) -> dict[str, Any]:
    expected = CASES[path]
    fields = {
        "kind": expected["kind"],
        "status": expected["status"].value,
        "severity": expected["severity"].value,
        "title": expected["title"],
        "service": expected["service"],
        "grouping_key": expected["grouping_key"],
    }
    # An event without an environment is stored with core.environment.
    return fields | {"environment": expected["environment"] or "production"}


def test_contract_every_payload_is_stored_normalized(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for path in CASES:
        answer = contract.post(read(read_fixture, path), {"User-Agent": "Zabbix"})
        assert_fields(contract.events(answer), [stored(path)])
    test_dialog = contract.post((OWN / "media-type-test.json").read_bytes())
    assert test_dialog.status_code == 202 and test_dialog.json()["accepted"] == 0


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    body = read(read_fixture, "own/problem.json")
    assert_refusals(contract, body, read_fixture("sentry/issue-created.json"), "not a Zabbix payload")
    assert contract.post(body, {"Authorization": basic_auth("zabbix", contract.secret)}, sign=False).status_code == 202
    assert contract.post(body[:-3]).status_code == 400


# --- property tests -------------------------------------------------------------------------------

POOL = json_files(OWN)


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(fixtures_dir: Path, data: st.DataObject) -> None:
    pool = [*POOL, json.loads((fixtures_dir / "zabbix" / "oncall-formatted-webhook.json").read_bytes())]
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(pool)))))


@FUZZ
@given(body=st.binary(max_size=64))
def test_random_bytes_return_events_or_a_source_error(body: bytes) -> None:
    check(source(), {}, body)
