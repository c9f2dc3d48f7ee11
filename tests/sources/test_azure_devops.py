"""Azure DevOps source: builds, pipeline runs, pushes and pull requests, Basic/Bearer/token auth and refusals.

Payloads of our own (tests/sources/payloads/azure_devops/, see SOURCES.md there) follow the
sample payloads of Microsoft's "Service hooks events" reference.
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
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.azure_devops import AzureDevOpsConfig, AzureDevOpsSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, assert_stored, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import (
    PAYLOADS,
    assert_sign_round_trip,
    basic_auth,
    json_files,
    json_object,
    read_payload,
    summary,
)
from tests.sources.conftest import documented_config, without_each_key

SECRET = "ado-s3cret"
OWN = PAYLOADS / "azure_devops"
PROJECT = "5f2c8e1a-9b3d-4a7e-8c6f-1e2d3c4b5a69"
WEB = f"https://dev.azure.com/contoso/{PROJECT}"

FIXTURES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "azure-devops/build-complete.json",
        [
            {
                "kind": "build.complete",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Build ConsumerAddressModule succeeded on master",
                "message": "Build ConsumerAddressModule_20150407.2 succeeded",
                "service": "ConsumerAddressModule",
                "grouping_key": "azure_devops:be9b3917-87e6-42a4-a549-2bc06a7a878f/ConsumerAddressModule@master",
                "links": [
                    "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/"
                    "71777fbc-1cf2-4bd1-9540-128c1c71f766/_apis/build-release/Builds/2"
                ],
            }
        ],
    ),
    (
        "own:build-complete-failed.json",
        [
            {
                "kind": "build.complete",
                "status": Status.firing,
                "severity": Severity.high,
                "title": "Build checkout-service CI failed on main",
                "message": "Build 20240311.4 failed\r\n\r\n- Compile: 2 error(s)\r\n",
                "service": "checkout-service CI",
                "grouping_key": f"azure_devops:{PROJECT}/checkout-service CI@main",
                "links": [f"{WEB}/_build/results?buildId=9137", f"{WEB}/_apis/build/Builds/9137"],
            }
        ],
    ),
    (
        "own:run-state-changed-failed.json",
        [
            {
                "kind": "ms.vss-pipelines.run-state-changed-event",
                "status": Status.firing,
                "severity": Severity.high,
                "title": "Pipeline checkout-service CI failed on main",
                "message": "Run 20240311.4 failed.",
                "service": "checkout-service CI",
                # The same key as the failed build of this pipeline: one incident, whichever event is subscribed.
                "grouping_key": f"azure_devops:{PROJECT}/checkout-service CI@main",
                "links": [
                    f"{WEB}/_build/results?buildId=9137",
                    f"{WEB}/_build/definition?definitionId=27",
                    f"{WEB}/_apis/Pipelines/27/runs/9137",
                ],
            }
        ],
    ),
    (
        "own:stage-state-changed-running.json",
        [
            {
                "kind": "ms.vss-pipelines.stage-state-changed-event",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Pipeline checkout-service CI stage Deploy is in progress",
                "message": "Run 20240311.5 stage Deploy started.",
                "service": "checkout-service CI",
                "grouping_key": f"azure_devops:{PROJECT}/checkout-service CI/Deploy:inprogress",
                "links": [f"{WEB}/_build/results?buildId=9141"],
            }
        ],
    ),
    (
        "azure-devops/git-push.json",
        [
            {
                "kind": "git.push",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Branch main updated in Fabrikam-Fiber-Git/Fabrikam-Fiber-Git",
                "message": "Fixed bug in web.config file",
                "service": "Fabrikam-Fiber-Git",
                "grouping_key": "azure_devops:Fabrikam-Fiber-Git/Fabrikam-Fiber-Git:push:main",
                "links": [
                    "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git",
                    "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git/commit/"
                    "33b55f7cb7e7e245323987634f960cf4a6e6bc74",
                ],
            }
        ],
    ),
    (
        "own:git-pullrequest-created.json",
        [
            {
                "kind": "git.pullrequest.created",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Pull request #311 created in checkout/checkout-service: Retry card authorisation on timeout",
                "message": "feature/auth-retry → main",
                "service": "checkout-service",
                "grouping_key": "azure_devops:checkout/checkout-service:pr:311",
                "links": [
                    "https://dev.azure.com/contoso/checkout/_git/checkout-service/pullrequest/311",
                    "https://dev.azure.com/contoso/_apis/git/repositories/b7c8d9e0-f1a2-4b3c-9d4e-5f6a7b8c9d0e"
                    "/pullRequests/311",
                    "https://dev.azure.com/contoso/checkout/_git/checkout-service",
                ],
            }
        ],
    ),
]
IDS = [case[0] for case in FIXTURES]


def source(secret: str | None = None, **config: Any) -> AzureDevOpsSource:
    return AzureDevOpsSource(AzureDevOpsConfig(**config), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=IDS)
def test_fixture_normalizes(read_fixture: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]) -> None:
    events = source().parse({}, read(read_fixture, path))
    assert [summary(event) for event in events] == expected
    for event in events:
        assert event.source == "azure_devops" and event.environment is None and event.occurred_at is not None


def test_build_labels_and_commit(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own:build-complete-failed.json"))
    assert event.labels == {
        "project": PROJECT,
        "definition": "checkout-service CI",
        "branch": "main",
        "build_number": "20240311.4",
        "result": "failed",
        "reason": "individualCI",
        "requested_for": "Priya Raman",
    }
    assert event.extra == {"build_id": "9137", "commit": "8d4e2a1f9c7b5e3d1a0f8e6c4b2a9d7e5c3b1a0f"}
    [old] = source().parse({}, read(read_fixture, "azure-devops/build-complete.json"))
    # Resource version 1.0 has no sourceBranch: branch and commit come from sourceGetVersion.
    assert (old.labels["branch"], old.extra["commit"]) == ("master", "600c52d2d5b655caa111abfd863e5a9bd304bb0e")


def with_result(read_fixture: Callable[[str], bytes], result: str | None) -> bytes:
    payload = load(read_fixture, "own:build-complete-failed.json")
    payload["resource"]["result"] = result
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("result", "severity", "status", "suffix"),
    [
        ("failed", Severity.high, Status.firing, ""),
        ("partiallySucceeded", Severity.medium, Status.firing, ""),
        ("succeeded", Severity.info, Status.resolved, ""),
        ("Failed", Severity.high, Status.firing, ""),
        ("canceled", Severity.info, Status.resolved, ":canceled"),
        ("stopped", Severity.info, Status.resolved, ":stopped"),
    ],
)
def test_build_result_maps(
    read_fixture: Callable[[str], bytes], result: str, severity: Severity, status: Status, suffix: str
) -> None:
    [event] = source().parse({}, with_result(read_fixture, result))
    assert (event.severity, event.status) == (severity, status)
    assert event.grouping_key == f"azure_devops:{PROJECT}/checkout-service CI@main{suffix}"


def test_success_resolves_the_failure(read_fixture: Callable[[str], bytes]) -> None:
    [failed] = source().parse({}, with_result(read_fixture, "failed"))
    [fixed] = source().parse({}, with_result(read_fixture, "succeeded"))
    assert failed.grouping_key == fixed.grouping_key
    assert (failed.status, fixed.status) == (Status.firing, Status.resolved)
    assert fixed.title == "Build checkout-service CI succeeded on main"


def run_event(read_fixture: Callable[[str], bytes], state: str, result: str | None) -> NormalizedEvent:
    payload = load(read_fixture, "own:run-state-changed-failed.json")
    payload["resource"]["run"].update(state=state, result=result)
    [event] = source().parse({}, json.dumps(payload).encode())
    return event


@pytest.mark.parametrize(
    ("state", "result", "severity", "status", "title"),
    [
        ("completed", "failed", Severity.high, Status.firing, "Pipeline checkout-service CI failed on main"),
        ("completed", "succeeded", Severity.info, Status.resolved, "Pipeline checkout-service CI succeeded on main"),
        ("completed", "canceled", Severity.info, Status.resolved, "Pipeline checkout-service CI was canceled on main"),
        ("inProgress", None, Severity.info, Status.resolved, "Pipeline checkout-service CI is in progress on main"),
        ("canceling", None, Severity.info, Status.resolved, "Pipeline checkout-service CI is canceling on main"),
    ],
)
def test_run_state_maps(
    read_fixture: Callable[[str], bytes],
    state: str,
    result: str | None,
    severity: Severity,
    status: Status,
    title: str,
) -> None:
    event = run_event(read_fixture, state, result)
    assert (event.severity, event.status, event.title) == (severity, status, title)


def test_a_started_run_leaves_the_failure_open(read_fixture: Callable[[str], bytes]) -> None:
    failed = run_event(read_fixture, "completed", "failed")
    started = run_event(read_fixture, "inProgress", None)
    assert started.grouping_key == f"{failed.grouping_key}:inprogress"


def test_job_state_changed_keys_by_stage_and_job(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "own:stage-state-changed-running.json")
    payload["eventType"] = "ms.vss-pipelines.job-state-changed-event"
    payload["resource"]["stage"]["name"] = "Build"
    payload["resource"]["job"] = {"name": "Compile", "state": "completed", "result": "failed"}
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.title == "Pipeline checkout-service CI stage Build job Compile failed"
    assert event.grouping_key == f"azure_devops:{PROJECT}/checkout-service CI/Build/Compile"
    assert (event.severity, event.labels["stage"], event.labels["job"]) == (Severity.high, "Build", "Compile")


def test_push_of_several_refs_gives_one_event_each(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "azure-devops/git-push.json")
    zero = "0" * 40
    payload["resource"]["refUpdates"] += [
        {"name": "refs/tags/v2.0", "oldObjectId": zero, "newObjectId": "33b55f7c"},
        {"name": "refs/heads/old-topic", "oldObjectId": "aad331d8", "newObjectId": zero},
    ]
    events = source().parse({}, json.dumps(payload).encode())
    assert [event.title for event in events] == [
        "Branch main updated in Fabrikam-Fiber-Git/Fabrikam-Fiber-Git",
        "Tag v2.0 created in Fabrikam-Fiber-Git/Fabrikam-Fiber-Git",
        "Branch old-topic deleted in Fabrikam-Fiber-Git/Fabrikam-Fiber-Git",
    ]


def test_pull_request_merged_keeps_the_pull_requests_key(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "own:git-pullrequest-created.json")
    payload["eventType"] = "git.pullrequest.merged"
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.title.startswith("Pull request #311 merged in checkout/checkout-service")
    assert event.grouping_key == "azure_devops:checkout/checkout-service:pr:311"


def test_other_event_types_are_records_of_their_message(read_fixture: Callable[[str], bytes]) -> None:
    payload = {
        "eventType": "workitem.created",
        "message": {"text": "Bug #5 (Some great new idea!) created by Jamal Hartnett"},
        "resource": {"id": 5, "url": "https://dev.azure.com/fabrikam/_apis/wit/workItems/5"},
        "createdDate": "2024-03-11T10:00:00Z",
    }
    [event] = source().parse({}, json.dumps(payload).encode())
    assert (event.kind, event.title, event.severity, event.status) == (
        "workitem.created",
        "Bug #5 (Some great new idea!) created by Jamal Hartnett",
        Severity.info,
        Status.resolved,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"resource": {}}', "no `eventType`"),
        (b'{"eventType": "build.complete"}', "no `resource` object"),
        (b'{"eventType": "build.complete", "resource": {"result": "failed"}}', "resource.definition"),
        (b'{"eventType": "ms.vss-pipelines.run-state-changed-event", "resource": {}}', "resource.pipeline"),
        (
            b'{"eventType": "ms.vss-pipelines.stage-state-changed-event", "resource": {"pipeline": {"name": "p"}}}',
            "resource.stage",
        ),
        (b'{"eventType": "git.push", "resource": {"refUpdates": []}}', "resource.repository"),
        (b'{"eventType": "git.pullrequest.created", "resource": {}}', "resource.repository"),
    ],
)
def test_payload_without_what_identifies_it_is_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "bitbucket/repo-push.json", "github/push.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not an Azure DevOps service hook payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("azure-devops/build-complete.json")[:100])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"eventType": "git.push"}]')


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=IDS)
def test_any_field_removed_still_parses_or_is_invalid(
    read_fixture: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    payload = load(read_fixture, path)
    for removed, body in without_each_key(payload, nested=("resource",)):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("eventType", "resource") or removed.startswith("resource."), removed
            continue
        assert len(events) == len(expected) and all(event.title for event in events), removed


def basic(password: str, user: str = "azure-devops") -> str:
    return basic_auth(user, password)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": basic(SECRET)},
        {"authorization": basic(SECRET, user="")},
        {"authorization": f"Bearer {SECRET}"},
        {"x-guardian-token": SECRET},
    ],
    ids=["basic", "basic-no-user", "bearer", "token-header"],
)
def test_secret_in_any_offered_place_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


def test_token_header_name_is_configurable() -> None:
    custom = source(SECRET, token_header="X-Hook-Key")
    custom.verify({"x-hook-key": SECRET}, b"{}")
    with pytest.raises(Unauthorized, match="X-Hook-Key"):
        custom.verify({"x-guardian-token": SECRET}, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Guardian-Token header"),
        ({"authorization": basic("wrong")}, "Authorization"),
        ({"authorization": "Bearer wrong"}, "Authorization"),
        ({"authorization": f"Token {SECRET}"}, "Authorization"),
        ({"x-guardian-token": "wrong"}, "X-Guardian-Token"),
        ({"x-guardian-token": ""}, "X-Guardian-Token"),
    ],
    ids=["missing", "wrong-basic", "wrong-bearer", "wrong-scheme", "wrong-token", "empty-token"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(source(SECRET), source(), b"{}", {"Authorization": basic(SECRET)})


def test_registered_under_name_and_alias() -> None:
    assert registry()["azure_devops"] is AzureDevOpsSource
    assert config_keys()["azure-devops"] is AzureDevOpsSource
    assert AzureDevOpsSource.group == "source_control"


def test_config_forbids_unknown_keys_and_bad_header_names() -> None:
    assert AzureDevOpsConfig().token_header == "X-Guardian-Token"
    with pytest.raises(ValidationError):
        AzureDevOpsConfig.model_validate({"token_headers": "X"})
    with pytest.raises(ValidationError):
        AzureDevOpsConfig.model_validate({"token_header": "X Token: 1"})


def test_documented_example_config_validates() -> None:
    config = AzureDevOpsConfig.model_validate(documented_config("azure_devops"))
    assert config.webhook_secret_env == "AZURE_DEVOPS_WEBHOOK_SECRET"


# The HTTP contract: every payload through the real server, with the Basic credentials Azure DevOps sends.


contract = contract_fixture("azure_devops")


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=IDS)
def test_http_contract(
    contract: ContractServer, read_fixture: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    answer = contract.post(read(read_fixture, path), {"Content-Type": "application/json; charset=utf-8"})
    assert_stored(contract.events(answer), expected)


def test_http_contract_token_header(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("azure-devops/git-push.json")
    answer = contract.post(body, {"X-Guardian-Token": contract.secret}, sign=False)
    assert_fields(contract.events(answer), [{"kind": "git.push", "severity": "info"}])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract,
        read_fixture("azure-devops/build-complete.json"),
        read_fixture("sentry/issue-created.json"),
        "eventType",
    )


# Property tests: any body gives events or a SourceError, never anything else.

EVENT_TYPES = st.sampled_from(
    ["build.complete", "git.push", "git.pullrequest.updated", "ms.vss-pipelines.run-state-changed-event",
     "ms.vss-pipelines.stage-state-changed-event", "ms.vss-pipelines.job-state-changed-event", "workitem.updated"]
)  # fmt: skip


@FUZZ
@given(value=json_values | shaped_values, event_type=EVENT_TYPES, resource=json_values | shaped_values)
def test_random_json_never_escapes(value: Any, event_type: str, resource: Any) -> None:
    check(source(), {}, encode(value))
    check(source(), {}, encode({"eventType": event_type, "resource": resource}))


@FUZZ
@given(data=st.data())
def test_mutated_fixtures_never_escape(fixtures_dir: Path, data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(json_files(fixtures_dir / "azure-devops", OWN)))
    check(source(), {}, encode(mutate(data, document)))
