"""Snyk source: every payload normalized field by field, the X-Hub-Signature, refusals and the HTTP contract.

The shared fixtures are one project_snapshot with a new issue and a ping. The payloads under
tests/sources/payloads/snyk/ (the same issue removed, a snapshot with no changes, a critical
upgradable vulnerability next to an ignored license issue) follow the project_snapshot/v0 format
of Snyk's webhook documentation; payloads/snyk/SOURCES.md says where each field comes from.
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
from liberation_guardian.sources.snyk import SnykSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, json_object
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "snyk-webhook-secret"
OWN = PAYLOADS / "snyk"
SNAPSHOT, PING = "snyk/project_snapshot.json", "snyk/ping.json"
GOOF = "af137b96-6966-46c1-826b-2e79ac49bbd9"
GOOF_URL = f"https://app.snyk.io/org/4a18d42f-0706-4ad0-b127-24078731fbed/project/{GOOF}"
STOREFRONT = "5b0f3c1e-8a7d-4f62-9e1b-2c3d4e5f6a7b"
STOREFRONT_URL = f"https://app.snyk.io/org/acme/project/{STOREFRONT}"
MS_ISSUE = {
    "service": "snyk/goof",
    "environment": "development",
    "grouping_key": f"snyk:{GOOF}:npm:ms:20170412",
    "links": ["https://snyk.io/vuln/npm:ms:20170412", GOOF_URL],
}

# Path (shared fixture or own payload file name) -> expected events, in order.
CASES: dict[str, list[dict[str, Any]]] = {
    SNAPSHOT: [
        {
            **MS_ISSUE,
            "status": Status.firing,
            "severity": Severity.low,
            "title": "Regular Expression Denial of Service (ReDoS) in ms@1.0.0",
            "occurred_at": "2019-02-05T08:54:07.704000+00:00",
        }
    ],
    PING: [],
    "project_snapshot-removed.json": [
        {
            **MS_ISSUE,
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "No longer found: Regular Expression Denial of Service (ReDoS) in ms@1.0.0",
            "occurred_at": "2019-02-12T08:51:30.114000+00:00",
        }
    ],
    "project_snapshot-unchanged.json": [
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Snyk tested snyk/goof: no new or removed issues",
            "service": "snyk/goof",
            "environment": "development",
            "grouping_key": f"snyk:{GOOF}",
            "links": [GOOF_URL],
            "occurred_at": "2019-02-05T08:54:07.704000+00:00",
        }
    ],
    "project_snapshot-critical-and-ignored.json": [
        {
            "status": Status.firing,
            "severity": Severity.critical,
            "title": "Prototype Pollution in lodash@4.17.15",
            "service": "acme/storefront:package.json",
            "environment": "production",
            "grouping_key": f"snyk:{STOREFRONT}:SNYK-JS-LODASH-567746",
            "links": ["https://security.snyk.io/vuln/SNYK-JS-LODASH-567746", STOREFRONT_URL],
            "occurred_at": "2024-05-14T06:00:12.331000+00:00",
        },
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Ignored in Snyk: CC-BY-4.0 license in caniuse-lite@1.0.30001600",
            "service": "acme/storefront:package.json",
            "environment": "production",
            "grouping_key": f"snyk:{STOREFRONT}:snyk:lic:npm:caniuse-lite:CC-BY-4.0",
            "links": ["https://snyk.io/vuln/snyk:lic:npm:caniuse-lite:CC-BY-4.0", STOREFRONT_URL],
            "occurred_at": "2024-05-14T06:00:12.331000+00:00",
        },
    ],
}


def source(secret: str | None = None) -> SnykSource:
    return SnykSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


@pytest.fixture
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture by its path, or one of this source's own payloads by file name."""

    def reader(name: str) -> bytes:
        return read_fixture(name) if "/" in name else (OWN / name).read_bytes()

    return reader


def load(read: Callable[[str], bytes], name: str) -> dict[str, Any]:
    return json_object(read(name))


def event_header(name: str) -> dict[str, str]:
    return {"x-snyk-event": "ping/v0" if name == PING else "project_snapshot/v0"}


