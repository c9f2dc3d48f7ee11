"""Kubernetes Events, as an event exporter (kubernetes-event-exporter's webhook receiver) posts them.

Accepted bodies: one core/v1 Event object, a JSON array of them, or a v1 EventList
(`{"items": [...]}`); events.k8s.io/v1 fields are read too (`regarding`, `note`,
`reportingController`, `series.count`, `deprecated*`). kubernetes-event-exporter adds the
involved object's `labels` and `annotations` to `involvedObject`. Event kind: `event`, one per
Kubernetes Event.

Authentication: Kubernetes signs nothing and the exporter sends static headers. When
`webhook_secret_env` is set the request must carry the secret in `token_header` (default
`X-Guardian-Token`), or as a bearer token or Basic password in `Authorization`.

Severity and status, from `reason` first and `type` second:

| reason                                                                    | Severity | Status   |
|---------------------------------------------------------------------------|----------|----------|
| NodeNotReady, SystemOOM                                                   | critical | firing   |
| BackOff, CrashLoopBackOff, Failed, FailedScheduling, FailedMount,         | high     | firing   |
| FailedAttachVolume, FailedCreate, FailedCreatePodSandBox, FailedKillPod,  |          |          |
| FailedPostStartHook, FailedPreStopHook, ErrImagePull, ImagePullBackOff,   |          |          |
| OOMKilling, Evicted, EvictionThresholdMet, Rebooted, NetworkNotReady,     |          |          |
| NodeHasDiskPressure, NodeHasInsufficientMemory, NodeHasInsufficientPID,   |          |          |
| FreeDiskSpaceFailed, ImageGCFailed, ContainerGCFailed, ProvisioningFailed,|          |          |
| FailedBinding, KernelOops                                                 |          |          |
| NodeReady, Scheduled, SuccessfulAttachVolume, SuccessfulCreate,           | info     | resolved*|
| NodeHasNoDiskPressure, NodeHasSufficientMemory, NodeHasSufficientPID,     |          |          |
| ProvisioningSucceeded                                                     |          |          |
| any other reason, type Warning (or any type but Normal)                   | medium   | firing   |
| any other reason, type Normal                                             | info     | resolved |

*under the key of the failure they end (NodeReady resolves `...:NodeNotReady`).

The listed reasons count whatever the type: the node controller reports NodeNotReady as Normal.

Service: the involved object's `app.kubernetes.io/name`, `app` or `k8s-app` label when the
exporter sent labels, else its name with the generated suffix removed (pod template hash and
random suffix of Deployment pods, random suffix of DaemonSet and Job pods, StatefulSet ordinal,
CronJob schedule stamp, ReplicaSet hash). Environment: the involved object's namespace. With
`namespace_filter` set, events of objects in other namespaces are dropped (a body with none left
is answered 202 with 0 events); events of cluster-scoped objects such as Nodes are always kept.

Grouping key: `kubernetes:<namespace>/<kind>/<name>:<reason>` (namespace empty for cluster-scoped
objects).

Vendor docs: https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
and https://github.com/resmoio/kubernetes-event-exporter (webhook receiver)
Fixtures: kubernetes/event-v1-killing.json, kubernetes/event-v1-normal-pulling.json,
kubernetes/event-v1-scalingreplicaset.json, tests/sources/payloads/kubernetes/*.json
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, string_map, text
from liberation_guardian.sources._signatures import TokenHeaderConfig, require_token_or_authorization
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json

Payload = Mapping[str, Any]

_REASONS: dict[str, Severity] = {
    **dict.fromkeys(("NodeNotReady", "SystemOOM"), Severity.critical),
    **dict.fromkeys(
        (
            "BackOff",
            "CrashLoopBackOff",
            "Failed",
            "FailedScheduling",
            "FailedMount",
            "FailedAttachVolume",
            "FailedCreate",
            "FailedCreatePodSandBox",
            "FailedKillPod",
            "FailedPostStartHook",
            "FailedPreStopHook",
            "ErrImagePull",
            "ImagePullBackOff",
            "OOMKilling",
            "Evicted",
            "EvictionThresholdMet",
            "Rebooted",
            "NetworkNotReady",
            "NodeHasDiskPressure",
            "NodeHasInsufficientMemory",
            "NodeHasInsufficientPID",
            "FreeDiskSpaceFailed",
            "ImageGCFailed",
            "ContainerGCFailed",
            "ProvisioningFailed",
            "FailedBinding",
            "KernelOops",
        ),
        Severity.high,
    ),
}
# A reason that ends a failure, and the failure's reason (whose grouping key it resolves).
_RESOLVES: dict[str, str] = {
    "NodeReady": "NodeNotReady",
    "Scheduled": "FailedScheduling",
    "SuccessfulAttachVolume": "FailedAttachVolume",
    "SuccessfulCreate": "FailedCreate",
    "NodeHasNoDiskPressure": "NodeHasDiskPressure",
    "NodeHasSufficientMemory": "NodeHasInsufficientMemory",
    "NodeHasSufficientPID": "NodeHasInsufficientPID",
    "ProvisioningSucceeded": "ProvisioningFailed",
}
_APP_LABELS = ("app.kubernetes.io/name", "app_kubernetes_io/name", "app", "k8s-app")
# Generated name suffixes use this alphabet (no vowels, no 0, 1, 3), see k8s.io/apimachinery rand.
_RANDOM = "[bcdfghjklmnpqrstvwxz2456789]"
_GENERATED: dict[str, tuple[re.Pattern[str], ...]] = {
    "Pod": (
        re.compile(rf"(.+)-{_RANDOM}{{6,10}}-{_RANDOM}{{5}}"),  # Deployment: <rs hash>-<random>
        re.compile(rf"(.+)-[0-9]{{8,}}-{_RANDOM}{{5}}"),  # CronJob: <schedule stamp>-<random>
        re.compile(rf"(.+)-{_RANDOM}{{5}}"),  # DaemonSet, Job, generateName
        re.compile(r"(.+)-[0-9]+"),  # StatefulSet ordinal
    ),
    "ReplicaSet": (re.compile(rf"(.+)-{_RANDOM}{{6,10}}"),),
    "Job": (re.compile(r"(.+)-[0-9]{8,}"),),
}


class KubernetesConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.infrastructure.kubernetes`."""

    kubeconfig_path: str | None = Field(
        default=None,
        description="Kubeconfig for watching the cluster directly instead of an exporter; accepted, not used yet.",
        json_schema_extra={"not_yet_used": True},
    )
    namespace_filter: list[str] = Field(
        default_factory=list,
        description="Accept events of these namespaces only; empty accepts every namespace.",
    )


