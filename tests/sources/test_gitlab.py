"""GitLab source: every fixture normalized, failures and their recovery, token and signing auth, refusals, HTTP.

The shared fixtures (fixtures/gitlab/) hold successful deliveries only; the failed pipeline, job
and deployment in tests/sources/payloads/gitlab/ follow GitLab's documented hook payloads, see
tests/sources/payloads/gitlab/SOURCES.md and https://docs.gitlab.com/user/project/integrations/webhook_events/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.config import load_text
from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.gitlab import GitLabConfig, GitLabSource
from tests.sources._contract import (
    TOKEN,
    ContractServer,
    assert_fields,
    assert_refusals,
    contract_fixture,
    contract_server,
)
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, json_files, json_object
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
SIGNING = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OWN = PAYLOADS / "gitlab"
HOOKS = {
    "pipeline": "Pipeline Hook",
    "job": "Job Hook",
    "deployment": "Deployment Hook",
    "merge_request": "Merge Request Hook",
    "push": "Push Hook",
}

# (fixture, expected fields of its one event); own payloads are prefixed `own:`.
FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        "gitlab/pipeline-success.json",
        {
            "kind": "pipeline",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI pipeline passed on master in gitlab-org/gitlab-test",
            "service": "gitlab-org/gitlab-test",
            "environment": None,
            "grouping_key": "gitlab:gitlab-org/gitlab-test:pipeline:master",
            "links": [
                "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31",
                "http://example.com/gitlab-org/gitlab-test/commit/bcbb5ec396a2c0f828686f14fac9b80b780504f2",
                "http://192.168.64.1:3005/gitlab-org/gitlab-test/merge_requests/1",
                "http://192.168.64.1:3005/gitlab-org/gitlab-test",
            ],
            "labels": {"pipeline_id": "31", "merge_request": "1", "source": "merge_request_event"},
            "occurred_at": "2016-08-12T15:26:29+00:00",
        },
    ),
    (
        "gitlab/job-success.json",
        {
            "kind": "build",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI job auto_deploy:start (stage coordinated:tag) passed on main in jsmithy2/release-tools-fake",
            # No `project` object in this older payload: the repository homepage gives the path.
            "service": "jsmithy2/release-tools-fake",
            "environment": "production",
            "grouping_key": "gitlab:jsmithy2/release-tools-fake:job:auto_deploy:start:main",
            "links": [
                "https://gitlab.com/jsmithy2/release-tools-fake/-/jobs/3580121225",
                "https://gitlab.com/jsmithy2/release-tools-fake/-/pipelines/743121198",
                "https://gitlab.com/jsmithy2/release-tools-fake",
            ],
            "labels": {"job_id": "3580121225", "stage": "coordinated:tag", "allow_failure": "false"},
            "occurred_at": "2023-01-10T13:50:54+00:00",
        },
    ),
    (
        "gitlab/deployment-success.json",
        {
            "kind": "deployment",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI deployment to staging succeeded on 1.0.0 in root/test-deployment-webhooks",
            "service": "root/test-deployment-webhooks",
            "environment": "staging",
            "grouping_key": "gitlab:root/test-deployment-webhooks:deployment:staging",
            "links": [
                "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
                "https://staging.example.com",
                "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
                "http://10.126.0.2:3000/root/test-deployment-webhooks",
            ],
            "labels": {"deployment_id": "15", "commit": "279484c0"},
            "occurred_at": "2021-04-28T21:50:00+02:00",
        },
    ),
    (
        "gitlab/merge_request-opened.json",
        {
            "kind": "merge_request",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Merge request !1 open: MS-Viewport (gitlabhq/gitlab-test)",
            "service": "gitlabhq/gitlab-test",
            "environment": None,
            "grouping_key": "gitlab:gitlabhq/gitlab-test:merge_request:1",
            "links": ["http://example.com/diaspora/merge_requests/1", "http://example.com/gitlabhq/gitlab-test"],
            "labels": {"source_branch": "ms-viewport", "target_branch": "master", "state": "opened"},
            "occurred_at": "2013-12-03T17:23:34+00:00",
        },
    ),
    (
        "gitlab/push.json",
        {
            "kind": "push",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Push to master in mike/diaspora: 4 commits",
            "service": "mike/diaspora",
            "environment": None,
            "grouping_key": "gitlab:mike/diaspora:push:refs/heads/master",
            "links": [
                "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                "http://example.com/mike/diaspora",
            ],
            "labels": {"ref": "refs/heads/master", "user": "jsmith", "commits": "4"},
            "occurred_at": "2012-01-03T23:36:29+02:00",
        },
    ),
    (
        "own:pipeline-failed.json",
        {
            "kind": "pipeline",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "CI pipeline 'Nightly build' failed on main in shop/checkout",
            "service": "shop/checkout",
            "environment": None,
            "grouping_key": "gitlab:shop/checkout:pipeline:main",
            "links": [
                "https://gitlab.example.com/shop/checkout/-/pipelines/4102",
                "https://gitlab.example.com/shop/checkout/-/commit/6f1c2b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
                "https://gitlab.example.com/shop/checkout",
            ],
            # `lint` failed too, but it is allowed to fail.
            "labels": {"failed_jobs": "unit-tests (test)", "status": "failed"},
            "occurred_at": "2024-05-02T08:14:52+00:00",
        },
    ),
    (
        "own:job-failed.json",
        {
            "kind": "build",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "CI job unit-tests (stage test) failed on main in shop/checkout",
            "service": "shop/checkout",
            "environment": None,
            "grouping_key": "gitlab:shop/checkout:job:unit-tests:main",
            "links": [
                "https://gitlab.example.com/shop/checkout/-/jobs/9002",
                "https://gitlab.example.com/shop/checkout/-/pipelines/4102",
                "https://gitlab.example.com/shop/checkout",
            ],
            "labels": {"failure_reason": "script_failure", "pipeline_id": "4102"},
            "occurred_at": "2024-05-02T08:14:50+00:00",
        },
    ),
    (
        "own:deployment-failed.json",
        {
            "kind": "deployment",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "CI deployment to production failed on main in shop/checkout",
            "service": "shop/checkout",
            "environment": "production",
            "grouping_key": "gitlab:shop/checkout:deployment:production",
            "links": [
                "https://gitlab.example.com/shop/checkout/-/jobs/9010",
                "https://checkout.example.com",
                "https://gitlab.example.com/shop/checkout/-/commit/6f1c2b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
                "https://gitlab.example.com/shop/checkout",
            ],
            "labels": {"environment_tier": "production"},
            "occurred_at": "2024-05-02T10:31:07+02:00",
        },
    ),
]


@pytest.fixture(scope="session")
def read_payload(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this test's own payloads when prefixed `own:`."""

    def read(name: str) -> bytes:
        return (OWN / name.removeprefix("own:")).read_bytes() if name.startswith("own:") else read_fixture(name)

    return read


