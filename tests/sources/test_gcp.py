"""Google Cloud Monitoring source: webhook and Pub/Sub push bodies, severity, Basic/bearer auth, refusals.

Own payloads: tests/sources/payloads/gcp/ (a Pub/Sub push delivery of an open incident, and the
console's test notification; origins in SOURCES.md there).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources.gcp import GcpConfig, GcpSource
from tests.sources._contract import ContractServer, assert_fields, contract_server
from tests.sources._fuzz import check, encode, json_values, mutate, shaped_values
from tests.sources.conftest import documented_config, without_each_key

OWN = Path(__file__).parent / "payloads" / "gcp"
SECRET = "s3cret"
CLOSED = "gcp-monitoring/incident-closed-v1.2.json"
PUSH = "own:pubsub-push-incident-open.json"
TEST = "own:webhook-test-notification.json"

FIXTURES: list[tuple[str, dict[str, Any]]] = [
    (
        CLOSED,
        {
            "kind": "incident",
            "status": Status.resolved,
            "severity": Severity.medium,
            "title": "Monitor-Project-Cluster: VM Instance - CPU utilization [MAX]",
            "message_start": "CPU utilization for internal-project",
            "service": None,
            "environment": None,
            "grouping_key": "gcp:0.opqiw61fsv7p",
            "links": [
                "https://console.cloud.google.com/monitoring/alerting/incidents/0.lxfiw61fsv7p?project=internal-project",
                "https://myownpersonaldomain.com/playbook?name=${resource.name}",
            ],
            "occurred_at": "2020-01-01T11:11:11+00:00",
        },
    ),
    (
        PUSH,
        {
            "kind": "incident",
            "status": Status.firing,
            "severity": Severity.high,
            "title": "Test-incident-canary: VM Instance - Sent packets",
            "message_start": "Sent packets for flanksource-sandbox",
            "service": None,
            "environment": None,
            "grouping_key": "gcp:0.nrwotmyokd9n",
            "links": [
                "https://console.cloud.google.com/monitoring/alerting/alerts/0.nrwotmyokd9n"
                "?channelType=cloud-pubsub&project=flanksource-sandbox"
            ],
            "occurred_at": "2025-05-02T09:39:54+00:00",
        },
    ),
    (
        TEST,
        {
            "kind": "test",
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "projects/12345/alertPolicies/12345: Example condition",
            "message_start": "Test Incident",
            "service": None,
            "environment": None,
            "grouping_key": "gcp:test:12345",
            "links": ["http://www.example.com"],
            "occurred_at": None,
        },
    ),
]


@pytest.fixture(scope="session")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads (`own:<file>`)."""

    def read_any(path: str) -> bytes:
        if path.startswith("own:"):
            return (OWN / path.removeprefix("own:")).read_bytes()
        return read_fixture(path)

    return read_any


def source(secret: str | None = None, **config: Any) -> GcpSource:
    return GcpSource(GcpConfig(**config), {"webhook_secret": secret} if secret else {})


def load(read: Callable[[str], bytes], path: str) -> dict[str, Any]:
    data = json.loads(read(path))
    assert isinstance(data, dict)
    return data


