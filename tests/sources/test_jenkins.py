"""Jenkins source: Notification plugin payloads, build verdicts, Basic/Bearer/token auth and refusals.

There is no shared Jenkins fixture; the payloads in tests/sources/payloads/jenkins/ follow the
Notification plugin's JSON format (its JobState, BuildState and ScmState classes, serialized
with lower_case_with_underscores names): https://plugins.jenkins.io/notification/ and
https://github.com/jenkinsci/notification-plugin. See SOURCES.md there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.jenkins import JenkinsConfig, JenkinsSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_object, summary
from tests.sources.conftest import documented_config, without_each_key

SECRET = "jk-s3cret"
OWN = PAYLOADS / "jenkins"
BUILD_418 = "https://jenkins.example.com/job/payments/job/checkout-service/418/"
BUILD_419 = "https://jenkins.example.com/job/payments/job/checkout-service/419/"
NIGHTLY = "http://ci.internal:8080/job/nightly-reports/77/"

FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        "finalized-failure.json",
        {
            "kind": "build.finalized",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "Jenkins payments/checkout-service #418 failed on main",
            "service": "payments/checkout-service",
            "environment": "staging",
            "grouping_key": "jenkins:payments/checkout-service@main",
            "links": [BUILD_418, BUILD_418 + "console"],
        },
    ),
    (
        "finalized-success.json",
        {
            "kind": "build.finalized",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Jenkins payments/checkout-service #419 succeeded on main",
            "service": "payments/checkout-service",
            "environment": "staging",
            "grouping_key": "jenkins:payments/checkout-service@main",
            "links": [BUILD_419, BUILD_419 + "console"],
        },
    ),
    (
        "completed-unstable.json",
        {
            "kind": "build.completed",
            "status": Status.firing,
            "severity": Severity.medium,
            "title": "Jenkins nightly-reports #77 is unstable",
            "service": "nightly-reports",
            "environment": None,
            "grouping_key": "jenkins:nightly-reports",
            "links": [NIGHTLY, NIGHTLY + "console"],
        },
    ),
    (
        "started.json",
        {
            "kind": "build.started",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Jenkins nightly-reports #77 started",
            "service": "nightly-reports",
            "environment": None,
            "grouping_key": "jenkins:nightly-reports:started",
            "links": [NIGHTLY, NIGHTLY + "console"],
        },
    ),
]
IDS = [case[0] for case in FIXTURES]
# The message (a failure summary) is checked on its own below; the environment comes from build parameters.
SUMMARY_FIELDS = ("kind", "status", "severity", "title", "service", "environment", "grouping_key", "links")


def source(secret: str | None = None, **config: Any) -> JenkinsSource:
    return JenkinsSource(JenkinsConfig(**config), {"webhook_secret": secret} if secret else {})


def load(name: str) -> dict[str, Any]:
    return json_object((OWN / name).read_bytes())


def parse_one(payload: dict[str, Any]) -> NormalizedEvent:
    [event] = source().parse({}, json.dumps(payload).encode())
    return event


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=IDS)
def test_fixture_normalizes(name: str, expected: dict[str, Any]) -> None:
    [event] = source().parse({}, (OWN / name).read_bytes())
    assert summary(event, SUMMARY_FIELDS) == expected
    assert event.source == "jenkins" and event.occurred_at is not None and event.stack_frames == []


def test_failure_message_labels_and_extra() -> None:
    event = parse_one(load("finalized-failure.json"))
    assert event.message.splitlines()[0] == (
        "Failed tests: com.example.checkout.CardGatewayTest.retriesOnTimeout, "
        "com.example.checkout.CardGatewayTest.givesUpAfterThreeAttempts"
    )
    assert event.message.endswith("[ERROR] BUILD FAILURE\nFinished: FAILURE")
    assert event.labels == {
        "job": "payments/checkout-service",
        "branch": "main",
        "build_number": "418",
        "phase": "FINALIZED",
        "status": "FAILURE",
        "commit": "8d4e2a1f9c7b5e3d1a0f8e6c4b2a9d7e5c3b1a0f",
    }
    assert event.extra["tests"] == {"total": 318, "failed": 2, "skipped": 4, "passed": 312}
    assert event.extra["culprits"] == ["priya"]
    assert event.occurred_at is not None and (event.occurred_at.hour, event.occurred_at.minute) == (10, 2)


def test_notes_come_first_and_a_long_log_is_cut_to_its_tail() -> None:
    payload = load("finalized-failure.json")
    payload["build"]["notes"] = "Deploy gate failed"
    payload["build"]["log"] = "".join(f"line {n}\n" for n in range(500))
    payload["build"]["test_summary"]["failed_tests"] = [f"t{n}" for n in range(14)]
    lines = parse_one(payload).message.splitlines()
    assert lines[0] == "Deploy gate failed"
    assert lines[2] == "Failed tests: t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 and 4 more"
    assert lines[-1] == "line 499" and "line 469" not in lines and "line 470" in lines


def test_success_resolves_the_failure_of_the_same_job_and_branch() -> None:
    failed, fixed = parse_one(load("finalized-failure.json")), parse_one(load("finalized-success.json"))
    assert failed.grouping_key == fixed.grouping_key
    assert (failed.status, fixed.status) == (Status.firing, Status.resolved)


@pytest.mark.parametrize(
    ("phase", "status", "severity", "event_status", "suffix", "word"),
    [
        ("FINALIZED", "FAILURE", Severity.high, Status.firing, "", "failed"),
        ("COMPLETED", "FAILURE", Severity.high, Status.firing, "", "failed"),
        ("FINALIZED", "UNSTABLE", Severity.medium, Status.firing, "", "is unstable"),
        ("FINALIZED", "SUCCESS", Severity.info, Status.resolved, "", "succeeded"),
        ("FINALIZED", "success", Severity.info, Status.resolved, "", "succeeded"),
        ("FINALIZED", "ABORTED", Severity.info, Status.resolved, ":aborted", "was aborted"),
        ("FINALIZED", "NOT_BUILT", Severity.info, Status.resolved, ":not_built", "was not built"),
        ("QUEUED", None, Severity.info, Status.resolved, ":queued", "is queued"),
        ("STARTED", None, Severity.info, Status.resolved, ":started", "started"),
        (None, None, Severity.info, Status.resolved, ":unknown", "unknown"),
    ],
)
def test_phase_and_status_map(
    phase: str | None,
    status: str | None,
    severity: Severity,
    event_status: Status,
    suffix: str,
    word: str,
) -> None:
    payload = load("finalized-failure.json")
    payload["build"]["phase"], payload["build"]["status"] = phase, status
    event = parse_one(payload)
    assert (event.severity, event.status) == (severity, event_status)
    assert event.grouping_key == f"jenkins:payments/checkout-service@main{suffix}"
    assert event.title == f"Jenkins payments/checkout-service #418 {word} on main"
    assert event.kind == (f"build.{phase.lower()}" if phase else "build")


@pytest.mark.parametrize(
    ("url", "name", "job"),
    [
        ("job/app/", "app", "app"),
        ("job/team/job/app/job/main/", "main", "team/app/main"),
        ("job/app", "app", "app"),
        (None, "app", "app"),
        ("view/all/job/app/", "app", "app"),
        (None, None, "Display"),
    ],
)
def test_job_is_the_full_path_of_its_url(url: str | None, name: str | None, job: str) -> None:
    payload = load("started.json")
    payload["url"], payload["name"], payload["display_name"] = url, name, "Display"
    assert parse_one(payload).labels["job"] == job


@pytest.mark.parametrize(
    ("scm_branch", "parameters", "branch"),
    [
        ("origin/main", {}, "main"),
        ("refs/heads/release/2.x", {}, "release/2.x"),
        ("feature/x", {}, "feature/x"),
        (None, {"BRANCH_NAME": "develop"}, "develop"),
        (None, {"BRANCH": "hotfix"}, "hotfix"),
        (None, {}, None),
    ],
)
def test_branch_from_scm_or_parameters(scm_branch: str | None, parameters: dict[str, str], branch: str | None) -> None:
    payload = load("finalized-failure.json")
    payload["build"]["scm"]["branch"] = scm_branch
    payload["build"]["parameters"] = parameters
    event = parse_one(payload)
    assert event.labels.get("branch") == branch
    assert event.grouping_key == "jenkins:payments/checkout-service" + (f"@{branch}" if branch else "")


def test_timestamp_as_epoch_milliseconds() -> None:
    payload = load("started.json")
    payload["build"]["timestamp"] = 1710208800400
    event = parse_one(payload)
    assert event.occurred_at is not None and event.occurred_at.year == 2024


def test_non_http_build_url_gives_no_link() -> None:
    payload = load("started.json")
    payload["build"]["full_url"] = "javascript:alert(1)"
    assert parse_one(payload).links == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": "app"}', "no `build` object"),
        (b'{"name": "app", "build": "x"}', "no `build` object"),
        (b'{"build": {"phase": "STARTED"}}', "names no job"),
    ],
)
def test_payload_without_what_identifies_it_is_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


@pytest.mark.parametrize(
    "other",
    [
        "sentry/issue-created.json",
        "circleci/workflow-completed-failed-gitlab.json",
        "github/workflow_run-completed.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Any, other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Jenkins Notification plugin payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed() -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, (OWN / "finalized-failure.json").read_bytes()[:200])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"build": {}}]')


@pytest.mark.parametrize("name", IDS)
def test_any_field_removed_still_parses_or_is_invalid(name: str) -> None:
    for removed, body in without_each_key(load(name), nested=("build", "build.scm")):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "build", removed
            continue
        assert event.title.startswith("Jenkins "), removed


def basic(password: str, user: str = "jenkins") -> str:
    return basic_auth(user, password)


@pytest.mark.parametrize(
    "headers",
    [{"authorization": basic(SECRET)}, {"authorization": f"Bearer {SECRET}"}, {"x-guardian-token": SECRET}],
    ids=["basic", "bearer", "token-header"],
)
def test_secret_in_any_offered_place_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


def test_token_header_name_is_configurable() -> None:
    source(SECRET, token_header="X-Jenkins-Token").verify({"x-jenkins-token": SECRET}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": basic("wrong")}, {"authorization": "Bearer wrong"}, {"x-guardian-token": "wrong"}],
    ids=["missing", "wrong-basic", "wrong-bearer", "wrong-token"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization|X-Guardian-Token"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(source(SECRET), source(), b"{}", {"Authorization": basic(SECRET)})


def test_registered_in_ci_cd() -> None:
    assert registry()["jenkins"] is JenkinsSource
    assert JenkinsSource.group == "ci_cd"


def test_documented_example_config_validates() -> None:
    assert JenkinsConfig.model_validate(documented_config("jenkins")).webhook_secret_env == "JENKINS_WEBHOOK_SECRET"


# The HTTP contract: every payload through the real server, with the Basic credentials the plugin sends.


contract = contract_fixture("jenkins")


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=IDS)
def test_http_contract(contract: ContractServer, name: str, expected: dict[str, Any]) -> None:
    # The plugin posts with this content type (Protocol.HTTP), and Basic credentials from the URL.
    answer = contract.post((OWN / name).read_bytes(), {"Content-Type": "application/json;charset=UTF-8"})
    [event] = contract.events(answer)
    # An event that names no environment is stored with core.environment (production by default).
    stored = {**expected, "environment": expected["environment"] or "production"}
    assert_fields([event], [{k: v for k, v in stored.items() if k != "links"}])
    assert [link["url"] for link in event["links"]] == expected["links"]


def test_http_contract_refusals(contract: ContractServer, read_fixture: Any) -> None:
    assert_refusals(
        contract, (OWN / "finalized-failure.json").read_bytes(), read_fixture("sentry/issue-created.json"), "build"
    )


# Property tests: any body gives events or a SourceError, never anything else.


@FUZZ
@given(value=json_values | shaped_values, build=json_values | shaped_values, name=json_values)
def test_random_json_never_escapes(value: Any, build: Any, name: Any) -> None:
    check(source(), {}, encode(value))
    check(source(), {}, encode({"name": name, "url": name, "build": build}))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_never_escape(data: st.DataObject) -> None:
    document = load(data.draw(st.sampled_from(IDS)))
    check(source(), {}, encode(mutate(data, document)))