def hook_of(name: str) -> str:
    return HOOKS[name.split("/")[-1].removeprefix("own:").split("-")[0].split(".")[0]]


def source(secret: str | None = None, signing: str | None = None, **config: Any) -> GitLabSource:
    secrets = {key: value for key, value in (("webhook_secret", secret), ("signing_token", signing)) if value}
    return GitLabSource(GitLabConfig(**config), secrets)


def load(read_payload: Callable[[str], bytes], name: str) -> dict[str, Any]:
    return json_object(read_payload(name))


def one(hook: str, payload: dict[str, Any]) -> NormalizedEvent:
    [parsed] = source().parse({"x-gitlab-event": hook}, json.dumps(payload).encode())
    return parsed


@pytest.mark.parametrize("send_header", [True, False], ids=["header", "object_kind"])
@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(
    read_payload: Callable[[str], bytes], name: str, expected: dict[str, Any], send_header: bool
) -> None:
    headers = {"x-gitlab-event": hook_of(name), "x-gitlab-event-uuid": "13792a34"} if send_header else {}
    [parsed] = source().parse(headers, read_payload(name))
    assert parsed.source == "gitlab"
    for field in ("kind", "status", "severity", "title", "service", "environment", "grouping_key"):
        assert getattr(parsed, field) == expected[field], field
    assert [link.url for link in parsed.links] == expected["links"]
    assert expected["labels"].items() <= parsed.labels.items()
    assert parsed.occurred_at is not None and parsed.occurred_at.isoformat() == expected["occurred_at"]
    assert parsed.extra["object_kind"] == expected["kind"]
    if send_header:
        assert parsed.extra["event_uuid"] == "13792a34"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("own:pipeline-failed.json", ("object_attributes", "status")),
        ("own:job-failed.json", ("build_status",)),
        ("own:deployment-failed.json", ("status",)),
    ],
)
def test_success_after_failure_carries_the_same_key(
    read_payload: Callable[[str], bytes], name: str, path: tuple[str, ...]
) -> None:
    broken = load(read_payload, name)
    fixed = json.loads(json.dumps(broken))
    target = fixed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "success"
    first, second = one(hook_of(name), broken), one(hook_of(name), fixed)
    assert (first.status, second.status) == (Status.firing, Status.resolved)
    assert second.severity is Severity.info
    assert first.grouping_key == second.grouping_key


