"""Bitbucket source: Cloud and Server payloads, build status verdicts, X-Hub-Signature and refusals.

Payloads of our own (tests/sources/payloads/bitbucket/, see SOURCES.md there) follow Atlassian's
Cloud "Event payloads" page and the Server / Data Center "Event payload" page.
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
from liberation_guardian.sources.bitbucket import BitbucketSource
from tests.sources._contract import ContractServer, assert_refusals, assert_stored, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, json_files, json_object, read_payload, summary
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "bb-s3cret"
OWN = PAYLOADS / "bitbucket"
CLOUD_REPO = "https://api.bitbucket.org/bitbucket/bitbucket"
SERVER_REPO = "https://server.bitbucket.local/users/gopher/repos/webhook-test/browse"

# (fixture, X-Event-Key, expected events)
FIXTURES: list[tuple[str, str, list[dict[str, Any]]]] = [
    (
        "bitbucket/repo-commit_status-updated.json",
        "repo:commit_status_updated",
        [
            {
                "kind": "repo:commit_status_updated",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Unit Tests (Python) succeeded in team_name/repo_name",
                "message": "All tests passed",
                "service": "repo_name",
                "grouping_key": "bitbucket:team_name/repo_name:status:mybuildtool",
                "links": ["https://my-build-tool.com/builds/MY-PROJECT/BUILD-792", CLOUD_REPO],
            }
        ],
    ),
    (
        "own:repo-commit_status-failed.json",
        "repo:commit_status_updated",
        [
            {
                "kind": "repo:commit_status_updated",
                "status": Status.firing,
                "severity": Severity.high,
                "title": "Unit tests failed on main in acme/payments-api",
                "message": "42 of 318 tests failed",
                "service": "payments-api",
                "grouping_key": "bitbucket:acme/payments-api:status:pipelines-unit@main",
                "links": [
                    "https://ci.acme.example/builds/payments-api/1812",
                    "https://bitbucket.org/acme/payments-api",
                ],
            }
        ],
    ),
    (
        "bitbucket/repo-push.json",
        "repo:push",
        [
            {
                "kind": "repo:push",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Branch name-of-branch updated in team_name/repo_name",
                "message": "commit message",
                "service": "repo_name",
                "grouping_key": "bitbucket:team_name/repo_name:push:name-of-branch",
                "links": [
                    "https://bitbucket.org/user_name/repo_name/branches/compare/"
                    "c4b2b7914156a878aa7c9da452a09fb50c2091f2..b99ea6dad8f416e57c5ca78c1ccef590600d841b",
                    "https://bitbucket.org/user_name/repo_name/branch/master",
                    "https://bitbucket.org/user_name/repo_name/commits/c4b2b7914156a878aa7c9da452a09fb50c2091f2",
                    CLOUD_REPO,
                ],
            }
        ],
    ),
    (
        "bitbucket/pullrequest-created.json",
        "pullrequest:created",
        [
            {
                "kind": "pullrequest:created",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Pull request #1 created in team_name/repo_name: Title of pull request",
                "message": "branch2 → master",
                "service": "repo_name",
                "grouping_key": "bitbucket:team_name/repo_name:pr:1",
                "links": ["https://api.bitbucket.org/pullrequest_id", CLOUD_REPO],
            }
        ],
    ),
    (
        "bitbucket-server/pr-opened.json",
        "pr:opened",
        [
            {
                "kind": "pr:opened",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Pull request #5 opened in ~gopher/webhook-test: Update README",
                "message": "feature/wip → master",
                "service": "webhook-test",
                "grouping_key": "bitbucket:~gopher/webhook-test:pr:5",
                "links": [
                    "https://server.bitbucket.local/users/gopher/repos/webhook-test/pull-requests/5",
                    SERVER_REPO,
                ],
            }
        ],
    ),
    (
        "bitbucket-server/repo-refs_changed.json",
        "repo:refs_changed",
        [
            {
                "kind": "repo:refs_changed",
                "status": Status.resolved,
                "severity": Severity.info,
                "title": "Branch feature/wip deleted in ~gopher/webhook-test",
                "message": "",
                "service": "webhook-test",
                "grouping_key": "bitbucket:~gopher/webhook-test:push:feature/wip",
                "links": [SERVER_REPO],
            }
        ],
    ),
    ("own:server-diagnostics-ping.json", "diagnostics:ping", []),
]
IDS = [case[0] for case in FIXTURES]


def source(secret: str | None = None) -> BitbucketSource:
    return BitbucketSource(SourceConfig(), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


@pytest.mark.parametrize(("path", "key", "expected"), FIXTURES, ids=IDS)
def test_fixture_normalizes(
    read_fixture: Callable[[str], bytes], path: str, key: str, expected: list[dict[str, Any]]
) -> None:
    body = read(read_fixture, path)
    events = source().parse({"x-event-key": key}, body)
    assert [summary(event) for event in events] == expected
    for event in events:
        assert event.source == "bitbucket" and event.environment is None and event.occurred_at is not None
    # Without the header the event is recognized from the body (Server's eventKey, Cloud's objects).
    sniffed = source().parse({}, body)
    assert [event.grouping_key for event in sniffed] == [wanted["grouping_key"] for wanted in expected]
    assert [event.severity for event in sniffed] == [wanted["severity"] for wanted in expected]


def test_commit_status_labels(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own:repo-commit_status-failed.json"))
    assert event.labels == {
        "repository": "acme/payments-api",
        "branch": "main",
        "commit": "4f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
        "status_key": "pipelines-unit",
        "state": "FAILED",
    }
    assert event.occurred_at is not None and (event.occurred_at.hour, event.occurred_at.minute) == (9, 21)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def with_state(read_fixture: Callable[[str], bytes], state: str) -> bytes:
    payload = load(read_fixture, "own:repo-commit_status-failed.json")
    payload["commit_status"]["state"] = state
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("state", "severity", "status"),
    [
        ("FAILED", Severity.high, Status.firing),
        ("STOPPED", Severity.medium, Status.firing),
        ("SUCCESSFUL", Severity.info, Status.resolved),
        ("INPROGRESS", Severity.info, Status.resolved),
        ("failed", Severity.high, Status.firing),
        ("SOMETHING_NEW", Severity.info, Status.resolved),
    ],
)
def test_commit_status_state_maps(
    read_fixture: Callable[[str], bytes], state: str, severity: Severity, status: Status
) -> None:
    [event] = source().parse({"x-event-key": "repo:commit_status_updated"}, with_state(read_fixture, state))
    assert (event.severity, event.status) == (severity, status)


def test_success_resolves_the_failure_and_a_running_build_does_not(read_fixture: Callable[[str], bytes]) -> None:
    headers = {"x-event-key": "repo:commit_status_updated"}
    [failed] = source().parse(headers, with_state(read_fixture, "FAILED"))
    [stopped] = source().parse(headers, with_state(read_fixture, "STOPPED"))
    [passed] = source().parse(headers, with_state(read_fixture, "SUCCESSFUL"))
    [running] = source().parse({"x-event-key": "repo:commit_status_created"}, with_state(read_fixture, "INPROGRESS"))
    assert failed.grouping_key == stopped.grouping_key == passed.grouping_key
    assert passed.title == "Unit tests succeeded on main in acme/payments-api"
    assert running.grouping_key == f"{failed.grouping_key}:inprogress"
    assert running.title == "Unit tests is in progress on main in acme/payments-api"


def test_commit_status_without_refname_or_commit_hash(read_fixture: Callable[[str], bytes]) -> None:
    # Older deliveries name neither: the key has no branch, the commit comes from the API link.
    [event] = source().parse({}, read(read_fixture, "bitbucket/repo-commit_status-updated.json"))
    assert event.labels["commit"] == "9fec847784abb10b2fa567ee63b85bd238955d0e"
    assert "branch" not in event.labels


def test_push_with_several_changes_gives_one_event_each(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "bitbucket/repo-push.json")
    change = payload["push"]["changes"][0]
    tag = json.loads(json.dumps(change))
    tag["new"]["type"], tag["new"]["name"], tag["created"], tag["old"] = "tag", "v1.2.0", True, None
    deleted = json.loads(json.dumps(change))
    deleted["new"], deleted["closed"] = None, True
    payload["push"]["changes"] = [change, tag, deleted]
    events = source().parse({"x-event-key": "repo:push"}, json.dumps(payload).encode())
    assert [event.title for event in events] == [
        "Branch name-of-branch updated in team_name/repo_name",
        "Tag v1.2.0 created in team_name/repo_name",
        "Branch name-of-branch deleted in team_name/repo_name",
    ]
    assert events[1].grouping_key == "bitbucket:team_name/repo_name:push:v1.2.0"


def test_push_without_changes_is_one_record(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "bitbucket/repo-push.json")
    payload["push"]["changes"] = []
    [event] = source().parse({"x-event-key": "repo:push"}, json.dumps(payload).encode())
    assert (event.title, event.grouping_key) == ("Push to team_name/repo_name", "bitbucket:team_name/repo_name:push")


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("pullrequest:fulfilled", "Pull request #1 fulfilled in team_name/repo_name: Title of pull request"),
        (
            "pullrequest:comment_created",
            "Pull request #1 comment created in team_name/repo_name: Title of pull request",
        ),
    ],
)
def test_pull_request_actions_read_from_the_key(read_fixture: Callable[[str], bytes], key: str, title: str) -> None:
    [event] = source().parse({"x-event-key": key}, read(read_fixture, "bitbucket/pullrequest-created.json"))
    assert (event.kind, event.title, event.status) == (key, title, Status.resolved)


def test_server_pull_request_merged_keeps_the_pull_requests_key(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "bitbucket-server/pr-opened.json")
    payload["eventKey"] = "pr:merged"
    [event] = source().parse({}, json.dumps(payload).encode())
    assert event.kind == "pr:merged"
    assert event.grouping_key == "bitbucket:~gopher/webhook-test:pr:5"


def test_other_event_keys_are_records_of_their_repository(read_fixture: Callable[[str], bytes]) -> None:
    [fork] = source().parse({"x-event-key": "repo:fork"}, read(read_fixture, "bitbucket/repo-push.json"))
    assert (fork.kind, fork.title, fork.severity) == ("repo:fork", "Bitbucket repo:fork in team_name/repo_name", "info")
    modified = {"eventKey": "repo:modified", "date": "2019-03-08T18:20:26+0530", "old": {}, "new": {
        "slug": "sandbox-v2", "name": "sandbox v2", "project": {"key": "SBOX"},
    }}  # fmt: skip
    [event] = source().parse({}, json.dumps(modified).encode())
    assert (event.title, event.service) == ("Bitbucket repo:modified in SBOX/sandbox-v2", "sandbox v2")


def test_ping_gives_no_events() -> None:
    assert source().parse({"x-event-key": "diagnostics:ping"}, b'{"test": true}') == []
    assert source().parse({}, b'{"test": true}') == []


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("repo:push", b'{"repository": {"full_name": "a/b"}}', "`push` object"),
        ("pullrequest:created", b'{"repository": {"full_name": "a/b"}}', "`pullrequest` object"),
        ("pr:opened", b'{"eventKey": "pr:opened"}', "`pullRequest` object"),
        ("repo:refs_changed", b'{"repository": {"slug": "x"}}', "`changes` list"),
        ("repo:commit_status_updated", b'{"commit_status": {"state": "FAILED"}}', "names no repository"),
        ("repo:fork", b'{"actor": {}}', "no repository, project or new object"),
    ],
)
def test_event_without_its_objects_is_invalid(key: str, body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({"x-event-key": key}, body)


@pytest.mark.parametrize(
    "other",
    ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json", "circleci/job-completed-success-github.json"],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Bitbucket payload"):
        source().parse({}, read_fixture(other))
    with pytest.raises(PayloadInvalid):
        source().parse({"x-event-key": "repo:push"}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture("bitbucket/repo-push.json")[:-3])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[{}]")


@pytest.mark.parametrize(("path", "key", "expected"), FIXTURES, ids=IDS)
def test_any_field_removed_still_parses_or_is_invalid(
    read_fixture: Callable[[str], bytes], path: str, key: str, expected: list[dict[str, Any]]
) -> None:
    payload = load(read_fixture, path)
    nested = tuple(name for name in ("commit_status", "push", "pullrequest", "pullRequest") if name in payload)
    for headers in ({"x-event-key": key}, {}):
        for removed, body in without_each_key(payload, nested=nested):
            try:
                events = source().parse(headers, body)
            except PayloadInvalid:
                continue
            assert all(event.title for event in events), removed


def test_valid_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("bitbucket/repo-push.json")
    source(SECRET).verify({"x-hub-signature": "sha256=" + hex_hmac(SECRET, body)}, body)
    source(SECRET).verify({"x-hub-signature": "SHA256=" + hex_hmac(SECRET, body).upper()}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature": ""},
        {"x-hub-signature": "sha256=" + hex_hmac("other", b"{}")},
        {"x-hub-signature": "sha1=0123"},
        {"x-hub-signature-256": "sha256=whatever"},
    ],
    ids=["missing", "empty", "wrong", "wrong-algorithm", "other-header"],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Hub-Signature"):
        source(SECRET).verify(headers, read_fixture("bitbucket/repo-push.json"))


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("bitbucket/repo-push.json")
    resigned = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"x-hub-signature": "sha256=" + hex_hmac(SECRET, resigned)}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("bitbucket-server/pr-opened.json")
    assert_sign_round_trip(source(SECRET), source(), body, {"X-Hub-Signature": "sha256=" + hex_hmac(SECRET, body)})


def test_registered_under_name_and_server_alias() -> None:
    assert registry()["bitbucket"] is BitbucketSource
    assert config_keys()["bitbucket-server"] is BitbucketSource
    assert BitbucketSource.group == "source_control"
    assert "X-Hub-Signature" in BitbucketSource.auth_scheme


def test_documented_example_config_validates() -> None:
    assert SourceConfig.model_validate(documented_config("bitbucket")).webhook_secret_env == "BITBUCKET_WEBHOOK_SECRET"


# The HTTP contract: every payload through the real server, signed as Bitbucket signs.


contract = contract_fixture("bitbucket")


@pytest.mark.parametrize(("path", "key", "expected"), FIXTURES, ids=IDS)
def test_http_contract(
    contract: ContractServer,
    read_fixture: Callable[[str], bytes],
    path: str,
    key: str,
    expected: list[dict[str, Any]],
) -> None:
    answer = contract.post(read(read_fixture, path), {"X-Event-Key": key, "X-Request-UUID": "0c4d3e2f"})
    assert_stored(contract.events(answer), expected)


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    other = read_fixture("sentry/issue-created.json")
    assert_refusals(contract, read_fixture("bitbucket/repo-push.json"), other, "push", {"X-Event-Key": "repo:push"})


# Property tests: any body gives events or a SourceError, never anything else.

KEYS = st.sampled_from(
    ["repo:push", "repo:refs_changed", "pullrequest:created", "pr:opened", "repo:commit_status_updated",
     "diagnostics:ping", "repo:fork", "", "pr:"]
)  # fmt: skip


@FUZZ
@given(value=json_values | shaped_values, key=KEYS)
def test_random_json_never_escapes(value: Any, key: str) -> None:
    check(source(), {"x-event-key": key} if key else {}, encode(value))


@FUZZ
@given(data=st.data(), key=KEYS)
def test_mutated_fixtures_never_escape(fixtures_dir: Path, data: st.DataObject, key: str) -> None:
    document = data.draw(
        st.sampled_from(json_files(fixtures_dir / "bitbucket", fixtures_dir / "bitbucket-server", OWN))
    )
    check(source(), {"x-event-key": key} if key else {}, encode(mutate(data, document)))