def pushed(notification: dict[str, Any]) -> bytes:
    """`notification` inside a Pub/Sub push request, as a push subscription delivers it."""
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return json.dumps(
        {"message": {"data": data, "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}
    ).encode()


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read: Callable[[str], bytes], path: str, expected: dict[str, Any]) -> None:
    [event] = source().parse({}, read(path))
    assert event.source == "gcp"
    assert (event.kind, event.status, event.severity, event.title) == (
        expected["kind"],
        expected["status"],
        expected["severity"],
        expected["title"],
    )
    assert event.message.startswith(expected["message_start"])
    assert (event.service, event.environment, event.grouping_key) == (
        expected["service"],
        expected["environment"],
        expected["grouping_key"],
    )
    assert [link.url for link in event.links] == expected["links"]
    occurred = event.occurred_at.isoformat() if event.occurred_at else None
    assert occurred == expected["occurred_at"]


def test_labels_and_extra_of_the_closed_incident(read: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(CLOSED))
    assert event.labels == {
        "labelkey": "labelvalue",
        "instance_id": "11223344",
        "project_id": "internal-project",
        "zone": "us-central1-c",
        "instance_name": "the name of the VM instance",
        "user-label-1": "important label",
        "user-label-2": "another label",
        "resource_type": "gce_instance",
        "metric_type": "compute.googleapis.com/instance/cpu/utilization",
        "project": "internal-project",
    }
    assert event.extra["observed_value"] == "0.835" and event.extra["documentation"].startswith("TEST ALERT")
    assert [link.title for link in event.links] == ["Cloud Monitoring incident", "Playbook"]


def test_the_same_notification_reads_the_same_by_webhook_and_by_pubsub(read: Callable[[str], bytes]) -> None:
    direct = source().parse({}, read(CLOSED))[0]
    via_push = source().parse({}, pushed(load(read, CLOSED)))[0]
    assert via_push.model_dump(exclude={"extra"}) == direct.model_dump(exclude={"extra"})
    assert via_push.extra["pubsub_subscription"] == "projects/p/subscriptions/s"


def test_open_and_closed_of_one_incident_share_the_grouping_key(read: Callable[[str], bytes]) -> None:
    notification = json.loads(base64.b64decode(load(read, PUSH)["message"]["data"]))
    opened = source().parse({}, json.dumps(notification).encode())[0]
    notification["incident"] |= {"state": "closed", "ended_at": 1746179000}
    closed = source().parse({}, json.dumps(notification).encode())[0]
    assert (opened.status, closed.status) == (Status.firing, Status.resolved)
    assert opened.grouping_key == closed.grouping_key == "gcp:0.nrwotmyokd9n"
    assert closed.occurred_at is not None and closed.occurred_at.timestamp() == 1746179000


def incident(**fields: Any) -> bytes:
    return json.dumps({"version": "1.2", "incident": {"incident_id": "0.a", "state": "open", **fields}}).encode()


@pytest.mark.parametrize(
    ("severity", "config", "expected"),
    [
        ("CRITICAL", {}, Severity.critical),
        ("Critical", {}, Severity.critical),
        ("ERROR", {}, Severity.high),
        ("Warning", {}, Severity.medium),
        ("No severity", {}, Severity.medium),
        (None, {}, Severity.medium),
        (None, {"severity": "high"}, Severity.high),
        ("something", {"severity": "low"}, Severity.low),
    ],
)
def test_severity(severity: str | None, config: dict[str, Any], expected: Severity) -> None:
    fields = {"severity": severity} if severity else {}
    assert source(**config).parse({}, incident(**fields))[0].severity is expected


def test_service_and_environment_come_from_labels() -> None:
    [event] = source().parse(
        {},
        incident(
            policy_user_labels={"service": "checkout", "env": "prod"},
            resource={"type": "cloud_run_revision", "labels": {"service_name": "checkout-v2"}},
        ),
    )
    assert (event.service, event.environment) == ("checkout", "prod")
    [event] = source().parse({}, incident(resource={"type": "cloud_run_revision", "labels": {"service_name": "api"}}))
    assert event.service == "api"


@pytest.mark.parametrize("ended_at", [0, None, "soon", 1e20])
def test_unset_end_times_are_ignored(ended_at: Any) -> None:
    [event] = source().parse({}, incident(state="closed", started_at=1577840461, ended_at=ended_at))
    assert event.occurred_at is not None and event.occurred_at.timestamp() == 1577840461


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "1.2"}', "no `incident` object"),
        (b'{"incident": "x"}', "no `incident` object"),
        (b'{"message": {"messageId": "1"}}', "no `data` string"),
        (b'{"message": {"data": "%%%"}}', "not Base64"),
        (json.dumps({"message": {"data": base64.b64encode(b"{trunc").decode()}}).encode(), "message.data"),
        (json.dumps({"message": {"data": base64.b64encode(b"[1]").decode()}}).encode(), "message.data"),
        (json.dumps({"message": {"data": base64.b64encode(b'{"a": 1}').decode()}}).encode(), "`incident`"),
        (b"[]", "array"),
    ],
)
def test_bodies_that_are_not_notifications_are_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "azure-monitor/common-schema-log-alert-fired.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="incident"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        source().parse({}, read_fixture(CLOSED)[:-5])


@pytest.mark.parametrize("path", [CLOSED, TEST])
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], path: str) -> None:
    for removed, body in without_each_key(load(read, path), nested=("incident",)):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed == "incident", removed
            continue
        assert event.title, removed


def test_any_push_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes]) -> None:
    for removed, body in without_each_key(load(read, PUSH), nested=("message",)):
        try:
            [event] = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("message", "message.data"), removed
            continue
        assert event.grouping_key == "gcp:0.nrwotmyokd9n", removed


