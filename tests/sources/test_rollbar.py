"""Rollbar source: every payload normalized field by field, shared-secret auth, refusals and the HTTP contract.

The payloads under tests/sources/payloads/rollbar/ follow the webhook format documented at
https://docs.rollbar.com/docs/webhooks; their origin is described in that folder's SOURCES.md.
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
from liberation_guardian.sources.rollbar import RollbarConfig, RollbarSource
from tests.sources._contract import ContractServer, as_stored, assert_fields, assert_refusals, contract_fixture
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, assert_sign_round_trip, basic_auth, json_files, payload_reader
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "rollbar"
OCCURRENCE_KEY = "rollbar:item:402860571"
PHP_FILE = "/Users/rebeccastandig/Desktop/Dev/php-rollbar-app/index.php"

# path (shared fixture, or "own/<file>") -> expected normalized fields
CASES: dict[str, dict[str, Any]] = {
    "rollbar/new_item.json": {
        "kind": "new_item",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "testing aobg98wrwe",
        "message": "testing aobg98wrwe",
        "exception_type": None,
        "service": None,
        "environment": "production",
        "grouping_key": "rollbar:item:272716944",
        "frames": [],
        "links": [],
        "occurred_at": "2013-10-24T22:57:01+00:00",
    },
    "rollbar/occurrence.json": {
        "kind": "occurrence",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "Exception: test exception",
        "message": "test 2",
        "exception_type": "Exception",
        "service": None,
        "environment": "production",
        "grouping_key": OCCURRENCE_KEY,
        "frames": [(PHP_FILE, "<main>", 27)],
        "links": [],
        "occurred_at": "2016-08-26T15:45:45+00:00",
    },
    "rollbar/deploy.json": {
        "kind": "deploy",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Deploy e4b9b7db860b to production",
        "message": "deploying webs",
        "exception_type": None,
        "service": None,
        "environment": "production",
        "grouping_key": "rollbar:deploy:187585",
        "frames": [],
        "links": [],
        "occurred_at": "2013-10-24T23:07:19+00:00",
    },
    "own/resolved_item.json": {
        "kind": "resolved_item",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": "Exception: test exception",
        "message": "",
        "exception_type": None,
        "service": "php-rollbar-app",
        "environment": "production",
        "grouping_key": OCCURRENCE_KEY,
        "frames": [],
        "links": ["https://rollbar.com/demo-account/php-rollbar-app/items/2/"],
        "occurred_at": "2016-08-27T16:00:00+00:00",
    },
    "own/reactivated_item.json": {
        "kind": "reactivated_item",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "Exception: test exception",
        "message": "test 3",
        "exception_type": "Exception",
        "service": "php-rollbar-app",
        "environment": "production",
        "grouping_key": OCCURRENCE_KEY,
        "frames": [("/srv/php-rollbar-app/index.php", "<main>", 27), ("/srv/php-rollbar-app/db.php", "connect", 112)],
        "links": ["https://rollbar.com/demo-account/php-rollbar-app/items/2/"],
        "occurred_at": "2016-08-28T16:00:00+00:00",
    },
    "own/exp_repeat_item.json": {
        "kind": "exp_repeat_item",
        "status": Status.firing,
        "severity": Severity.high,
        "title": "testing aobg98wrwe",
        "message": "",
        "exception_type": None,
        "service": None,
        "environment": "production",
        "grouping_key": "rollbar:item:272716944",
        "frames": [],
        "links": [],
        "occurred_at": "2013-10-24T23:56:40+00:00",
    },
    "own/item_velocity.json": {
        "kind": "item_velocity",
        "status": Status.firing,
        "severity": Severity.critical,
        "title": "TypeError: Cannot read properties of undefined (reading 'id')",
        "message": "Cannot read properties of undefined (reading 'id')",
        "exception_type": "TypeError",
        "service": "storefront",
        "environment": "staging",
        "grouping_key": "rollbar:item:1188000111",
        "frames": [
            ("https://shop.example.com/static/js/checkout.js", "handleClick", 88),
            ("https://shop.example.com/static/js/cart.js", "renderCart", 12),
        ],
        "links": ["https://rollbar.com/shop-team/storefront/items/31/"],
        "occurred_at": "2023-11-14T22:23:20+00:00",
    },
}


@pytest.fixture(scope="module")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads as `own/<file>`."""
    return payload_reader(read_fixture, OWN)


