"""CircleCI source: workflow and job verdicts, the versioned circleci-signature, and refusals.

Payloads of our own (tests/sources/payloads/circleci/, see SOURCES.md there) follow CircleCI's
outbound webhooks reference: https://circleci.com/docs/webhooks-reference/.
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
from liberation_guardian.sources.circleci import CircleCISource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, json_files, json_object, read_payload, summary
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "cci-s3cret"
OWN = PAYLOADS / "circleci"
GITHUB_WORKFLOW = "https://app.circleci.com/pipelines/github/circleci/webhook-service/130/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3"
GITLAB_PROJECT = "circleci/DdaVtNusHqi24D4YT3X4eu/6EkDPZoN4ZdMKKZtBkRodt"
OWN_PROJECT = "circleci/Kq3mW8xZpR2tN7vB4yH6jD/T9cF1gL5sX8aE3nU6wQ2rM"

# (fixture, circleci-event-type, expected event)
FIXTURES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "circleci/workflow-completed-failed-gitlab.json",
        "workflow-completed",
        {
            "kind": "workflow-completed",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "CircleCI workflow build failed on main (hello-world)",
            "message": "Update README.md",
            "service": "hello-world",
            "grouping_key": f"circleci:{GITLAB_PROJECT}/build@main",
            "links": [
                f"https://app.circleci.com/pipelines/{GITLAB_PROJECT}/1/workflows/c2006ece-778d-49fc-9e6e-b9965f72bee9",
                "https://gitlab.com/circleci/hello-world",
            ],
        },
    ),
    (
        "circleci/workflow-completed-success-github.json",
        "workflow-completed",
        {
            "kind": "workflow-completed",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CircleCI workflow build-test-deploy succeeded on main (webhook-service)",
            "message": "Description of change",
            "service": "webhook-service",
            "grouping_key": "circleci:github/circleci/webhook-service/build-test-deploy@main",
            "links": [GITHUB_WORKFLOW, "https://github.com/circleci/webhook-service"],
        },
    ),
    (
        "circleci/job-completed-success-github.json",
        "job-completed",
        {
            "kind": "job-completed",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CircleCI job test of workflow welcome succeeded on main (webhook-service)",
            "message": "Description of change",
            "service": "webhook-service",
            "grouping_key": "circleci:github/circleci/webhook-service/welcome/test@main",
            "links": [GITHUB_WORKFLOW, "https://github.com/circleci/webhook-service"],
        },
    ),
    (
        "own:job-completed-failed-gitlab.json",
        "job-completed",
        {
            "kind": "job-completed",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "CircleCI job unit-tests of workflow build-and-test failed on main (checkout-service)",
            "message": "Retry card authorisation on timeout",
            "service": "checkout-service",
            "grouping_key": f"circleci:{OWN_PROJECT}/build-and-test/unit-tests@main",
            "links": [
                f"https://app.circleci.com/pipelines/{OWN_PROJECT}/512/workflows/b8a79685-7463-4524-9a1b-0c9d8e7f6a5b",
                "https://gitlab.com/acme/checkout-service",
            ],
        },
    ),
    (
        "own:workflow-completed-canceled-tag.json",
        "workflow-completed",
        {
            "kind": "workflow-completed",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CircleCI workflow release was canceled for tag v4.2.0 (mobile-app)",
            "message": "Release 4.2.0",
            "service": "mobile-app",
            "grouping_key": "circleci:gh/acme/mobile-app/release@tag:v4.2.0:canceled",
            "links": [
                "https://app.circleci.com/pipelines/github/acme/mobile-app/880/workflows/2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b",
                "https://github.com/acme/mobile-app",
            ],
        },
    ),
]
IDS = [case[0] for case in FIXTURES]


def source(secret: str | None = None) -> CircleCISource:
    return CircleCISource(SourceConfig(), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


@pytest.mark.parametrize(("path", "event_type", "expected"), FIXTURES, ids=IDS)
def test_fixture_normalizes(
    read_fixture: Callable[[str], bytes], path: str, event_type: str, expected: dict[str, Any]
) -> None:
    body = read(read_fixture, path)
    [event] = source().parse({"circleci-event-type": event_type}, body)
    assert summary(event) == expected
    assert event.source == "circleci" and event.environment is None and event.occurred_at is not None
    # The body's `type` names the event as well as the header does.
    assert [summary(e) for e in source().parse({}, body)] == [expected]


def test_labels_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own:job-completed-failed-gitlab.json"))
    assert event.labels == {
        "project": OWN_PROJECT,
        "workflow": "build-and-test",
        "job": "unit-tests",
        "branch": "main",
        "status": "failed",
        "pipeline_number": "512",
        "revision": "8d4e2a1f9c7b5e3d1a0f8e6c4b2a9d7e5c3b1a0f",
    }
    assert event.extra == {
        "event_id": "5d0c1b2a-3948-4576-a5b4-c3d2e1f0a9b8",
        "organization": "acme",
        "trigger": "gitlab",
        "job_number": "2047",
    }
    assert event.occurred_at is not None and (event.occurred_at.minute, event.occurred_at.second) == (21, 9)


def with_status(read_fixture: Callable[[str], bytes], status: str | None) -> bytes:
    payload = load(read_fixture, "circleci/workflow-completed-failed-gitlab.json")
    payload["workflow"]["status"] = status
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("status", "severity", "event_status", "suffix", "word"),
    [
        ("failed", Severity.high, Status.firing, "", "failed"),
        ("error", Severity.high, Status.firing, "", "errored"),
        ("failing", Severity.high, Status.firing, "", "is failing"),
        ("unauthorized", Severity.medium, Status.firing, "", "was not authorized to run"),
        ("success", Severity.info, Status.resolved, "", "succeeded"),
        ("SUCCESS", Severity.info, Status.resolved, "", "succeeded"),
        ("canceled", Severity.info, Status.resolved, ":canceled", "was canceled"),
        ("on_hold", Severity.info, Status.resolved, ":on_hold", "is on hold"),
        ("not_run", Severity.info, Status.resolved, ":not_run", "not_run"),
        (None, Severity.info, Status.resolved, ":unknown", "finished"),
    ],
)
def test_status_maps(
    read_fixture: Callable[[str], bytes],
    status: str | None,
    severity: Severity,
    event_status: Status,
    suffix: str,
    word: str,
) -> None:
    [event] = source().parse({}, with_status(read_fixture, status))
    assert (event.severity, event.status) == (severity, event_status)
    assert event.grouping_key == f"circleci:{GITLAB_PROJECT}/build@main{suffix}"
    assert event.title == f"CircleCI workflow build {word} on main (hello-world)"


def test_success_resolves_the_failure_and_a_cancel_does_not(read_fixture: Callable[[str], bytes]) -> None:
    [failed] = source().parse({}, with_status(read_fixture, "failed"))
    [fixed] = source().parse({}, with_status(read_fixture, "success"))
    [canceled] = source().parse({}, with_status(read_fixture, "canceled"))
    assert failed.grouping_key == fixed.grouping_key != canceled.grouping_key
    assert (failed.status, fixed.status) == (Status.firing, Status.resolved)


def test_branch_from_trigger_parameters_git_when_there_is_no_gitlab_map(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "circleci/workflow-completed-failed-gitlab.json")
    del payload["pipeline"]["trigger_parameters"]["gitlab"]
    payload["pipeline"]["trigger_parameters"]["git"]["branch"] = "release/2.x"
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.grouping_key == f"circleci:{GITLAB_PROJECT}/build@release/2.x"


def test_no_branch_or_tag_leaves_the_key_without_a_ref(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "circleci/workflow-completed-success-github.json")
    del payload["pipeline"]["vcs"]["branch"]
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.grouping_key == "circleci:github/circleci/webhook-service/build-test-deploy"
    assert event.title == "CircleCI workflow build-test-deploy succeeded (webhook-service)"


def test_ping_gives_no_events() -> None:
    ping = json.dumps({"type": "ping", "id": "x", "webhook": {"id": "y", "name": "z"}}).encode()
    assert source().parse({}, ping) == []
    assert source().parse({"circleci-event-type": "ping"}, b"{}") == []


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, b'{"project": {"slug": "gh/a/b"}}', "no circleci-event-type header and no `type`"),
        ({"circleci-event-type": "pipeline-started"}, b"{}", "unsupported CircleCI event type 'pipeline-started'"),
        ({}, b'{"type": "workflow-completed", "project": {"slug": "gh/a/b"}}', "no `workflow` object"),
        ({}, b'{"type": "job-completed", "workflow": {"name": "w"}}', "no `job` object"),
        ({}, b'{"type": "workflow-completed", "workflow": {"name": "w", "status": "failed"}}', "names no project"),
    ],
)
def test_payload_without_what_identifies_it_is_invalid(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse(headers, body)


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "bitbucket/repo-push.json", "github/push.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid):
        source().parse({}, read_fixture(other))
    with pytest.raises(PayloadInvalid, match="no `workflow` object"):
        source().parse({"circleci-event-type": "workflow-completed"}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("circleci/job-completed-success-github.json")[:-4])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"type": "workflow-completed"}]')


@pytest.mark.parametrize(("path", "event_type", "expected"), FIXTURES, ids=IDS)
def test_any_field_removed_still_parses_or_is_invalid(
    read_fixture: Callable[[str], bytes], path: str, event_type: str, expected: dict[str, Any]
) -> None:
    payload = load(read_fixture, path)
    nested = tuple(name for name in ("workflow", "job", "project", "pipeline") if name in payload)
    for headers in ({"circleci-event-type": event_type}, {}):
        for removed, body in without_each_key(payload, nested=nested):
            try:
                [event] = source().parse(headers, body)
            except PayloadInvalid:
                assert removed in ("type", "workflow", "job", "project") or removed.startswith("project."), removed
                continue
            assert event.title.startswith("CircleCI "), removed


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("circleci/workflow-completed-failed-gitlab.json")
    good = hex_hmac(SECRET, body)
    for header in (f"v1={good}", f"v1={good.upper()}", f"v1=deadbeef,v1={good}", f"v2=future, v1={good}"):
        source(SECRET).verify({"circleci-signature": header}, body)


def test_documented_example_signatures() -> None:
    # The examples of CircleCI's "Validate outbound webhooks" section.
    source("secret").verify(
        {"circleci-signature": "v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"}, b"hello world"
    )
    source("hunter123").verify(
        {"circleci-signature": "v1=9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa"},
        b"an-important-request-payload",
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing signature header circleci-signature"),
        ("", "missing signature header circleci-signature"),
        ("v1=" + "0" * 64, "no signature in circleci-signature matches"),
        ("v2=" + "0" * 64, "has no v1 signature"),
        ("sha256=" + "0" * 64, "has no v1 signature"),
        ("garbage", "has no v1 signature"),
    ],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], header: str | None, reason: str) -> None:
    headers = {} if header is None else {"circleci-signature": header}
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, read_fixture("circleci/workflow-completed-failed-gitlab.json"))


def test_a_v2_entry_that_matches_is_not_enough(read_fixture: Callable[[str], bytes]) -> None:
    # Only v1 is defined; an unknown version must not stand in for it.
    body = read_fixture("circleci/job-completed-success-github.json")
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"circleci-signature": f"v1=00,v2={hex_hmac(SECRET, body)}"}, body)


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("circleci/job-completed-success-github.json")
    resigned = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"circleci-signature": "v1=" + hex_hmac(SECRET, resigned)}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("circleci/job-completed-success-github.json")
    assert_sign_round_trip(source(SECRET), source(), body, {"circleci-signature": "v1=" + hex_hmac(SECRET, body)})


def test_registered_in_ci_cd() -> None:
    assert registry()["circleci"] is CircleCISource
    assert CircleCISource.group == "ci_cd"
    assert "circleci-signature" in CircleCISource.auth_scheme


def test_documented_example_config_validates() -> None:
    assert SourceConfig.model_validate(documented_config("circleci")).webhook_secret_env == "CIRCLECI_WEBHOOK_SECRET"


# The HTTP contract: every payload through the real server, signed as CircleCI signs.


contract = contract_fixture("circleci")


@pytest.mark.parametrize(("path", "event_type", "expected"), FIXTURES, ids=IDS)
def test_http_contract(
    contract: ContractServer,
    read_fixture: Callable[[str], bytes],
    path: str,
    event_type: str,
    expected: dict[str, Any],
) -> None:
    headers = {"circleci-event-type": event_type, "User-Agent": "CircleCI-Webhook/1.0"}
    [event] = contract.events(contract.post(read(read_fixture, path), headers))
    assert_fields([event], [{k: v for k, v in expected.items() if k != "links"}])
    assert [link["url"] for link in event["links"]] == expected["links"]


def test_http_contract_ping_and_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert contract.events(contract.post(b'{"type": "ping"}', {"circleci-event-type": "ping"})) == []
    assert_refusals(
        contract,
        read_fixture("circleci/workflow-completed-failed-gitlab.json"),
        read_fixture("sentry/issue-created.json"),
        "workflow",
        {"circleci-event-type": "workflow-completed"},
    )


# Property tests: any body gives events or a SourceError, never anything else.

TYPES = st.sampled_from(["workflow-completed", "job-completed", "ping", "", "other"])


@FUZZ
@given(value=json_values | shaped_values, event_type=TYPES)
def test_random_json_never_escapes(value: Any, event_type: str) -> None:
    check(source(), {"circleci-event-type": event_type} if event_type else {}, encode(value))


@FUZZ
@given(data=st.data(), event_type=TYPES)
def test_mutated_fixtures_never_escape(fixtures_dir: Path, data: st.DataObject, event_type: str) -> None:
    document = data.draw(st.sampled_from(json_files(fixtures_dir / "circleci", OWN)))
    check(source(), {"circleci-event-type": event_type} if event_type else {}, encode(mutate(data, document)))