@pytest.mark.parametrize(
    ("status", "severity", "suffix"),
    [
        ("failed", Severity.high, ""),
        ("success", Severity.info, ""),
        ("canceled", Severity.info, ":canceled"),
        ("skipped", Severity.info, ":skipped"),
    ],
)
def test_pipeline_status(read_payload: Callable[[str], bytes], status: str, severity: Severity, suffix: str) -> None:
    payload = load(read_payload, "own:pipeline-failed.json")
    payload["object_attributes"]["status"] = status
    event = one("Pipeline Hook", payload)
    assert event.severity is severity
    assert event.status is (Status.firing if status == "failed" else Status.resolved)
    assert event.grouping_key == "gitlab:shop/checkout:pipeline:main" + suffix


@pytest.mark.parametrize("status", ["created", "pending", "running", "manual", "scheduled", "waiting_for_resource"])
def test_no_outcome_yet_gives_no_event(read_payload: Callable[[str], bytes], status: str) -> None:
    pipeline = load(read_payload, "own:pipeline-failed.json")
    pipeline["object_attributes"]["status"] = status
    job = load(read_payload, "own:job-failed.json")
    job["build_status"] = status
    assert source().parse({"x-gitlab-event": "Pipeline Hook"}, json.dumps(pipeline).encode()) == []
    assert source().parse({"x-gitlab-event": "Job Hook"}, json.dumps(job).encode()) == []
    deployment = load(read_payload, "own:deployment-failed.json")
    deployment["status"] = "running"
    assert source().parse({}, json.dumps(deployment).encode()) == []


@pytest.mark.parametrize(
    ("ref", "tag", "severity"),
    [("main", False, Severity.high), ("feature/cart", False, Severity.medium), ("main", True, Severity.medium)],
)
def test_failure_severity_by_ref(read_payload: Callable[[str], bytes], ref: str, tag: bool, severity: Severity) -> None:
    pipeline = load(read_payload, "own:pipeline-failed.json")
    pipeline["object_attributes"].update(ref=ref, tag=tag)
    assert one("Pipeline Hook", pipeline).severity is severity
    job = load(read_payload, "own:job-failed.json")
    job.update(ref=ref, tag=tag)
    assert one("Job Hook", job).severity is severity


def test_a_job_allowed_to_fail_is_low(read_payload: Callable[[str], bytes]) -> None:
    job = load(read_payload, "own:job-failed.json")
    job["build_allow_failure"] = True
    event = one("Job Hook", job)
    assert (event.status, event.severity, event.labels["allow_failure"]) == (Status.firing, Severity.low, "true")
    assert event.message == "Failure reason: script_failure"