def source(secret: str | None = None, **config: Any) -> RollbarSource:
    return RollbarSource(RollbarConfig(**config), {"webhook_secret": secret} if secret else {})


def test_every_own_payload_has_a_case() -> None:
    assert {f"own/{path.name}" for path in OWN.glob("*.json")} <= set(CASES)


@pytest.mark.parametrize("path", CASES)
def test_payload_normalizes(read: Callable[[str], bytes], path: str) -> None:
    expected = CASES[path]
    [event] = source().parse({}, read(path))
    assert event.source == "rollbar"
    got = {
        "kind": event.kind,
        "status": event.status,
        "severity": event.severity,
        "title": event.title,
        "message": event.message,
        "exception_type": event.exception_type,
        "service": event.service,
        "environment": event.environment,
        "grouping_key": event.grouping_key,
        "frames": [(frame.filename, frame.function, frame.lineno) for frame in event.stack_frames],
        "links": [link.url for link in event.links],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
    }
    assert got == expected


def test_an_items_events_share_one_grouping_key(read: Callable[[str], bytes]) -> None:
    paths = ["rollbar/occurrence.json", "own/reactivated_item.json", "own/resolved_item.json"]
    events = [source().parse({}, read(path))[0] for path in paths]
    assert {event.grouping_key for event in events} == {OCCURRENCE_KEY}
    assert [event.status for event in events] == [Status.firing, Status.firing, Status.resolved]


def test_labels_and_extra(read: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read("own/item_velocity.json"))
    assert event.labels == {
        "level": "critical",
        "language": "javascript",
        "framework": "browser-js",
        "code_version": "3f2a9c1",
    }
    assert event.extra["counter"] == 31 and event.extra["total_occurrences"] == 250
    [repeat] = source().parse({}, read("own/exp_repeat_item.json"))
    assert repeat.extra["occurrences"] == 100
    [deploy] = source().parse({}, read("rollbar/deploy.json"))
    assert deploy.labels == {"revision": "e4b9b7db860b2e5ac799f8c06b9498b71ab270bb", "user": "brian"}


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (50, Severity.critical),
        (40, Severity.high),
        (30, Severity.medium),
        (20, Severity.info),
        (10, Severity.info),
        ("critical", Severity.critical),
        ("Error", Severity.high),
        ("warning", Severity.medium),
        ("info", Severity.info),
        ("debug", Severity.info),
        (None, Severity.high),
        (True, Severity.high),
        (99, Severity.high),
    ],
)
def test_item_level_maps_to_severity(read_fixture: Callable[[str], bytes], level: object, severity: Severity) -> None:
    payload = json.loads(read_fixture("rollbar/occurrence.json"))
    payload["data"]["item"]["level"] = level
    payload["data"]["occurrence"]["level"] = None
    assert source().parse({}, json.dumps(payload).encode())[0].severity is severity


def test_occurrence_level_is_used_when_the_item_has_none(read_fixture: Callable[[str], bytes]) -> None:
    payload = json.loads(read_fixture("rollbar/occurrence.json"))
    del payload["data"]["item"]["level"]
    payload["data"]["occurrence"]["level"] = "warning"
    assert source().parse({}, json.dumps(payload).encode())[0].severity is Severity.medium


def test_project_services_name_the_service(read_fixture: Callable[[str], bytes]) -> None:
    config = RollbarConfig.model_validate({"project_services": {78234: "billing", "90": "web"}})
    named = RollbarSource(config, {})
    assert named.parse({}, read_fixture("rollbar/occurrence.json"))[0].service == "billing"
    assert named.parse({}, read_fixture("rollbar/deploy.json"))[0].service == "web"


