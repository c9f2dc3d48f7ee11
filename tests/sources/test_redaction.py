"""Redaction: secrets a tool puts in its payloads are stored, served and parsed as `[redacted]`.

The shared GitHub secret scanning fixture (fixtures/github/, from GitHub's webhook examples) has
no `alert.secret`; the REST API's alert object carries the leaked secret there, so the tests add
one to a copy of the fixture. The Rollbar and SNS fixtures carry an `access_token` and a
confirmation `Token` as published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from liberation_guardian.config import load_text
from liberation_guardian.pipeline.offline import OfflineRun
from liberation_guardian.sources._redact import REDACTED, redact_json
from liberation_guardian.sources.cloudwatch import CloudWatchConfig, CloudWatchSource
from liberation_guardian.sources.github import GitHubConfig, GitHubSource
from liberation_guardian.sources.rollbar import RollbarConfig, RollbarSource
from tests.sources._contract import TOKEN, ContractServer, contract_fixture

LEAKED = "aio_Zq3T8vYk2LmN5pR7wX1cB4dF6gH9"
ALERT = "github/secret_scanning_alert-reopened.json"
GITHUB_HEADERS = {"x-github-event": "secret_scanning_alert"}


def with_leaked_secret(read_fixture: Callable[[str], bytes]) -> bytes:
    """The real secret scanning fixture, carrying `LEAKED` as the REST API's alert object does."""
    payload = json.loads(read_fixture(ALERT))
    payload["alert"]["secret"] = LEAKED
    return json.dumps(payload, indent=2).encode()


def github() -> GitHubSource:
    return GitHubSource(GitHubConfig(), {})


# --- the helper --------------------------------------------------------------------------------


def test_a_secret_is_replaced_wherever_it_occurs() -> None:
    body = json.dumps(
        {"token": LEAKED, "url": f"https://example.test/?t={LEAKED}&x=1", "list": [LEAKED], LEAKED: 1}
    ).encode()
    redacted = json.loads(redact_json(body, lambda doc: [doc["token"]]))
    assert redacted == {
        "token": REDACTED,
        "url": f"https://example.test/?t={REDACTED}&x=1",
        "list": [REDACTED],
        REDACTED: 1,
    }


def test_a_short_secret_is_replaced_only_as_a_whole_value() -> None:
    body = b'{"pin": "1234", "note": "call 12345 for help"}'
    assert json.loads(redact_json(body, lambda doc: [doc["pin"]])) == {"pin": REDACTED, "note": "call 12345 for help"}


@pytest.mark.parametrize("body", [b'{"a": "b"}', b"not json", b'{"a": "\xff"}', b"[" * 5000])
def test_a_body_with_nothing_to_redact_is_kept_byte_for_byte(body: bytes) -> None:
    assert redact_json(body, lambda doc: []) == body


def test_the_marker_and_empty_values_are_not_secrets() -> None:
    body = b'{"token": "", "other": "[redacted]"}'
    assert redact_json(body, lambda doc: ["", REDACTED]) == body


# --- the sources -------------------------------------------------------------------------------


def test_github_redacts_the_leaked_secret_before_parse(read_fixture: Callable[[str], bytes]) -> None:
    redacted = github().redact(GITHUB_HEADERS, with_leaked_secret(read_fixture))
    assert LEAKED.encode() not in redacted
    assert json.loads(redacted)["alert"]["secret"] == REDACTED
    [event] = github().parse(GITHUB_HEADERS, redacted)
    assert event.grouping_key == "github:Codertocat/Hello-World:secret_scanning:191"
    assert REDACTED not in event.model_dump_json()  # the secret was never copied into the event


def test_github_keeps_a_delivery_without_a_secret_as_received(read_fixture: Callable[[str], bytes]) -> None:
    for path in ("github/secret_scanning_alert-reopened.json", "github/workflow_run-completed.json"):
        body = read_fixture(path)
        assert github().redact(GITHUB_HEADERS, body) == body


