"""SonarQube source: every payload normalized field by field, the HMAC signature, refusals and the HTTP contract.

The shared fixture is a passing analysis without a branch. The payloads under
tests/sources/payloads/sonarqube/ (failing gate on the main branch and on a pull request, the
same branch passing again, a failed task) are built from SonarQube's documented webhook payload;
payloads/sonarqube/SOURCES.md says where each field comes from.
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
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.sonarqube import SonarQubeSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, json_object
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "sonar-webhook-secret"
OWN = PAYLOADS / "sonarqube"
SHARED = "sonarqube/analysis-quality-gate-ok.json"
DASHBOARD = "https://sonar.example.com/dashboard?id=acme%3Acheckout-api"

# Path (shared fixture or own payload file name) -> expected normalized fields.
CASES: dict[str, dict[str, Any]] = {
    SHARED: {
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "SonarQube quality gate passed on Example (main branch)",
        "service": "Example",
        "grouping_key": "sonarqube:org.sonarqube:example:main",
        "links": ["http://localhost:9000"],
        "occurred_at": "2016-11-18T10:46:28+01:00",
        "message_lines": 4,
    },
    "quality-gate-error-main.json": {
        "status": Status.firing,
        "severity": Severity.high,
        "title": "SonarQube quality gate failed on Checkout API (branch main): "
        "new_coverage 61.84 < 80, new_duplicated_lines_density 7.2 > 3",
        "service": "Checkout API",
        "grouping_key": "sonarqube:acme:checkout-api:main",
        "links": [DASHBOARD, "https://sonar.example.com"],
        "occurred_at": "2024-05-14T09:12:44+00:00",
        "message_lines": 4,
    },
    "quality-gate-ok-main.json": {
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "SonarQube quality gate passed on Checkout API (branch main)",
        "service": "Checkout API",
        "grouping_key": "sonarqube:acme:checkout-api:main",
        "links": [DASHBOARD, "https://sonar.example.com"],
        "occurred_at": "2024-05-14T15:40:02+00:00",
        "message_lines": 3,
    },
    "quality-gate-error-pull-request.json": {
        "status": Status.firing,
        "severity": Severity.medium,
        "title": "SonarQube quality gate failed on Checkout API (pull request 412): new_violations 4 > 0",
        "service": "Checkout API",
        "grouping_key": "sonarqube:acme:checkout-api:pr-412",
        "links": [f"{DASHBOARD}&pullRequest=412", DASHBOARD, "https://sonar.example.com"],
        "occurred_at": "2024-05-14T11:03:19+00:00",
        "message_lines": 1,
    },
    "task-failed.json": {
        "status": Status.firing,
        "severity": Severity.medium,
        "title": "SonarQube analysis of Checkout API (branch release/2.4) failed",
        "service": "Checkout API",
        "grouping_key": "sonarqube:acme:checkout-api:release/2.4",
        "links": [f"{DASHBOARD}&branch=release%2F2.4", DASHBOARD, "https://sonar.example.com"],
        "occurred_at": "2024-05-15T07:21:55+00:00",
        "message_lines": 0,
    },
}


def source(secret: str | None = None) -> SonarQubeSource:
    return SonarQubeSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


@pytest.fixture
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture by its path, or one of this source's own payloads by file name."""

    def reader(name: str) -> bytes:
        return read_fixture(name) if "/" in name else (OWN / name).read_bytes()

    return reader


def load(read: Callable[[str], bytes], name: str) -> dict[str, Any]:
    return json_object(read(name))


@pytest.mark.parametrize(("name", "expected"), CASES.items(), ids=list(CASES))
def test_payload_normalizes(read: Callable[[str], bytes], name: str, expected: dict[str, Any]) -> None:
    events = source().parse({}, read(name))
    assert len(events) == 1
    event = events[0]
    assert (event.source, event.kind, event.environment) == ("sonarqube", "analysis", None)
    assert event.status is expected["status"]
    assert event.severity is expected["severity"]
    assert event.title == expected["title"]
    assert event.service == expected["service"]
    assert event.grouping_key == expected["grouping_key"]
    assert [link.url for link in event.links] == expected["links"]
    assert event.occurred_at is not None and event.occurred_at.isoformat() == expected["occurred_at"]
    assert len(event.message.splitlines()) == expected["message_lines"]
    assert event.stack_frames == []


def test_every_own_payload_has_a_case() -> None:
    assert {path.name for path in OWN.glob("*.json")} == {name for name in CASES if "/" not in name}


def test_failing_gate_resolves_with_the_next_passing_analysis(read: Callable[[str], bytes]) -> None:
    failed = source().parse({}, read("quality-gate-error-main.json"))[0]
    passed = source().parse({}, read("quality-gate-ok-main.json"))[0]
    assert (failed.status, passed.status) == (Status.firing, Status.resolved)
    assert failed.grouping_key == passed.grouping_key


def test_details_land_in_labels_message_and_extra(read: Callable[[str], bytes]) -> None:
    event = source().parse({}, read("quality-gate-error-main.json"))[0]
    assert event.labels == {
        "project_key": "acme:checkout-api",
        "branch": "main",
        "branch_type": "BRANCH",
        "quality_gate_status": "ERROR",
        "task_status": "SUCCESS",
        "sonar.analysis.buildNumber": "1187",
    }
    assert event.message.splitlines()[1] == "ERROR new_coverage = 61.84 (fails when < 80)"
    assert event.message.splitlines()[3] == "NO_VALUE new_security_hotspots_reviewed = no value (fails when < 100)"
    assert event.extra == {
        "task_id": "AYxQk3bR7TnWm2Lp9Cz1",
        "revision": "4f2c9e1d0b7a8c6e5f3a2b1c0d9e8f7a6b5c4d3e",
        "quality_gate": "Sonar way",
        "failed_conditions": 2,
    }