def test_basic_password_and_bearer_pass() -> None:
    credentials = base64.b64encode(f"monitoring:{SECRET}".encode()).decode()
    source(SECRET).verify({"authorization": f"Basic {credentials}"}, b"{}")
    source(SECRET).verify({"authorization": f"Bearer {SECRET}"}, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic " + base64.b64encode(b"monitoring:wrong").decode()},
        {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"},  # a Pub/Sub OIDC token is not the secret
    ],
    ids=["missing", "wrong-token", "wrong-password", "oidc-token"],
)
def test_bad_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"{}")


def test_sign_produces_what_verify_accepts() -> None:
    signed = source(SECRET).sign(b"{}")
    assert signed["Authorization"].startswith("Basic ")
    source(SECRET).verify({name.lower(): value for name, value in signed.items()}, b"{}")
    assert source().sign(b"{}") == {}


def test_registered_as_infrastructure_with_the_gcp_monitoring_alias() -> None:
    assert registry()["gcp"] is GcpSource
    assert config_keys()["gcp-monitoring"] is GcpSource
    assert GcpSource.group == "infrastructure"


def test_oidc_keys_are_in_use_and_unknown_ones_refused() -> None:
    properties = GcpConfig.model_json_schema()["properties"]
    for key in ("oidc_audience", "oidc_service_account", "oidc_jwks_url"):
        assert "not_yet_used" not in properties[key]
    with pytest.raises(ValidationError):
        GcpConfig.model_validate({"oidc_issuer": "x"})


def test_oidc_replaces_the_shared_secret_check() -> None:
    """With OIDC configured, a request is checked for a token (tests/sources/test_oidc.py covers the token)."""
    oidc = source(
        oidc_audience="https://guardian.example.com/webhook/gcp", oidc_service_account="push@p.iam.gserviceaccount.com"
    )
    with pytest.raises(Unauthorized, match="oidc_audience is set"):
        oidc.verify({}, b"{}")
    assert oidc.sign(b"{}") == {}


def test_documented_example_config_validates() -> None:
    config = GcpConfig.model_validate(documented_config("gcp"))
    assert config.webhook_secret_env == "GCP_WEBHOOK_SECRET"


# --- through the real server ---


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
    with contract_server("gcp", tmp_path_factory) as server:
        yield server


CONTRACT = [
    (CLOSED, [{"kind": "incident", "status": "resolved", "grouping_key": "gcp:0.opqiw61fsv7p"}]),
    (PUSH, [{"kind": "incident", "status": "firing", "severity": "high", "grouping_key": "gcp:0.nrwotmyokd9n"}]),
    (TEST, [{"kind": "test", "status": "resolved", "severity": "info"}]),
]


@pytest.mark.parametrize(("path", "expected"), CONTRACT, ids=[case[0] for case in CONTRACT])
def test_contract_fixtures_are_stored_normalized(
    contract: ContractServer, read: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    assert_fields(contract.events(contract.post(read(path))), expected)


def test_contract_refusals(contract: ContractServer, read: Callable[[str], bytes]) -> None:
    body = read(CLOSED)
    assert contract.post(body, secret="not-the-secret").status_code == 401
    assert contract.post(body, sign=False).status_code == 401
    refused = contract.post(read("sentry/issue-created.json"))
    assert refused.status_code == 422 and "incident" in refused.json()["error"]


# --- property test ---

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def pool(fixtures_dir: Path) -> list[Any]:
    paths = [*sorted((fixtures_dir / "gcp-monitoring").glob("*.json")), *sorted(OWN.glob("*.json"))]
    documents = [json.loads(path.read_bytes()) for path in paths]
    # Pub/Sub payloads decoded, so mutations reach the notification inside; re-encoded by the test.
    documents += [
        {"message": {**d["message"], "data": json.loads(base64.b64decode(d["message"]["data"]))}}
        for d in documents
        if "message" in d
    ]
    return documents


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_never_escapes(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_fixtures_never_escape(pool: list[Any], data: st.DataObject) -> None:
    document = mutate(data, data.draw(st.sampled_from(pool)))
    message = document.get("message") if isinstance(document, dict) else None
    if isinstance(message, dict) and not isinstance(message.get("data"), str | None):
        message["data"] = base64.b64encode(json.dumps(message["data"]).encode()).decode()
    check(source(), {}, encode(document))