@pytest.mark.parametrize("send_header", [True, False], ids=["header", "sniffed"])
@pytest.mark.parametrize(("name", "expected"), CASES.items(), ids=list(CASES))
def test_payload_normalizes(
    read: Callable[[str], bytes], name: str, expected: list[dict[str, Any]], send_header: bool
) -> None:
    events = source().parse(event_header(name) if send_header else {}, read(name))
    assert len(events) == len(expected)
    for event, wanted in zip(events, expected, strict=True):
        assert (event.source, event.kind) == ("snyk", "project_snapshot")
        assert event.status is wanted["status"]
        assert event.severity is wanted["severity"]
        assert event.title == wanted["title"]
        assert event.service == wanted["service"]
        assert event.environment == wanted["environment"]
        assert event.grouping_key == wanted["grouping_key"]
        assert [link.url for link in event.links] == wanted["links"]
        assert event.occurred_at is not None and event.occurred_at.isoformat() == wanted["occurred_at"]
        assert event.stack_frames == []


def test_every_own_payload_has_a_case() -> None:
    assert {path.name for path in OWN.glob("*.json")} == {name for name in CASES if "/" not in name}


def test_removed_issue_resolves_the_new_one(read: Callable[[str], bytes]) -> None:
    [new] = source().parse({}, read(SNAPSHOT))
    [removed] = source().parse({}, read("project_snapshot-removed.json"))
    assert (new.status, removed.status) == (Status.firing, Status.resolved)
    assert new.grouping_key == removed.grouping_key


def test_issue_details_land_in_labels_message_and_extra(read: Callable[[str], bytes]) -> None:
    critical = source().parse({}, read("project_snapshot-critical-and-ignored.json"))[0]
    assert critical.labels == {
        "project_id": STOREFRONT,
        "project_type": "npm",
        "origin": "github",
        "org": "acme",
        "criticality": "critical",
        "branch": "main",
        "issue_id": "SNYK-JS-LODASH-567746",
        "package": "lodash",
        "issue_type": "vuln",
        "snyk_severity": "critical",
        "cve": "CVE-2020-8203",
        "cwe": "CWE-1321",
    }
    assert critical.message == "Vulnerable versions: <4.17.16. Fixed in 4.17.16. Fixable by upgrade."
    assert critical.extra["fix"] == {
        "isUpgradable": True,
        "isPinnable": False,
        "isPatchable": False,
        "isFixable": True,
        "nearestFixedInVersion": "4.17.16",
        "upgradePaths": [["lodash@4.17.16"]],
        "isPatched": False,
    }
    assert critical.extra["identifiers"]["GHSA"] == ["GHSA-p6mc-m468-83gw"]
    assert (critical.extra["cvss_score"], critical.extra["priority_score"]) == (9.1, 819)
    assert critical.extra["exploit_maturity"] == "proof-of-concept"


def test_unchanged_snapshot_keeps_the_open_issue_counts(read: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read("project_snapshot-unchanged.json"))
    assert event.message == "Open issues: 5 critical, 4 high, 8 medium, 13 low"
    assert event.extra["issue_counts"] == {"low": 13, "medium": 8, "high": 4, "critical": 5}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", Severity.critical),
        ("high", Severity.high),
        ("medium", Severity.medium),
        ("low", Severity.low),
        ("HIGH", Severity.high),
        ("unknown", Severity.medium),
        (None, Severity.medium),
    ],
)
def test_snyk_severity_maps(read: Callable[[str], bytes], severity: str | None, expected: Severity) -> None:
    payload = load(read, SNAPSHOT)
    payload["newIssues"][0]["issueData"]["severity"] = severity
    assert source().parse({}, json.dumps(payload).encode())[0].severity is expected


def test_snyk_timestamp_header_sets_the_time(read: Callable[[str], bytes]) -> None:
    headers = {"x-snyk-event": "project_snapshot/v0", "x-snyk-timestamp": "2020-09-25T15:27:53Z"}
    [event] = source().parse(headers, read(SNAPSHOT))
    assert event.occurred_at is not None and event.occurred_at.isoformat() == "2020-09-25T15:27:53+00:00"


def test_unknown_event_header_is_invalid(read: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="project_created"):
        source().parse({"x-snyk-event": "project_created/v0"}, read(SNAPSHOT))


def test_ping_header_without_webhook_id_is_invalid(read: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="webhookId"):
        source().parse({"x-snyk-event": "ping/v0"}, read(SNAPSHOT))


def test_snapshot_header_on_a_ping_body_is_invalid(read: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="project"):
        source().parse({"x-snyk-event": "project_snapshot/v0"}, read(PING))


@pytest.mark.parametrize("bad", [{"newIssues": "none"}, {"newIssues": [1]}, {"removedIssues": [None]}])
def test_issue_lists_of_the_wrong_shape_are_invalid(read: Callable[[str], bytes], bad: dict[str, Any]) -> None:
    payload = {**load(read, SNAPSHOT), **bad}
    with pytest.raises(PayloadInvalid, match="Issues"):
        source().parse({"x-snyk-event": "project_snapshot/v0"}, json.dumps(payload).encode())