class KubernetesSource(Source):
    """Kubernetes Event objects forwarded by an event exporter."""

    name: ClassVar[str] = "kubernetes"
    group: ClassVar[str] = "infrastructure"
    config_model: ClassVar[type[SourceConfig]] = KubernetesConfig
    auth_scheme: ClassVar[str] = "shared token in X-Guardian-Token (configurable), or Authorization Bearer/Basic"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep `config` typed as KubernetesConfig; any other model is a wiring mistake."""
        if not isinstance(config, KubernetesConfig):
            raise TypeError(f"KubernetesSource needs a KubernetesConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret in the token header or Authorization when one is configured."""
        if self.secret is not None:
            require_token_or_authorization(self.secret, headers, self.settings.token_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The static header the exporter's webhook receiver is set up to send."""
        return {} if self.secret is None else {self.settings.token_header: self.secret}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn each Event of the body into one event, dropping namespaces outside the filter."""
        allowed = set(self.settings.namespace_filter)
        events = [_event(item, index) for index, item in enumerate(_items(load_json(body)))]
        return [event for event in events if not allowed or event.environment is None or event.environment in allowed]


def _items(data: object) -> list[Payload]:
    """The Event objects of a body: one Event, a list of Events, or an EventList."""
    if isinstance(data, dict):
        items = data.get("items")
        if isinstance(items, list):
            data = items
        elif _involved(data) is not None:
            return [data]
        else:
            raise PayloadInvalid(
                "not a Kubernetes Event: no involvedObject (core/v1) or regarding (events.k8s.io/v1) object, "
                "and no `items` list (EventList)"
            )
    if not isinstance(data, list):
        raise PayloadInvalid("expected a Kubernetes Event object, a list of them, or an EventList")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise PayloadInvalid(f"items[{index}] is not a JSON object")
    return data


def _involved(event: Payload) -> Payload | None:
    for key in ("involvedObject", "regarding"):
        if isinstance(found := event.get(key), dict):
            return found
    return None


def _event(event: Payload, index: int) -> NormalizedEvent:
    involved = _involved(event)
    if involved is None:
        raise PayloadInvalid(f"items[{index}] has no involvedObject or regarding object")
    metadata, source = _object(event.get("metadata")), _object(event.get("source") or event.get("deprecatedSource"))
    series = _object(event.get("series"))
    # Events about cluster-scoped objects (Nodes) live in "default" but belong to no namespace.
    namespace = text(involved.get("namespace")) or ""
    kind = text(involved.get("kind")) or "Object"
    name = text(involved.get("name")) or ""
    reason = text(event.get("reason")) or ""
    event_type = text(event.get("type")) or ""
    key_reason = reason
    if reason in _RESOLVES:
        status, severity, key_reason = Status.resolved, Severity.info, _RESOLVES[reason]
    elif reason in _REASONS:
        status, severity = Status.firing, _REASONS[reason]
    elif event_type == "Normal":
        status, severity = Status.resolved, Severity.info
    else:
        status, severity = Status.firing, Severity.medium
    labels = string_map(involved.get("labels"))
    where = f"{namespace}/{name}" if namespace else name
    count = next(
        (c for c in (event.get("count"), series.get("count"), event.get("deprecatedCount")) if _small(c)), None
    )
    tags = {
        "namespace": namespace,
        "kind": kind,
        "name": name,
        "reason": reason,
        "type": event_type,
        "component": first_text(
            source.get("component"), event.get("reportingController"), event.get("reportingComponent")
        ),
        "host": first_text(source.get("host"), event.get("reportingInstance")),
        "field_path": text(involved.get("fieldPath")),
    }
    return NormalizedEvent(
        source=KubernetesSource.name,
        kind="event",
        status=status,
        severity=severity,
        title=f"{kind} {where}: {reason or 'event'}",
        message=first_text(event.get("message"), event.get("note")) or "",
        service=first_text(*(labels.get(label) for label in _APP_LABELS)) or _workload(kind, name),
        environment=namespace or None,
        grouping_key=f"kubernetes:{namespace}/{kind}/{name}:{key_reason}",
        labels={key: item for key, item in tags.items() if item},
        occurred_at=_occurred(event, series, metadata),
        extra={
            key: item
            for key, item in (
                ("count", count),
                ("uid", text(metadata.get("uid"))),
                ("action", text(event.get("action"))),
                ("first_timestamp", text(event.get("firstTimestamp"))),
                ("cluster", text(event.get("clusterName"))),
            )
            if item is not None
        },
    )


def _workload(kind: str, name: str) -> str | None:
    """The object's name without the suffix its controller generated."""
    for pattern in _GENERATED.get(kind, ()):
        if match := pattern.fullmatch(name):
            return match.group(1)
    return name or None


def _occurred(event: Payload, series: Payload, metadata: Payload) -> datetime | None:
    for candidate in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime"),
        event.get("deprecatedLastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event.get("deprecatedFirstTimestamp"),
        metadata.get("creationTimestamp"),
    ):
        if (found := parse_time(candidate)) is not None:
            return found
    return None


def _small(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}
