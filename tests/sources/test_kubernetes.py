"""Kubernetes source: Event objects, lists and EventLists, reason table, namespace filter, auth, HTTP contract.

The payloads under tests/sources/payloads/kubernetes/ follow the core/v1 and events.k8s.io/v1 Event
schemas documented at https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
(and kubernetes-event-exporter's additions to involvedObject); their origin is described in that
folder's SOURCES.md.
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
from liberation_guardian.sources.kubernetes import KubernetesConfig, KubernetesSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture, contract_server
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, basic_auth, json_files, json_object, read_payload
from tests.sources.conftest import documented_config, without_each_key

SECRET = "s3cret"
OWN = PAYLOADS / "kubernetes"
INDEXER = "search-indexer-7c9d8b6f5g-q2w4z"

# path (shared fixture, or "own/<file>") -> expected fields of each event
CASES: dict[str, list[dict[str, Any]]] = {
    "kubernetes/event-v1-killing.json": [
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Pod default/hello-world-7ff854f459-kl4hq: Killing",
            "message": "Stopping container hello-world",
            "service": "hello-world",
            "environment": "default",
            "grouping_key": "kubernetes:default/Pod/hello-world-7ff854f459-kl4hq:Killing",
            "occurred_at": "2020-11-27T12:04:06+00:00",
        }
    ],
    "kubernetes/event-v1-normal-pulling.json": [
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Pod default/stanza-g6rzd: Pulling",
            "message": 'Pulling image "observiq/stanza:dev"',
            "service": "stanza",
            "environment": "default",
            "grouping_key": "kubernetes:default/Pod/stanza-g6rzd:Pulling",
            "occurred_at": "2020-08-13T16:43:57+00:00",
        }
    ],
    "kubernetes/event-v1-scalingreplicaset.json": [
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Deployment default/hello-world: ScalingReplicaSet",
            "message": "Scaled up replica set hello-world-6b9d85fbd6 to 1",
            "service": "hello-world",
            "environment": "default",
            "grouping_key": "kubernetes:default/Deployment/hello-world:ScalingReplicaSet",
            "occurred_at": "2020-11-27T12:04:05+00:00",
        }
    ],
    "own/warning-backoff.json": [
        {
            "status": Status.firing,
            "severity": Severity.high,
            "title": "Pod shop/checkout-5d8f7c9b6d-x7kqp: BackOff",
            "message": "Back-off restarting failed container checkout in pod "
            "checkout-5d8f7c9b6d-x7kqp_shop(5a3c9e1b-7d2f-4b6a-8c0e-9f1a2b3c4d5e)",
            "service": "checkout-api",
            "environment": "shop",
            "grouping_key": "kubernetes:shop/Pod/checkout-5d8f7c9b6d-x7kqp:BackOff",
            "occurred_at": "2024-03-12T14:17:02+00:00",
        }
    ],
    "own/node-not-ready.json": [
        {
            "status": Status.firing,
            "severity": Severity.critical,
            "title": "Node node-3: NodeNotReady",
            "message": "Node node-3 status is now: NodeNotReady",
            "service": "node-3",
            "environment": None,
            "grouping_key": "kubernetes:/Node/node-3:NodeNotReady",
            "occurred_at": "2024-03-12T14:30:12+00:00",
        }
    ],
    "own/node-ready.json": [
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": "Node node-3: NodeReady",
            "message": "Node node-3 status is now: NodeReady",
            "service": "node-3",
            "environment": None,
            "grouping_key": "kubernetes:/Node/node-3:NodeNotReady",
            "occurred_at": "2024-03-12T14:36:40+00:00",
        }
    ],
    "own/eventlist-scheduling.json": [
        {
            "status": Status.firing,
            "severity": Severity.high,
            "title": f"Pod shop/{INDEXER}: FailedScheduling",
            "message": "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
            "2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
            "scheduling, 2 No preemption victims found for incoming pod.",
            "service": "search-indexer",
            "environment": "shop",
            "grouping_key": f"kubernetes:shop/Pod/{INDEXER}:FailedScheduling",
            "occurred_at": "2024-03-12T14:44:30+00:00",
        },
        {
            "status": Status.resolved,
            "severity": Severity.info,
            "title": f"Pod shop/{INDEXER}: Scheduled",
            "message": f"Successfully assigned shop/{INDEXER} to node-1",
            "service": "search-indexer",
            "environment": "shop",
            "grouping_key": f"kubernetes:shop/Pod/{INDEXER}:FailedScheduling",
            "occurred_at": "2024-03-12T14:46:05.118233+00:00",
        },
    ],
    "own/events-k8s-io-v1-unhealthy.json": [
        {
            "status": Status.firing,
            "severity": Severity.medium,
            "title": "Pod payments/payments-0: Unhealthy",
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "service": "payments",
            "environment": "payments",
            "grouping_key": "kubernetes:payments/Pod/payments-0:Unhealthy",
            "occurred_at": "2024-03-12T15:04:11.913240+00:00",
        }
    ],
}


def source(secret: str | None = None, **config: Any) -> KubernetesSource:
    return KubernetesSource(KubernetesConfig(**config), {"webhook_secret": secret} if secret else {})


def read(read_fixture: Callable[[str], bytes], path: str) -> bytes:
    return read_payload(read_fixture, OWN, path)


def load(read_fixture: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(read_fixture, path))


def event_body(**fields: Any) -> bytes:
    """A Warning event of a pod in `shop`, with `fields` replacing or adding top-level fields."""
    base = json.loads((OWN / "warning-backoff.json").read_bytes())
    return json.dumps({**base, **fields}).encode()


@pytest.mark.parametrize("path", CASES)
def test_payload_normalizes(read_fixture: Callable[[str], bytes], path: str) -> None:
    events = source().parse({}, read(read_fixture, path))
    got = [
        {
            "status": event.status,
            "severity": event.severity,
            "title": event.title,
            "message": event.message,
            "service": event.service,
            "environment": event.environment,
            "grouping_key": event.grouping_key,
            "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        }
        for event in events
    ]
    assert got == CASES[path]
    assert all((event.source, event.kind, event.links) == ("kubernetes", "event", []) for event in events)


def test_every_own_payload_is_covered() -> None:
    assert {f"own/{path.name}" for path in OWN.glob("*.json")} <= set(CASES)


def test_labels_and_extra(read_fixture: Callable[[str], bytes]) -> None:
    [event] = source().parse({}, read(read_fixture, "own/warning-backoff.json"))
    assert event.labels == {
        "namespace": "shop",
        "kind": "Pod",
        "name": "checkout-5d8f7c9b6d-x7kqp",
        "reason": "BackOff",
        "type": "Warning",
        "component": "kubelet",
        "host": "node-3",
        "field_path": "spec.containers{checkout}",
    }
    assert event.extra == {
        "count": 14,
        "uid": "0b6f4c7e-5f3a-4d8e-9a51-1c2d3e4f5a6b",
        "first_timestamp": "2024-03-12T14:05:31Z",
    }
    [v2] = source().parse({}, read(read_fixture, "own/events-k8s-io-v1-unhealthy.json"))
    assert (v2.extra["count"], v2.extra["action"], v2.labels["component"], v2.labels["host"]) == (
        5,
        "Probe",
        "kubelet",
        "node-2",
    )


def test_a_list_and_an_eventlist_give_one_event_per_item(read_fixture: Callable[[str], bytes]) -> None:
    items = [load(read_fixture, "own/warning-backoff.json"), load(read_fixture, "kubernetes/event-v1-killing.json")]
    as_list = source().parse({}, json.dumps(items).encode())
    as_eventlist = source().parse({}, json.dumps({"kind": "EventList", "items": items}).encode())
    assert [event.title for event in as_list] == [event.title for event in as_eventlist]
    assert len(as_list) == 2
    assert source().parse({}, b"[]") == []
    assert source().parse({}, b'{"kind": "EventList", "items": []}') == []


@pytest.mark.parametrize(
    ("reason", "event_type", "severity", "status"),
    [
        ("NodeNotReady", "Normal", Severity.critical, Status.firing),
        ("SystemOOM", "Warning", Severity.critical, Status.firing),
        ("CrashLoopBackOff", "Warning", Severity.high, Status.firing),
        ("FailedMount", "Warning", Severity.high, Status.firing),
        ("OOMKilling", "Warning", Severity.high, Status.firing),
        ("Evicted", "Warning", Severity.high, Status.firing),
        ("Rebooted", "Warning", Severity.high, Status.firing),
        ("Unhealthy", "Warning", Severity.medium, Status.firing),
        ("SomethingNew", "Custom", Severity.medium, Status.firing),
        ("SomethingNew", None, Severity.medium, Status.firing),
        ("Pulled", "Normal", Severity.info, Status.resolved),
        ("Scheduled", "Normal", Severity.info, Status.resolved),
        (None, "Warning", Severity.medium, Status.firing),
    ],
)
def test_reason_and_type_decide(reason: str | None, event_type: str | None, severity: Severity, status: Status) -> None:
    [event] = source().parse({}, event_body(reason=reason, type=event_type))
    assert (event.severity, event.status) == (severity, status)


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("NodeReady", "NodeNotReady"),
        ("Scheduled", "FailedScheduling"),
        ("SuccessfulAttachVolume", "FailedAttachVolume"),
        ("SuccessfulCreate", "FailedCreate"),
        ("NodeHasNoDiskPressure", "NodeHasDiskPressure"),
        ("NodeHasSufficientMemory", "NodeHasInsufficientMemory"),
        ("NodeHasSufficientPID", "NodeHasInsufficientPID"),
        ("ProvisioningSucceeded", "ProvisioningFailed"),
    ],
)
def test_recovery_reasons_resolve_the_failure_key(reason: str, failure: str) -> None:
    [ended] = source().parse({}, event_body(reason=reason, type="Normal"))
    [failed] = source().parse({}, event_body(reason=failure, type="Warning"))
    assert (failed.status, ended.status) == (Status.firing, Status.resolved)
    assert ended.grouping_key == failed.grouping_key == f"kubernetes:shop/Pod/checkout-5d8f7c9b6d-x7kqp:{failure}"


@pytest.mark.parametrize(
    ("kind", "name", "service"),
    [
        ("Pod", "web-6d4cf56db6-x2lq9", "web"),
        ("Pod", "backup-28374650-k7ghz", "backup"),
        ("Pod", "fluent-bit-z8kq2", "fluent-bit"),
        ("Pod", "postgres-2", "postgres"),
        ("Pod", "standalone", "standalone"),
        ("Pod", "my-pod-abcde", "my-pod-abcde"),  # vowels never appear in generated suffixes
        ("ReplicaSet", "web-6d4cf56db6", "web"),
        ("Job", "backup-28374650", "backup"),
        ("Deployment", "web-2", "web-2"),
        ("Node", "ip-10-0-1-12.ec2.internal", "ip-10-0-1-12.ec2.internal"),
    ],
)
def test_service_strips_generated_suffixes(kind: str, name: str, service: str) -> None:
    involved = {"kind": kind, "name": name, "namespace": "shop"}
    assert source().parse({}, event_body(involvedObject=involved))[0].service == service


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        ({"app.kubernetes.io/name": "checkout", "app": "legacy"}, "checkout"),
        ({"app_kubernetes_io/name": "checkout"}, "checkout"),
        ({"k8s-app": "kube-dns"}, "kube-dns"),
        ({"tier": "web"}, "checkout"),
        ([{"Key": "app", "Value": "listed"}], "checkout"),
    ],
)
def test_app_label_names_the_service(labels: object, service: str) -> None:
    involved = {"kind": "Pod", "name": "checkout-5d8f7c9b6d-x7kqp", "namespace": "shop", "labels": labels}
    assert source().parse({}, event_body(involvedObject=involved))[0].service == service


def test_namespace_filter_keeps_listed_namespaces_and_cluster_objects(read_fixture: Callable[[str], bytes]) -> None:
    filtered = source(namespace_filter=["shop"])
    items = [
        load(read_fixture, "own/warning-backoff.json"),
        load(read_fixture, "kubernetes/event-v1-killing.json"),
        load(read_fixture, "own/node-not-ready.json"),
    ]
    events = filtered.parse({}, json.dumps(items).encode())
    assert [event.environment for event in events] == ["shop", None]
    assert filtered.parse({}, read(read_fixture, "kubernetes/event-v1-killing.json")) == []
    assert len(source().parse({}, json.dumps(items).encode())) == 3


def test_config_fields_and_future_keys() -> None:
    properties = KubernetesConfig.model_json_schema()["properties"]
    assert properties["kubeconfig_path"]["not_yet_used"] is True
    assert "not_yet_used" not in properties["namespace_filter"]
    assert KubernetesConfig(namespace_filter=["a"]).namespace_filter == ["a"]
    with pytest.raises(ValidationError):
        KubernetesConfig.model_validate({"namespaces": ["a"]})
    with pytest.raises(ValidationError):
        KubernetesConfig.model_validate({"namespace_filter": "shop"})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"reason": "BackOff", "message": "x"}', "no involvedObject"),
        (b'{"items": [{"reason": "BackOff"}]}', r"items\[0\] has no involvedObject"),
        (b'{"items": [3]}', r"items\[0\] is not a JSON object"),
        (b"[null]", r"items\[0\] is not a JSON object"),
        (b'"an event"', "expected a Kubernetes Event"),
        (b'{"involvedObject": "Pod/x"}', "no involvedObject"),
    ],
)
def test_bodies_without_events_are_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, body)


@pytest.mark.parametrize("other", ["sentry/issue-created.json", "alertmanager/firing-2-alerts.json"])
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not a Kubernetes Event"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    body = read(read_fixture, "own/eventlist-scheduling.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


@pytest.mark.parametrize("path", [path for path in CASES if "eventlist" not in path])
def test_any_field_removed_still_parses_or_is_invalid(read_fixture: Callable[[str], bytes], path: str) -> None:
    payload = load(read_fixture, path)
    nested = tuple(key for key in ("involvedObject", "regarding") if key in payload)
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            assert removed in ("involvedObject", "regarding"), removed
            continue
        assert all(event.title for event in events), removed


@pytest.mark.parametrize(
    "headers",
    [
        {"x-guardian-token": SECRET},
        {"authorization": f"Bearer {SECRET}"},
        {"authorization": basic_auth("exporter", SECRET)},
    ],
    ids=["token", "bearer", "basic"],
)
def test_right_secret_passes(headers: dict[str, str]) -> None:
    source(SECRET).verify(headers, b"{}")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Guardian-Token"),
        ({"x-guardian-token": "wrong"}, "does not match"),
        ({"authorization": "Bearer wrong"}, "do not match"),
    ],
    ids=["missing", "wrong-token", "wrong-bearer"],
)
def test_wrong_or_missing_secret_is_unauthorized(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        source(SECRET).verify(headers, b"{}")


def test_no_secret_accepts_anything_and_sign_matches_verify() -> None:
    source().verify({}, b"anything")
    assert source().sign(b"{}") == {}
    assert source(SECRET).sign(b"{}") == {"X-Guardian-Token": SECRET}
    source(SECRET).verify({"x-guardian-token": SECRET}, b"{}")


def test_registered_with_group_and_scheme() -> None:
    assert registry()["kubernetes"] is KubernetesSource
    assert KubernetesSource.group == "infrastructure"
    assert "X-Guardian-Token" in KubernetesSource.auth_scheme
    with pytest.raises(TypeError):
        KubernetesSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = KubernetesConfig.model_validate(documented_config("kubernetes"))
    assert config.webhook_secret_env == "KUBERNETES_WEBHOOK_SECRET"
    assert config.namespace_filter == ["shop", "payments"]


# --- HTTP contract --------------------------------------------------------------------------------


contract = contract_fixture("kubernetes")


def stored(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "event",
        "status": expected["status"].value,
        "severity": expected["severity"].value,
        "title": expected["title"],
        "service": expected["service"],
        "grouping_key": expected["grouping_key"],
        # An event without an environment is stored with core.environment.
        "environment": expected["environment"] or "production",
    }


def test_contract_every_payload_is_stored_normalized(
    contract: ContractServer, read_fixture: Callable[[str], bytes]
) -> None:
    for path, expected in CASES.items():
        answer = contract.post(read(read_fixture, path), {"User-Agent": "kube-event-exporter"})
        assert_fields(contract.events(answer), [stored(item) for item in expected])


def test_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    body = read(read_fixture, "own/warning-backoff.json")
    assert_refusals(contract, body, read_fixture("sentry/issue-created.json"), "not a Kubernetes Event")
    assert contract.post(body, {"Authorization": f"Bearer {contract.secret}"}, sign=False).status_code == 202


def test_contract_namespace_filter_answers_202_with_no_events(
    tmp_path_factory: pytest.TempPathFactory, read_fixture: Callable[[str], bytes]
) -> None:
    with contract_server("kubernetes", tmp_path_factory, extra={"namespace_filter": ["payments"]}) as server:
        dropped = server.post(read(read_fixture, "own/warning-backoff.json"))
        assert (dropped.status_code, dropped.json()["accepted"]) == (202, 0)
        kept = server.post(read(read_fixture, "own/events-k8s-io-v1-unhealthy.json"))
        assert_fields(server.events(kept), [stored(CASES["own/events-k8s-io-v1-unhealthy.json"][0])])


# --- property tests -------------------------------------------------------------------------------


@FUZZ
@given(value=json_values | shaped_values)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))
    check(source(namespace_filter=["shop", ""]), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(fixtures_dir: Path, data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(json_files(fixtures_dir / "kubernetes", OWN)))
    check(source(), {}, encode(mutate(data, document)))


@FUZZ
@given(body=st.binary(max_size=64))
def test_random_bytes_return_events_or_a_source_error(body: bytes) -> None:
    check(source(), {}, body)