@pytest.mark.parametrize(
    ("gate", "branch", "severity", "status"),
    [
        ("ERROR", {"name": "main", "type": "BRANCH", "isMain": True}, Severity.high, Status.firing),
        ("ERROR", None, Severity.high, Status.firing),
        ("ERROR", {"name": "feature/x", "type": "BRANCH", "isMain": False}, Severity.medium, Status.firing),
        ("ERROR", {"name": "7", "type": "PULL_REQUEST", "isMain": False}, Severity.medium, Status.firing),
        ("WARN", {"name": "main", "type": "BRANCH", "isMain": True}, Severity.low, Status.firing),
        ("OK", {"name": "feature/x", "type": "BRANCH", "isMain": False}, Severity.info, Status.resolved),
        ("NONE", None, Severity.info, Status.resolved),
    ],
)
def test_gate_status_and_branch_set_severity(
    read: Callable[[str], bytes], gate: str, branch: dict[str, Any] | None, severity: Severity, status: Status
) -> None:
    payload = load(read, "quality-gate-error-main.json")
    payload["qualityGate"]["status"] = gate
    if branch is None:
        del payload["branch"]
    else:
        payload["branch"] = branch
    event = source().parse({}, json.dumps(payload).encode())[0]
    assert (event.severity, event.status) == (severity, status)


def test_many_failed_conditions_are_cut_short_in_the_title(read: Callable[[str], bytes]) -> None:
    payload = load(read, "quality-gate-error-pull-request.json")
    condition = payload["qualityGate"]["conditions"][0]
    payload["qualityGate"]["conditions"] = [{**condition, "metric": f"metric_{i}"} for i in range(5)]
    event = source().parse({}, json.dumps(payload).encode())[0]
    assert event.title.endswith("metric_2 4 > 0 and 2 more")
    assert len(event.message.splitlines()) == 5


def test_project_key_header_stands_in_for_a_missing_key(read: Callable[[str], bytes]) -> None:
    payload = load(read, SHARED)
    del payload["project"]["key"]
    body = json.dumps(payload).encode()
    event = source().parse({"x-sonarqube-project": "org.sonarqube:example"}, body)[0]
    assert event.grouping_key == "sonarqube:org.sonarqube:example:main"
    with pytest.raises(PayloadInvalid, match="project.key"):
        source().parse({}, body)


@pytest.mark.parametrize(
    "other",
    ["snyk/project_snapshot.json", "sentry/legacy-webhooks-plugin-event.json", "github/push.json", "gitlab/push.json"],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="SonarQube"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SHARED)
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[{}]")


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], name: str) -> None:
    payload = load(read, name)
    nested = tuple(key for key in ("project", "branch", "qualityGate") if key in payload)
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            continue
        assert len(events) == 1 and events[0].title, removed


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SHARED)
    source(SECRET).verify({"x-sonar-webhook-hmac-sha256": hex_hmac(SECRET, body)}, body)
    source(SECRET).verify({"x-sonar-webhook-hmac-sha256": hex_hmac(SECRET, body).upper()}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-sonar-webhook-hmac-sha256": ""},
        {"x-sonar-webhook-hmac-sha256": hex_hmac("other", b"{}")},
        {"x-hub-signature": "sha256=" + hex_hmac(SECRET, b"{}")},
    ],
    ids=["missing", "empty", "wrong", "other-header"],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Sonar-Webhook-HMAC-SHA256"):
        source(SECRET).verify(headers, read_fixture(SHARED))


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SHARED)
    resigned = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"x-sonar-webhook-hmac-sha256": hex_hmac(SECRET, resigned)}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(SHARED)
    assert_sign_round_trip(source(SECRET), source(), body, {"X-Sonar-Webhook-HMAC-SHA256": hex_hmac(SECRET, body)})


def test_registered_with_group_alias_and_scheme() -> None:
    assert registry()["sonarqube"] is SonarQubeSource
    assert config_keys()["sonarcloud"] is SonarQubeSource
    assert SonarQubeSource.group == "code_quality"
    assert "X-Sonar-Webhook-HMAC-SHA256" in SonarQubeSource.auth_scheme


def test_documented_example_config_validates() -> None:
    config = SourceConfig.model_validate(documented_config("sonarqube"))
    assert config.webhook_secret_env == "SONARQUBE_WEBHOOK_SECRET"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("sonarqube")


def test_http_contract_every_payload(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    for name, expected in CASES.items():
        body = read(name)
        project = json.loads(body)["project"]["key"]
        answer = contract.post(body, {"X-SonarQube-Project": project})
        wanted = {key: expected[key] for key in ("status", "severity", "title", "service", "grouping_key")}
        wanted["kind"] = "analysis"
        assert_fields(contract.events(answer), [wanted])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(contract, read_fixture(SHARED), read_fixture("snyk/project_snapshot.json"), "SonarQube")


# --- property tests --------------------------------------------------------------------------

HEADERS = st.dictionaries(
    st.sampled_from(["x-sonarqube-project", "content-type"]), st.sampled_from(["", "k", "application/json"]), max_size=2
)


def pool(fixtures_dir: Path) -> list[Any]:
    paths = [fixtures_dir / SHARED, *sorted(OWN.glob("*.json"))]
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