def test_rollbar_redacts_the_access_token_of_the_occurrence(read_fixture: Callable[[str], bytes]) -> None:
    source = RollbarSource(RollbarConfig(), {})
    for path, section in (("rollbar/new_item.json", "item"), ("rollbar/occurrence.json", "occurrence")):
        payload = json.loads(read_fixture(path))
        occurrence = payload["data"]["item"]["last_occurrence"] if section == "item" else payload["data"]["occurrence"]
        occurrence.setdefault("metadata", {})["access_token"] = LEAKED
        redacted = source.redact({}, json.dumps(payload).encode())
        assert LEAKED.encode() not in redacted, path
        [event] = source.parse({}, redacted)
        assert LEAKED not in event.model_dump_json()
    published = read_fixture("rollbar/new_item.json")  # its access_token is blank: nothing to redact
    assert source.redact({}, published) == published


def test_cloudwatch_redacts_a_confirmation_token_in_the_lambda_form(read_fixture: Callable[[str], bytes]) -> None:
    confirmation = json.loads(read_fixture("aws-sns/http-subscription-confirmation.json"))
    token = confirmation["Token"]
    body = json.dumps({"Records": [{"EventSource": "aws:sns", "Sns": confirmation}]}).encode()
    source = CloudWatchSource(CloudWatchConfig(verify_signature=False), {})
    redacted = source.redact({}, body)
    assert token.encode() not in redacted
    message = json.loads(redacted)["Records"][0]["Sns"]
    assert message["Token"] == REDACTED
    assert message["SubscribeURL"].endswith(f"&Token={REDACTED}")
    assert source.parse({}, redacted) == []
    notification = read_fixture("aws-sns/http-notification.json")
    assert source.redact({}, notification) == notification


# --- through the real server and the offline runner --------------------------------------------


contract = contract_fixture("github")


def database_bytes(contract: ContractServer) -> bytes:
    """Every byte of the SQLite database: the main file, its write-ahead log and shared memory."""
    path = Path(contract.server.config.settings.core.database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    assert path.exists()
    return b"".join(file.read_bytes() for file in files if file.exists())


def test_the_leaked_secret_is_nowhere_in_the_database_the_api_or_the_events(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    answer = contract.post(with_leaked_secret(read_fixture), {"X-GitHub-Event": "secret_scanning_alert"})
    [event] = contract.events(answer)
    assert event["grouping_key"] == "github:Codertocat/Hello-World:secret_scanning:191"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def incident_id() -> int | None:
        items = httpx.get(f"{contract.server.url}/api/incidents", params={"source": "github"}, headers=auth)
        found = [item["id"] for item in items.json()["items"] if "secret scanning alert #191" in item["title"]]
        return found[0] if found else None

    contract.server.wait_until(lambda: incident_id() is not None, what="the secret scanning incident")
    detail = httpx.get(f"{contract.server.url}/api/incidents/{incident_id()}", headers=auth)
    assert detail.status_code == 200
    served: dict[str, Any] = detail.json()
    [stored] = [item for item in served["events"] if item["id"] == event["id"]]
    # The payload is stored and served, with the secret replaced: not dropped, not kept.
    assert stored["payload"]["alert"]["secret"] == REDACTED
    assert stored["payload"]["alert"]["secret_type"] == "adafruit_io_key"
    assert LEAKED not in detail.text
    assert LEAKED not in json.dumps(event)
    stored_bytes = database_bytes(contract)
    assert b"adafruit_io_key" in stored_bytes  # the payload is readable in the files searched
    assert LEAKED.encode() not in stored_bytes


def test_replayed_payloads_are_redacted_too(tmp_path: Path, read_fixture: Callable[[str], bytes]) -> None:
    document = {"core": {"database_url": f"sqlite:///{tmp_path}/replay.db"}}
    config = load_text(yaml.safe_dump(document), {}, base_dir=tmp_path)
    run = OfflineRun(config, f"sqlite:///{tmp_path}/replay.db")
    try:
        [event_id] = run.feed(github(), tmp_path / "alert.json", with_leaked_secret(read_fixture))
    finally:
        run.engine.dispose()
    assert event_id > 0
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("replay.db*"))
    assert b"adafruit_io_key" in stored
    assert LEAKED.encode() not in stored
