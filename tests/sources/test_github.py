"""GitHub source: every fixture normalized, CI failure and recovery, security alerts, signatures, refusals, HTTP.

Every GitHub event kind handled has a shared fixture (fixtures/github/, from octokit/webhooks'
payload examples); other conclusions, actions and states are made by editing a copy of one in
the test, following https://docs.github.com/en/webhooks/webhook-events-and-payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
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
from liberation_guardian.sources.github import GitHubConfig, GitHubSource
from tests.sources._contract import TOKEN, ContractServer, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import json_files, json_object
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET = "s3cret"
RUN = "github/workflow_run-completed.json"
JOB = "github/workflow_job-completed-failure.json"

# (fixture, X-GitHub-Event, expected fields of its one event, or None for no event)
FIXTURES: list[tuple[str, str, dict[str, Any] | None]] = [
    (
        RUN,
        "workflow_run",
        {
            "kind": "workflow_run",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI passed: workflow test on master in octo-org/octo-repo",
            "service": "octo-org/octo-repo",
            "environment": None,
            "grouping_key": "github:octo-org/octo-repo:test:master",
            "links": [
                "https://github.com/octo-org/octo-repo/actions/runs/289782451",
                "https://github.com/octo-org/octo-repo/blob/master/.github/workflows/test.yml",
                "https://github.com/octo-org/octo-repo",
            ],
            "labels": {"branch": "master", "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625"},
        },
    ),
    (
        JOB,
        "workflow_job",
        {
            "kind": "workflow_job",
            "status": Status.firing,
            # `main` is not the repository's default branch (`master`).
            "severity": Severity.medium,
            "title": "CI build failed: job linters of workflow CodeQL on main in Codertocat/Hello-World",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:CodeQL/linters:main",
            "links": [
                "https://github.com/octo-org/octo-repo/runs/1291536064",
                "https://github.com/Codertocat/Hello-World",
            ],
            "labels": {"conclusion": "failure", "check": "CodeQL/linters"},
        },
    ),
    (
        "github/check_run-completed.json",
        "check_run",
        {
            "kind": "check_run",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI passed: check Octocoders-linter on changes in Codertocat/Hello-World",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:Octocoders-linter:changes",
            "links": [
                "https://github.com/Codertocat/Hello-World/runs/128620228",
                "https://octocoders.io",
                "https://github.com/Codertocat/Hello-World",
            ],
            "labels": {"pull_requests": "2"},
        },
    ),
    (
        "github/check_suite-completed.json",
        "check_suite",
        {
            "kind": "check_suite",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI passed: check suite octocoders-linter on changes in Codertocat/Hello-World",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:octocoders-linter:changes",
            "links": ["https://github.com/Codertocat/Hello-World"],
            "labels": {"commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
        },
    ),
    (
        "github/status.json",
        "status",
        {
            "kind": "status",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "CI passed: status default on master in Codertocat/Hello-World",
            "service": "Codertocat/Hello-World",
            "environment": None,
            # No branch has the commit at its head: the default branch is the one it belongs to.
            "grouping_key": "github:Codertocat/Hello-World:default:master",
            "links": [
                "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "https://github.com/Codertocat/Hello-World",
            ],
            "labels": {"conclusion": "success"},
        },
    ),
    (
        "github/dependabot_alert-created.json",
        "dependabot_alert",
        {
            "kind": "dependabot_alert",
            "status": Status.firing,
            "severity": Severity.medium,
            "title": "Vulnerable dependency semver (npm) in wolfy1339/pika-pack: "
            "semver vulnerable to Regular Expression Denial of Service",
            "service": "wolfy1339/pika-pack",
            "environment": None,
            "grouping_key": "github:wolfy1339/pika-pack:dependabot:20",
            "links": ["https://github.com/wolfy1339/pika-pack/security/dependabot/20"],
            "labels": {
                "package": "semver",
                "ecosystem": "npm",
                "vulnerable_version_range": "< 7.5.2",
                "patched_version": "7.5.2",
                "ghsa_id": "GHSA-c2qf-rxjj-qqgw",
                "cve_id": "CVE-2022-25883",
                "advisory_severity": "medium",
            },
        },
    ),
    (
        "github/code_scanning_alert-created.json",
        "code_scanning_alert",
        {
            "kind": "code_scanning_alert",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "Code scanning security alert in Codertocat/Hello-World: Query built from user-controlled sources",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:code_scanning:10",
            "links": ["https://github.com/Codertocat/Hello-World/security/code-scanning/10"],
            "labels": {"rule_id": "java/sql-injection", "tool": "CodeQL", "branch": "code-feature"},
        },
    ),
    (
        "github/secret_scanning_alert-reopened.json",
        "secret_scanning_alert",
        {
            "kind": "secret_scanning_alert",
            "status": Status.firing,
            "severity": Severity.critical,
            "title": "Leaked secret in Codertocat/Hello-World: adafruit_io_key (secret scanning alert #191)",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:secret_scanning:191",
            "links": [],
            "labels": {"secret_type": "adafruit_io_key", "alert_number": "191"},
        },
    ),
    (
        "github/security_advisory-published.json",
        "security_advisory",
        {
            "kind": "security_advisory",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Security advisory GHSA-rf4j-j272-fj86 published: "
            "Moderate severity vulnerability that affects django",
            "service": None,
            "environment": None,
            "grouping_key": "github:advisory:GHSA-rf4j-j272-fj86",
            "links": ["https://nvd.nist.gov/vuln/detail/CVE-2018-6188"],
            "labels": {"packages": "pip:django,pip:django", "severity": "moderate"},
        },
    ),
    (
        "github/push.json",
        "push",
        {
            "kind": "push",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "tag simple-tag deleted in Codertocat/Hello-World",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:push:refs/tags/simple-tag",
            "links": ["https://github.com/Codertocat/Hello-World/compare/6113728f27ae...000000000000"],
            "labels": {"ref": "refs/tags/simple-tag", "deleted": "true", "pusher": "Codertocat"},
        },
    ),
    (
        "github/pull_request-opened.json",
        "pull_request",
        {
            "kind": "pull_request",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Pull request #2 opened: Update the README with new information. (Codertocat/Hello-World)",
            "service": "Codertocat/Hello-World",
            "environment": None,
            "grouping_key": "github:Codertocat/Hello-World:pull_request:2",
            "links": ["https://github.com/Codertocat/Hello-World/pull/2"],
            "labels": {"base": "master", "head": "changes", "state": "open"},
        },
    ),
    ("github/ping.json", "ping", None),
]


def source(secret: str | None = None, **config: Any) -> GitHubSource:
    return GitHubSource(GitHubConfig(**config), {"webhook_secret": secret} if secret else {})


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read_fixture(path))


def one(event: str, payload: dict[str, Any]) -> NormalizedEvent:
    [parsed] = source().parse({"x-github-event": event}, json.dumps(payload).encode())
    return parsed


def run_with(read_fixture: Callable[[str], bytes], **changes: Any) -> dict[str, Any]:
    """The workflow_run fixture with fields of `workflow_run` replaced."""
    payload = load(read_fixture, RUN)
    payload["workflow_run"].update(changes)
    return payload


@pytest.mark.parametrize("send_header", [True, False], ids=["header", "sniffed"])
@pytest.mark.parametrize(("path", "event", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(
    read_fixture: Callable[[str], bytes], path: str, event: str, expected: dict[str, Any] | None, send_header: bool
) -> None:
    headers = {"x-github-event": event, "x-github-delivery": "72d3162e"} if send_header else {}
    events = source().parse(headers, read_fixture(path))
    if expected is None:
        assert events == []
        return
    [parsed] = events
    assert parsed.source == "github"
    for field in ("kind", "status", "severity", "title", "service", "environment", "grouping_key"):
        assert getattr(parsed, field) == expected[field], field
    assert [link.url for link in parsed.links] == expected["links"]
    assert expected["labels"].items() <= parsed.labels.items()
    assert parsed.occurred_at is not None or event in ("push", "secret_scanning_alert")
    assert parsed.extra["event"] == event
    if send_header:
        assert parsed.extra["delivery"] == "72d3162e"


@pytest.mark.parametrize(
    ("conclusion", "branch", "status", "severity", "title"),
    [
        ("failure", "master", Status.firing, Severity.high, "CI build failed: workflow test on master"),
        ("failure", "feature/x", Status.firing, Severity.medium, "CI build failed: workflow test on feature/x"),
        ("timed_out", "master", Status.firing, Severity.high, "CI build failed (timed out): workflow test"),
        ("startup_failure", "dev", Status.firing, Severity.medium, "CI build failed (startup failure): workflow"),
        ("success", "master", Status.resolved, Severity.info, "CI passed: workflow test on master"),
        ("cancelled", "master", Status.resolved, Severity.info, "CI cancelled: workflow test on master"),
        ("skipped", "master", Status.resolved, Severity.info, "CI skipped: workflow test"),
        ("neutral", "master", Status.resolved, Severity.info, "CI neutral: workflow test"),
        ("action_required", "master", Status.resolved, Severity.info, "CI action required: workflow test"),
    ],
)
def test_workflow_run_conclusion(
    read_fixture: Callable[[str], bytes],
    conclusion: str,
    branch: str,
    status: Status,
    severity: Severity,
    title: str,
) -> None:
    event = one("workflow_run", run_with(read_fixture, conclusion=conclusion, head_branch=branch))
    assert (event.status, event.severity) == (status, severity)
    assert event.title.startswith(title)
    base = f"github:octo-org/octo-repo:test:{branch}"
    decisive = conclusion in ("failure", "timed_out", "startup_failure", "success")
    # Only a success shares the failure's key; a cancelled run proves nothing about the failure.
    assert event.grouping_key == (base if decisive else f"{base}:{conclusion}")


def test_failure_and_later_success_share_the_grouping_key(read_fixture: Callable[[str], bytes]) -> None:
    failed = one("workflow_run", run_with(read_fixture, conclusion="failure", id=1, head_sha="a" * 40))
    passed = one("workflow_run", run_with(read_fixture, conclusion="success", id=2, head_sha="b" * 40))
    assert failed.status is Status.firing and passed.status is Status.resolved
    assert failed.grouping_key == passed.grouping_key == "github:octo-org/octo-repo:test:master"
    assert failed.labels["commit"] != passed.labels["commit"]
    assert "CI" in failed.title and "build failed" in failed.title


def test_workflow_run_pull_requests_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    event = one(
        "workflow_run",
        run_with(read_fixture, conclusion="failure", pull_requests=[{"number": 7}, {"number": 9}, {"x": 1}]),
    )
    assert event.labels["pull_requests"] == "7,9"
    assert event.extra["pull_requests"] == ["7", "9"]
    assert event.extra["run_number"] == 163
    assert event.extra["trigger"] == "repository_dispatch"
    assert "ci(action): update actions/setup-node digest to 8c91899" in event.message


def test_workflow_name_comes_from_the_workflow_then_the_run_then_the_path(
    read_fixture: Callable[[str], bytes],
) -> None:
    # A run's name can be a per-run `run-name`; the workflow object's name stays the same.
    assert one("workflow_run", run_with(read_fixture, name="Deploy by @octocat")).grouping_key == (
        "github:octo-org/octo-repo:test:master"
    )
    payload = run_with(read_fixture, name="CI")
    del payload["workflow"]
    assert one("workflow_run", payload).grouping_key == "github:octo-org/octo-repo:CI:master"
    payload["workflow_run"]["name"] = ""
    assert one("workflow_run", payload).grouping_key == "github:octo-org/octo-repo:.github/workflows/test.yml:master"


@pytest.mark.parametrize("action", ["requested", "in_progress"])
def test_runs_without_an_outcome_give_no_event(read_fixture: Callable[[str], bytes], action: str) -> None:
    payload = run_with(read_fixture, status=action, conclusion=None)
    payload["action"] = action
    assert source().parse({"x-github-event": "workflow_run"}, json.dumps(payload).encode()) == []
    job = load(read_fixture, JOB)
    job["action"] = "queued" if action == "requested" else action
    job["workflow_job"].update(status=job["action"], conclusion=None)
    assert source().parse({"x-github-event": "workflow_job"}, json.dumps(job).encode()) == []


def test_a_rerequested_check_repeats_nothing(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/check_run-completed.json")
    payload["action"] = "rerequested"
    assert source().parse({"x-github-event": "check_run"}, json.dumps(payload).encode()) == []


def test_workflow_job_names_the_failed_steps(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, JOB)
    payload["workflow_job"]["steps"][3]["conclusion"] = "failure"
    event = one("workflow_job", payload)
    assert f"Failed steps: {payload['workflow_job']['steps'][3]['name']}" in event.message
    assert event.extra["runner"] == "GitHub Actions 5"
    payload["workflow_job"]["head_branch"] = "master"
    assert one("workflow_job", payload).severity is Severity.high


def test_check_run_failure_on_a_pull_request(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/check_run-completed.json")
    payload["check_run"].update(conclusion="failure", output={"title": "3 lint errors", "summary": None})
    payload["check_run"]["check_suite"]["head_branch"] = None  # as for a fork: the PR names the branch
    event = one("check_run", payload)
    assert (event.status, event.severity) == (Status.firing, Severity.medium)
    assert event.grouping_key == "github:Codertocat/Hello-World:Octocoders-linter:changes"
    assert event.labels["pull_requests"] == "2"
    assert event.message.endswith("3 lint errors")


def test_check_suite_failure_on_the_default_branch(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/check_suite-completed.json")
    payload["check_suite"].update(conclusion="timed_out", head_branch="master")
    event = one("check_suite", payload)
    assert (event.status, event.severity) == (Status.firing, Severity.high)
    assert event.title.startswith("CI build failed (timed out): check suite octocoders-linter on master")


@pytest.mark.parametrize(
    ("state", "status", "severity"),
    [
        ("failure", Status.firing, Severity.high),
        ("error", Status.firing, Severity.high),
        ("success", Status.resolved, Severity.info),
    ],
)
def test_status_states(read_fixture: Callable[[str], bytes], state: str, status: Status, severity: Severity) -> None:
    payload = load(read_fixture, "github/status.json")
    payload.update(state=state, context="ci/jenkins", target_url="https://ci.example.com/job/1", description="Tests")
    event = one("status", payload)
    assert (event.status, event.severity) == (status, severity)
    assert event.grouping_key == "github:Codertocat/Hello-World:ci/jenkins:master"
    assert event.links[0].url == "https://ci.example.com/job/1"


def test_pending_status_gives_no_event(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/status.json")
    payload["state"] = "pending"
    assert source().parse({"x-github-event": "status"}, json.dumps(payload).encode()) == []


def test_status_belongs_to_the_branch_whose_head_it_is(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/status.json")
    payload["sha"] = payload["branches"][1]["commit"]["sha"]
    payload["state"] = "failure"
    event = one("status", payload)
    assert event.grouping_key == "github:Codertocat/Hello-World:default:changes"
    assert event.severity is Severity.medium
    payload["branches"] = []
    assert one("status", payload).grouping_key == f"github:Codertocat/Hello-World:default:{payload['sha']}"


@pytest.mark.parametrize(
    ("action", "state", "status"),
    [
        ("created", "open", Status.firing),
        ("reopened", "open", Status.firing),
        ("reintroduced", "open", Status.firing),
        ("fixed", "fixed", Status.resolved),
        ("dismissed", "dismissed", Status.resolved),
        ("auto_dismissed", "auto_dismissed", Status.resolved),
        ("assignees_changed", "open", Status.firing),
        ("assignees_changed", "fixed", Status.resolved),
    ],
)
def test_dependabot_action_and_state(
    read_fixture: Callable[[str], bytes], action: str, state: str, status: Status
) -> None:
    payload = load(read_fixture, "github/dependabot_alert-created.json")
    payload["action"] = action
    payload["alert"]["state"] = state
    event = one("dependabot_alert", payload)
    assert event.status is status
    assert event.severity is (Severity.medium if status is Status.firing else Severity.info)
    assert event.grouping_key == "github:wolfy1339/pika-pack:dependabot:20"


@pytest.mark.parametrize(
    ("level", "severity"),
    [("critical", Severity.critical), ("high", Severity.high), ("moderate", Severity.medium), ("low", Severity.low)],
)
def test_dependabot_severity(read_fixture: Callable[[str], bytes], level: str, severity: Severity) -> None:
    payload = load(read_fixture, "github/dependabot_alert-created.json")
    payload["alert"]["security_advisory"]["severity"] = level
    event = one("dependabot_alert", payload)
    assert event.severity is severity
    assert event.message == "GHSA-c2qf-rxjj-qqgw / CVE-2022-25883: versions < 7.5.2 are affected; patched in 7.5.2."


def test_code_scanning_security_level_wins_and_the_location_is_a_frame(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/code_scanning_alert-created.json")
    event = one("code_scanning_alert", payload)
    [frame] = event.stack_frames
    assert (frame.filename, frame.lineno) == ("src/main/java/com/github/demo/service/BookService.java", 84)
    assert event.labels["location"] == "src/main/java/com/github/demo/service/BookService.java:84"
    payload["alert"]["rule"]["security_severity_level"] = "critical"
    assert one("code_scanning_alert", payload).severity is Severity.critical
    payload["alert"]["rule"] = {"id": "js/unused", "severity": "note"}
    assert one("code_scanning_alert", payload).severity is Severity.low
    payload.update(action="fixed")
    payload["alert"]["state"] = "fixed"
    fixed = one("code_scanning_alert", payload)
    assert (fixed.status, fixed.severity, fixed.grouping_key) == (
        Status.resolved,
        Severity.info,
        "github:Codertocat/Hello-World:code_scanning:10",
    )


def test_secret_scanning_resolution_and_the_secret_is_never_copied(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/secret_scanning_alert-reopened.json")
    payload["alert"]["secret"] = "aio_SUPERSECRETVALUE"
    payload["alert"]["html_url"] = "https://github.com/Codertocat/Hello-World/security/secret-scanning/191"
    firing = one("secret_scanning_alert", payload)
    assert "SUPERSECRETVALUE" not in firing.model_dump_json()
    assert firing.links[0].url.endswith("/secret-scanning/191")
    payload.update(action="resolved")
    payload["alert"].update(resolution="revoked", state="resolved")
    resolved = one("secret_scanning_alert", payload)
    assert (resolved.status, resolved.severity) == (Status.resolved, Severity.info)
    assert resolved.grouping_key == firing.grouping_key
    assert resolved.labels["resolution"] == "revoked"


def test_merged_pull_request(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/pull_request-opened.json")
    payload["action"] = "closed"
    payload["pull_request"]["merged"] = True
    event = one("pull_request", payload)
    assert event.title.startswith("Pull request #2 merged:")
    assert (event.status, event.severity) == (Status.resolved, Severity.info)


def test_push_of_commits(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/push.json")
    payload.update(ref="refs/heads/master", deleted=False, commits=[{"id": "a"}, {"id": "b"}])
    payload["head_commit"] = {"message": "Fix it\n\nbody", "timestamp": "2024-01-01T00:00:00Z", "url": "https://x/c"}
    event = one("push", payload)
    assert event.title == "Push to master in Codertocat/Hello-World: 2 commits"
    assert event.message == "Fix it"
    assert event.grouping_key == "github:Codertocat/Hello-World:push:refs/heads/master"


def test_other_repository_events_are_records(read_fixture: Callable[[str], bytes]) -> None:
    payload = load(read_fixture, "github/pull_request-opened.json")
    payload["action"] = "created"
    event = one("release", payload)
    assert (event.kind, event.status, event.severity) == ("release", Status.resolved, Severity.info)
    assert event.title == "GitHub release created in Codertocat/Hello-World"


@pytest.mark.parametrize(
    ("event", "other"),
    [
        ("", "sentry/issue-created.json"),
        ("", "alertmanager/firing-2-alerts.json"),
        ("", "gitlab/push.json"),
        ("workflow_run", "sentry/issue-created.json"),
        ("push", "gitlab/push.json"),
        ("dependabot_alert", "alertmanager/firing-2-alerts.json"),
        ("issues", "sentry/issue-created.json"),
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], event: str, other: str) -> None:
    headers = {"x-github-event": event} if event else {}
    with pytest.raises(PayloadInvalid):
        source().parse(headers, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(RUN)
    with pytest.raises(PayloadMalformed):
        source().parse({"x-github-event": "workflow_run"}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({"x-github-event": "push"}, b"[{}]")


SECTIONS = {
    "workflow_run": "workflow_run",
    "workflow_job": "workflow_job",
    "check_run": "check_run",
    "check_suite": "check_suite",
    "dependabot_alert": "alert",
    "code_scanning_alert": "alert",
    "secret_scanning_alert": "alert",
    "security_advisory": "security_advisory",
    "pull_request": "pull_request",
}


@pytest.mark.parametrize(("path", "event", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(
    read_fixture: Callable[[str], bytes], path: str, event: str, expected: dict[str, Any] | None
) -> None:
    payload = load(read_fixture, path)
    nested = (SECTIONS[event],) if event in SECTIONS else ()
    for headers in ({"x-github-event": event}, {}):
        for removed, body in without_each_key(payload, nested=nested):
            try:
                events = source().parse(headers, body)
            except PayloadInvalid:
                continue
            assert all(parsed.title for parsed in events), removed


def test_valid_sha256_signature_passes(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(RUN)
    source(SECRET).verify({"x-hub-signature-256": "sha256=" + hex_hmac(SECRET, body)}, body)
    source(SECRET).verify({"x-hub-signature-256": "SHA256=" + hex_hmac(SECRET, body).upper()}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature-256": ""},
        {"x-hub-signature-256": "sha256=" + hex_hmac("other", b"{}")},
        {"x-hub-signature-256": "sha1=" + hex_hmac(SECRET, b"{}")},
        {"x-hub-signature": "sha1=0000"},
    ],
    ids=["missing", "empty", "wrong", "wrong-prefix", "sha1-only-not-allowed"],
)
def test_bad_signature_is_unauthorized(read_fixture: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Hub-Signature-256"):
        source(SECRET).verify(headers, read_fixture(RUN))


def test_signature_over_other_bytes_is_unauthorized(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(RUN)
    resigned = json.dumps(json.loads(body)).encode()  # same JSON, different bytes
    with pytest.raises(Unauthorized):
        source(SECRET).verify({"x-hub-signature-256": "sha256=" + hex_hmac(SECRET, resigned)}, body)


def test_legacy_sha1_only_when_allowed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(RUN)
    sha1 = {"x-hub-signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}
    source(SECRET, allow_sha1=True).verify(sha1, body)
    with pytest.raises(Unauthorized):
        source(SECRET).verify(sha1, body)
    with pytest.raises(Unauthorized, match="X-Hub-Signature"):
        source(SECRET, allow_sha1=True).verify({"x-hub-signature": "sha1=" + "0" * 40}, body)
    # A wrong SHA-256 signature is not rescued by a right SHA-1 one.
    with pytest.raises(Unauthorized, match="X-Hub-Signature-256"):
        source(SECRET, allow_sha1=True).verify({**sha1, "x-hub-signature-256": "sha256=" + "0" * 64}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture(RUN)
    signed = source(SECRET).sign(body)
    assert signed["X-Hub-Signature-256"] == "sha256=" + hex_hmac(SECRET, body)
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, body)
    assert source().sign(body) == {}


def test_registered_in_source_control() -> None:
    assert registry()["github"] is GitHubSource
    assert GitHubSource.group == "source_control"
    assert "X-Hub-Signature-256" in GitHubSource.auth_scheme


def test_config_marks_future_keys_and_forbids_unknown() -> None:
    properties = GitHubConfig.model_json_schema()["properties"]
    assert properties["token_env"]["not_yet_used"] is True
    assert properties["auto_merge_enabled"]["not_yet_used"] is True
    assert "not_yet_used" not in properties["allow_sha1"]
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({"allow_sha256": True})


def test_token_env_is_not_required_at_start_up(tmp_path: Path) -> None:
    text = """