def test_tag_push_and_other_hooks_are_records(read_payload: Callable[[str], bytes]) -> None:
    push = load(read_payload, "gitlab/push.json")
    push.update(
        object_kind="tag_push", event_name="tag_push", ref="refs/tags/v1.0.0", commits=[], total_commits_count=0
    )
    tag = one("Tag Push Hook", push)
    assert (tag.kind, tag.title, tag.grouping_key) == (
        "tag_push",
        "Push to tag v1.0.0 in mike/diaspora: 0 commits",
        "gitlab:mike/diaspora:tag_push:refs/tags/v1.0.0",
    )
    issue = load(read_payload, "gitlab/merge_request-opened.json")
    issue["object_kind"] = "issue"
    event = one("Issue Hook", issue)
    assert (event.kind, event.status, event.severity) == ("issue", Status.resolved, Severity.info)
    assert event.title == "GitLab issue open in gitlabhq/gitlab-test: MS-Viewport"
    member = {"event_name": "user_add_to_group", "group_path": "webhook-test", "group_id": 100}
    record = one("Member Hook", member)
    assert (record.kind, record.grouping_key) == ("user_add_to_group", "gitlab:webhook-test:user_add_to_group")


def test_system_hook_header_uses_the_body_kind(read_payload: Callable[[str], bytes]) -> None:
    [event] = source().parse({"x-gitlab-event": "System Hook"}, read_payload("gitlab/push.json"))
    assert event.kind == "push"


def test_header_contradicting_the_body_is_invalid(read_payload: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid, match="does not match"):
        source().parse({"x-gitlab-event": "Pipeline Hook"}, read_payload("gitlab/push.json"))


@pytest.mark.parametrize(
    ("hook", "other"),
    [
        ("", "sentry/issue-created.json"),
        ("", "github/push.json"),
        ("", "alertmanager/firing-2-alerts.json"),
        ("Push Hook", "github/push.json"),
        ("Pipeline Hook", "sentry/issue-created.json"),
        ("Job Hook", "github/workflow_job-completed-failure.json"),
        ("Deployment Hook", "alertmanager/firing-2-alerts.json"),
        ("Merge Request Hook", "github/pull_request-opened.json"),
    ],
)
def test_other_tools_payload_is_invalid(read_payload: Callable[[str], bytes], hook: str, other: str) -> None:
    headers = {"x-gitlab-event": hook} if hook else {}
    with pytest.raises(PayloadInvalid):
        source().parse(headers, read_payload(other))


def test_truncated_json_is_malformed(read_payload: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({"x-gitlab-event": "Push Hook"}, read_payload("gitlab/push.json")[:-3])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"object_kind": "push"}]')


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(
    read_payload: Callable[[str], bytes], name: str, expected: dict[str, Any]
) -> None:
    payload = load(read_payload, name)
    nested = tuple(key for key in ("object_attributes", "project") if isinstance(payload.get(key), dict))
    for headers in ({"x-gitlab-event": hook_of(name)}, {}):
        for removed, body in without_each_key(payload, nested=nested):
            try:
                events = source().parse(headers, body)
            except PayloadInvalid:
                continue
            assert all(parsed.title for parsed in events), removed


# --- authentication ------------------------------------------------------------------------------

BODY = b'{"object_kind": "push"}'


def standard_signature(token: str, webhook_id: str, stamp: str, body: bytes = BODY) -> str:
    """`v1,<base64 HMAC-SHA256>` as Standard Webhooks signs, computed here independently."""
    key = base64.b64decode(token.removeprefix("whsec_")) if token.startswith("whsec_") else token.encode()
    digest = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed(token: str = SIGNING, stamp: str | None = None, webhook_id: str = "4d1f3c9e-0b1a") -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": standard_signature(token, webhook_id, stamp),
    }


def test_token_passes_and_wrong_or_missing_token_is_unauthorized() -> None:
    source(SECRET).verify({"x-gitlab-token": SECRET}, BODY)
    for headers in ({}, {"x-gitlab-token": ""}, {"x-gitlab-token": "wrong"}):
        with pytest.raises(Unauthorized, match="X-Gitlab-Token"):
            source(SECRET).verify(headers, BODY)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_signing_token_signature_passes() -> None:
    source(signing=SIGNING).verify(signed(), BODY)
    # Several signatures (during a rotation): one match is enough.
    headers = signed()
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    source(signing=SIGNING).verify(headers, BODY)
    # A token not in whsec_ form is used as it is.
    source(signing="plain-token").verify(signed("plain-token"), BODY)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-signature": ""},
        {"webhook-signature": "v1,bm90IHRoZSBzaWduYXR1cmU="},
        {"webhook-signature": "v2," + "A" * 44},
        {"webhook-id": ""},
        {"webhook-id": "another-id"},
        {"webhook-timestamp": ""},
        {"webhook-timestamp": "yesterday"},
    ],
    ids=["missing", "wrong", "other-version", "no-id", "other-id", "no-timestamp", "bad-timestamp"],
)
def test_bad_signature_is_unauthorized(change: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="webhook-"):
        source(signing=SIGNING).verify({**signed(), **change}, BODY)