def test_item_without_id_groups_by_project_and_counter(read_fixture: Callable[[str], bytes]) -> None:
    payload = json.loads(read_fixture("rollbar/occurrence.json"))
    del payload["data"]["item"]["id"]
    assert source().parse({}, json.dumps(payload).encode())[0].grouping_key == "rollbar:item:78234#2"


def test_unknown_event_name_with_an_item_reads_as_an_item(read_fixture: Callable[[str], bytes]) -> None:
    payload = json.loads(read_fixture("rollbar/new_item.json"))
    payload["event_name"] = "reopened_item"
    [event] = source().parse({}, json.dumps(payload).encode())
    assert (event.kind, event.status, event.grouping_key) == ("reopened_item", Status.firing, "rollbar:item:272716944")


def test_only_http_links_and_rollbar_urls_name_a_service(read: Callable[[str], bytes]) -> None:
    payload = json.loads(read("own/resolved_item.json"))
    payload["data"]["url"] = "javascript:alert(1)"
    event = source().parse({}, json.dumps(payload).encode())[0]
    assert (event.links, event.service) == ([], None)
    payload["data"]["url"] = "https://example.com/a/b/items/2/"
    assert source().parse({}, json.dumps(payload).encode())[0].service is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"event_name": "new_item"}, "`data` object"),
        ({"data": {"item": {}}}, "`event_name`"),
        ({"event_name": "new_item", "data": {"deploy": {}}}, r"data\.item"),
        ({"event_name": "deploy", "data": {"item": {}}}, r"data\.deploy"),
    ],
)
def test_incomplete_payload_is_invalid(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, json.dumps(body).encode())


@pytest.mark.parametrize(
    "other",
    ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json", "datadog/log_alert-triggered.json"],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Rollbar payload"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read_fixture("rollbar/occurrence.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b'[{"event_name": "new_item"}]')


@pytest.mark.parametrize("path", CASES)
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], path: str) -> None:
    payload = json.loads(read(path))
    nested = tuple(f"data.{key}" for key, value in payload["data"].items() if isinstance(value, dict))
    for removed, body in without_each_key(payload, nested=nested):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("event_name", "data", "data.item", "data.deploy"), removed
            continue
        assert event.title, removed


def test_basic_password_passes() -> None:
    source(SECRET).verify({"authorization": basic_auth("rollbar", SECRET)}, b"{}")


def test_bearer_token_passes() -> None:
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": basic_auth("rollbar", "wrong")},
        {"authorization": f"Token {SECRET}"},
    ],
    ids=["missing", "wrong-token", "wrong-password", "wrong-scheme"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    assert_sign_round_trip(
        source(SECRET),
        source(),
        b"{}",
        {"Authorization": basic_auth("rollbar", SECRET)},
    )


def test_registered_with_group_and_scheme() -> None:
    assert registry()["rollbar"] is RollbarSource
    assert RollbarSource.group == "observability"
    assert "Basic" in RollbarSource.auth_scheme


def test_config_forbids_unknown_keys_and_wrong_models() -> None:
    with pytest.raises(ValidationError):
        RollbarConfig.model_validate({"project_service": {}})
    with pytest.raises(TypeError):
        RollbarSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = RollbarConfig.model_validate(documented_config("rollbar"))
    assert config.webhook_secret_env == "ROLLBAR_WEBHOOK_SECRET"
    assert config.project_services


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("rollbar")


def test_http_contract_every_payload(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    for path, expected in CASES.items():
        answer = contract.post(read(path))
        # A missing environment or service is filled in by the server's defaults, so only set ones are compared.
        wanted = as_stored(
            expected, ("kind", "status", "severity", "title", "environment", "grouping_key", "exception_type")
        )
        assert_fields(contract.events(answer), [wanted])


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(
        contract, read_fixture("rollbar/occurrence.json"), read_fixture("sentry/issue-created.json"), "Rollbar"
    )


# --- property tests --------------------------------------------------------------------------

POOL = json_files(OWN)


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(fixtures_dir: Path, data: st.DataObject) -> None:
    shared = json_files(fixtures_dir / "rollbar")
    document = data.draw(st.sampled_from(shared + POOL))
    check(source(), {}, encode(mutate(data, document)))