integrations:
  source_control:
    github:
      enabled: true
      token_env: "GITHUB_TOKEN"
      webhook_secret_env: "GITHUB_WEBHOOK_SECRET"
      auto_merge_enabled: false
"""
    config = load_text(text, {"GITHUB_WEBHOOK_SECRET": "x"}, base_dir=tmp_path)
    config.require_secrets()  # GITHUB_TOKEN is unset, and that is fine
    assert config.sources["github"][1].secrets == {"webhook_secret": "x"}
    assert "integrations.source_control.github.token_env" in config.not_yet_used
    assert "integrations.source_control.github.auto_merge_enabled" in config.not_yet_used


def test_documented_example_config_validates() -> None:
    config = GitHubConfig.model_validate(documented_config("github"))
    assert config.webhook_secret_env == "GITHUB_WEBHOOK_SECRET"


# --- through the real server -------------------------------------------------------------------


contract = contract_fixture("github")


@pytest.mark.parametrize(("path", "event", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_through_the_server(
    contract: ContractServer,
    read_fixture: Callable[[str], bytes],
    path: str,
    event: str,
    expected: dict[str, Any] | None,
) -> None:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": f"delivery-{event}"}
    answer = contract.post(read_fixture(path), headers)
    if expected is None:
        assert answer.status_code == 202 and answer.json()["accepted"] == 0
        return
    stored = {key: expected[key] for key in ("kind", "status", "severity", "title", "service", "grouping_key")}
    assert_fields(contract.events(answer), [{key: str(value) if value else value for key, value in stored.items()}])


def test_wrong_or_missing_signature_is_401_and_other_payloads_422(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    assert_refusals(
        contract,
        read_fixture(RUN),
        read_fixture("sentry/issue-created.json"),
        "workflow_run",
        {"X-GitHub-Event": "workflow_run"},
    )
    assert contract.post(read_fixture("gitlab/pipeline-success.json"), {}).status_code == 422


def test_failed_workflow_then_success_resolves_the_incident(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    headers = {"X-GitHub-Event": "workflow_run"}
    failure = run_with(read_fixture, conclusion="failure", head_branch="release/2.1", id=11)
    success = run_with(read_fixture, conclusion="success", head_branch="release/2.1", id=12)
    for payload in (failure, success):
        payload["workflow"]["name"] = "release-check"
    [failed] = contract.events(contract.post(json.dumps(failure).encode(), headers))
    assert (failed["status"], failed["severity"]) == ("firing", "medium")
    server = contract.server

    def incident() -> dict[str, Any] | None:
        items = httpx.get(
            f"{server.url}/api/incidents",
            params={"source": "github", "limit": 500},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()["items"]
        found = [item for item in items if "release-check" in item["title"]]
        assert len(found) <= 1, found
        return found[0] if found else None

    server.wait_until(lambda: (found := incident()) is not None and found["status"] == "open", what="an open incident")
    [passed] = contract.events(contract.post(json.dumps(success).encode(), headers))
    assert passed["grouping_key"] == failed["grouping_key"] == "github:octo-org/octo-repo:release-check:release/2.1"
    server.wait_until(
        lambda: (found := incident()) is not None and found["status"] == "resolved", what="the incident resolved"
    )
    resolved = incident()
    assert resolved is not None
    assert resolved["resolved_by"] == "source:github"
    assert resolved["title"].startswith("CI build failed: workflow release-check on release/2.1")


# --- property tests ------------------------------------------------------------------------------

EVENTS = st.sampled_from([*SECTIONS, "status", "push", "ping", "release", "", "WORKFLOW_RUN"])


@cache
def fixture_pool(fixtures_dir: Path) -> list[Any]:
    return json_files(fixtures_dir / "github")


@FUZZ
@given(value=json_values | shaped_values, event=EVENTS)
def test_random_json_gives_events_or_a_source_error(value: Any, event: str) -> None:
    check(source(), {"x-github-event": event}, encode(value))


@FUZZ
@given(data=st.data(), event=EVENTS, with_header=st.booleans())
def test_mutated_fixtures_give_events_or_a_source_error(
    fixtures_dir: Path, data: st.DataObject, event: str, with_header: bool
) -> None:
    document = data.draw(st.sampled_from(fixture_pool(fixtures_dir)))
    check(source(), {"x-github-event": event} if with_header else {}, encode(mutate(data, document)))