def test_signature_over_other_bytes_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="webhook-signature"):
        source(signing=SIGNING).verify(signed(), BODY + b" ")


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_stale_or_future_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(Unauthorized, match="replay"):
        source(signing=SIGNING).verify(signed(stamp=str(int(time.time()) + offset)), BODY)
    # A wider window accepts it.
    source(signing=SIGNING, max_skew_seconds=90000).verify(signed(stamp=str(int(time.time()) + offset)), BODY)


def test_both_token_and_signature_are_required_when_both_are_configured() -> None:
    both = source(SECRET, SIGNING)
    both.verify({"x-gitlab-token": SECRET, **signed()}, BODY)
    with pytest.raises(Unauthorized, match="X-Gitlab-Token"):
        both.verify(signed(), BODY)
    with pytest.raises(Unauthorized, match="webhook-signature"):
        both.verify({"x-gitlab-token": SECRET}, BODY)


def test_sign_produces_what_verify_accepts() -> None:
    both = source(SECRET, SIGNING)
    headers = {name.lower(): value for name, value in both.sign(BODY).items()}
    assert headers["x-gitlab-token"] == SECRET
    assert headers["webhook-signature"] == standard_signature(
        SIGNING, headers["webhook-id"], headers["webhook-timestamp"]
    )
    both.verify(headers, BODY)
    assert source(SECRET).sign(BODY) == {"X-Gitlab-Token": SECRET}
    assert source().sign(BODY) == {}


def test_registered_in_source_control() -> None:
    assert registry()["gitlab"] is GitLabSource
    assert GitLabSource.group == "source_control"
    assert "X-Gitlab-Token" in GitLabSource.auth_scheme


def test_config_marks_future_keys_and_forbids_unknown() -> None:
    properties = GitLabConfig.model_json_schema()["properties"]
    assert properties["token_env"]["not_yet_used"] is True
    assert "not_yet_used" not in properties["signing_token_env"]
    assert GitLabConfig().max_skew_seconds == 300
    for bad in ({"max_skew_seconds": 0}, {"secret_token_env": "X"}):
        with pytest.raises(ValidationError):
            GitLabConfig.model_validate(bad)


def test_token_env_is_not_required_but_signing_token_env_is(tmp_path: Path) -> None:
    text = """
integrations:
  source_control:
    gitlab:
      enabled: true
      token_env: "GITLAB_TOKEN"
      webhook_secret_env: "GITLAB_WEBHOOK_SECRET"
      signing_token_env: "GITLAB_SIGNING_TOKEN"
"""
    config = load_text(text, {"GITLAB_WEBHOOK_SECRET": "x"}, base_dir=tmp_path)
    assert config.missing_secrets == [
        "integrations.source_control.gitlab.signing_token_env: environment variable GITLAB_SIGNING_TOKEN is not set "
        "(this integration is enabled)"
    ]
    assert "integrations.source_control.gitlab.token_env" in config.not_yet_used
    config = load_text(text, {"GITLAB_WEBHOOK_SECRET": "x", "GITLAB_SIGNING_TOKEN": SIGNING}, base_dir=tmp_path)
    config.require_secrets()
    assert config.sources["gitlab"][1].secrets == {"webhook_secret": "x", "signing_token": SIGNING}


def test_documented_example_config_validates() -> None:
    config = GitLabConfig.model_validate(documented_config("gitlab"))
    assert (config.webhook_secret_env, config.signing_token_env) == ("GITLAB_WEBHOOK_SECRET", "GITLAB_SIGNING_TOKEN")


# --- through the real server -------------------------------------------------------------------


contract = contract_fixture("gitlab")