@pytest.mark.parametrize(
    "other",
    ["sonarqube/analysis-quality-gate-ok.json", "sentry/issue-created.json", "github/push.json", "gitlab/push.json"],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Snyk payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SNAPSHOT)
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[{}]")


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], name: str) -> None:
    payload = load(read, name)
    nested = tuple(key for key in ("project", "org") if key in payload)
    issues = payload.get("newIssues") or payload.get("removedIssues")
    for headers in (event_header(name), {}):
        for removed, body in without_each_key(payload, nested=nested):
            try:
                events = source().parse(headers, body)
            except PayloadInvalid:
                continue
            assert all(event.title for event in events), removed
        if issues:
            for key in issues[0]:
                copy = json.loads(json.dumps(payload))
                del (copy.get("newIssues") or copy["removedIssues"])[0][key]
                assert all(event.title for event in source().parse(headers, json.dumps(copy).encode())), key


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SNAPSHOT)
    source(SECRET).verify({"x-hub-signature": "sha256=" + hex_hmac(SECRET, body)}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature": ""},
        {"x-hub-signature": "sha256=" + hex_hmac("other", b"{}")},
        {"x-hub-signature": "sha1=0123456789abcdef"},
        {"x-hub-signature-256": "sha256=" + hex_hmac(SECRET, b"{}")},
    ],
    ids=["missing", "empty", "wrong", "sha1", "other-header"],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Hub-Signature"):
        source(SECRET).verify(headers, read_fixture(SNAPSHOT))


def test_signature_without_prefix_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SNAPSHOT)
    with pytest.raises(Unauthorized, match="sha256="):
        source(SECRET).verify({"x-hub-signature": hex_hmac(SECRET, body)}, body)


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SNAPSHOT)
    resigned = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"x-hub-signature": "sha256=" + hex_hmac(SECRET, resigned)}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SNAPSHOT)
    assert_sign_round_trip(source(SECRET), source(), body, {"X-Hub-Signature": "sha256=" + hex_hmac(SECRET, body)})


def test_registered_with_group_and_scheme() -> None:
    assert registry()["snyk"] is SnykSource
    assert SnykSource.group == "code_quality"
    assert "X-Hub-Signature" in SnykSource.auth_scheme


def test_documented_example_config_validates() -> None:
    assert SourceConfig.model_validate(documented_config("snyk")).webhook_secret_env == "SNYK_WEBHOOK_SECRET"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("snyk")


def test_http_contract_every_payload(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    for name, expected in CASES.items():
        headers = {"X-Snyk-Event": event_header(name)["x-snyk-event"], "X-Snyk-Timestamp": "2024-05-14T06:00:13Z"}
        answer = contract.post(read(name), headers)
        assert answer.status_code == 202, answer.text
        keys = ("status", "severity", "title", "service", "environment", "grouping_key")
        wanted = [{"kind": "project_snapshot", **{key: item[key] for key in keys}} for item in expected]
        assert_fields(contract.events(answer), wanted)


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        read_fixture(SNAPSHOT),
        read_fixture("sonarqube/analysis-quality-gate-ok.json"),
        "project_snapshot",
        {"X-Snyk-Event": "project_snapshot/v0"},
    )


# --- property tests --------------------------------------------------------------------------

HEADERS = st.dictionaries(
    st.sampled_from(["x-snyk-event", "x-snyk-timestamp"]),
    st.sampled_from(["ping/v0", "project_snapshot/v0", "project_snapshot", "", "?", "2020-09-25T15:27:53Z"]),
    max_size=2,
)


def pool(fixtures_dir: Path) -> list[Any]:
    paths = [fixtures_dir / SNAPSHOT, fixtures_dir / PING, *sorted(OWN.glob("*.json"))]
    return [json.loads(path.read_bytes()) for path in paths]


@FUZZ
@given(value=json_values | shaped_values, headers=HEADERS)
def test_random_json_returns_events_or_a_source_error(value: Any, headers: dict[str, str]) -> None:
    check(source(), headers, encode(value))


@FUZZ
@given(data=st.data(), headers=HEADERS)
def test_mutated_payloads_return_events_or_a_source_error(
    fixtures_dir: Path, data: st.DataObject, headers: dict[str, str]
) -> None:
    check(source(), headers, encode(mutate(data, data.draw(st.sampled_from(pool(fixtures_dir))))))