@pytest.mark.parametrize(("name", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_through_the_server(
    contract: ContractServer, read_payload: Callable[[str], bytes], name: str, expected: dict[str, Any]
) -> None:
    answer = contract.post(read_payload(name), {"X-Gitlab-Event": hook_of(name), "X-Gitlab-Event-UUID": "e-1"})
    fields = ("kind", "status", "severity", "title", "service", "grouping_key")
    wanted = {key: expected[key] for key in fields}
    if expected["environment"]:  # the server fills in its own environment when the event names none
        wanted["environment"] = expected["environment"]
    assert_fields(contract.events(answer), [wanted])


def test_wrong_or_missing_token_is_401_and_other_payloads_422(
    contract: ContractServer, read_payload: Callable[[str], bytes]
) -> None:
    body, other = read_payload("gitlab/pipeline-success.json"), read_payload("sentry/issue-created.json")
    assert_refusals(contract, body, other, "not a GitLab payload", {"X-Gitlab-Event": "Pipeline Hook"})
    assert contract.post(read_payload("github/push.json"), {"X-Gitlab-Event": "Push Hook"}).status_code == 422


def test_failed_pipeline_then_success_resolves_the_incident(
    contract: ContractServer, read_payload: Callable[[str], bytes]
) -> None:
    headers = {"X-Gitlab-Event": "Pipeline Hook"}
    failed = load(read_payload, "own:pipeline-failed.json")
    failed["object_attributes"]["ref"] = "release-7"
    passed = json.loads(json.dumps(failed))
    passed["object_attributes"].update(status="success", id=4103)
    [first] = contract.events(contract.post(json.dumps(failed).encode(), headers))
    [second] = contract.events(contract.post(json.dumps(passed).encode(), headers))
    assert first["grouping_key"] == second["grouping_key"] == "gitlab:shop/checkout:pipeline:release-7"

    def resolved() -> bool:
        items = httpx.get(
            f"{contract.server.url}/api/incidents",
            params={"source": "gitlab", "limit": 500},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["items"]
        found = [item for item in items if "release-7" in item["title"]]
        return len(found) == 1 and found[0]["status"] == "resolved"

    contract.server.wait_until(resolved, what="the pipeline incident resolved")


@pytest.fixture(scope="module")
def signed_contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server("gitlab", tmp_path_factory, extra={"signing_token_env": "CONTRACT_SIGNING"}) as server:
        yield server


def test_signed_delivery_through_the_server(
    signed_contract: ContractServer, read_payload: Callable[[str], bytes]
) -> None:
    body = read_payload("gitlab/push.json")
    headers = {"X-Gitlab-Event": "Push Hook"}
    assert_fields(signed_contract.events(signed_contract.post(body, headers)), [{"kind": "push"}])
    token_only = {"X-Gitlab-Token": signed_contract.secret, **headers}
    assert signed_contract.post(body, token_only, sign=False).status_code == 401
    stale = {**token_only, **signed(signed_contract.secret, stamp=str(int(time.time()) - 3600))}
    assert signed_contract.post(body, stale, sign=False).status_code == 401


# --- property tests ------------------------------------------------------------------------------

HOOK_VALUES = st.sampled_from([*HOOKS.values(), "Tag Push Hook", "System Hook", "Issue Hook", "", "?"])


@cache
def payload_pool(fixtures_dir: Path) -> list[Any]:
    return json_files(fixtures_dir / "gitlab", OWN)


@FUZZ
@given(value=json_values | shaped_values, hook=HOOK_VALUES)
def test_random_json_gives_events_or_a_source_error(value: Any, hook: str) -> None:
    check(source(), {"x-gitlab-event": hook}, encode(value))


@FUZZ
@given(data=st.data(), hook=HOOK_VALUES, with_header=st.booleans())
def test_mutated_payloads_give_events_or_a_source_error(
    fixtures_dir: Path, data: st.DataObject, hook: str, with_header: bool
) -> None:
    document = data.draw(st.sampled_from(payload_pool(fixtures_dir)))
    check(source(), {"x-gitlab-event": hook} if with_header else {}, encode(mutate(data, document)))
