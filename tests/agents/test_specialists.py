"""The specialists over a real store: who takes which incident, and the handling each kind of the spec gets."""

from __future__ import annotations

from typing import Any

import pytest

from liberation_guardian.events import Severity
from tests.agents.conftest import Guardian


def handled(guardian: Guardian, agent: str, **fields: Any) -> Any:
    event = guardian.receive(0, **fields)
    guardian.process()
    return guardian.advice(event, agent)


def alert(title: str, **fields: Any) -> dict[str, Any]:
    return {"source": "alertmanager", "kind": "alert", "title": title, **fields}


# -- the infrastructure agent: resource exhaustion, cost anomaly, security violation, network degradation ----------


def test_memory_exhaustion_in_a_pod_names_the_pod_and_raises_its_limit(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "infrastructure",
        **alert("Container api in pod shop/api-7d9f was OOMKilled", labels={"namespace": "shop", "pod": "api-7d9f"}),
    )
    assert advice.kind == "resource_exhaustion"
    assert advice.details == {"resource": "memory", "fix_template": "raise-memory-limit", "target": "pod shop/api-7d9f"}
    assert advice.plan[0] == "kubectl -n shop describe pod api-7d9f: confirm OOMKilled and the limit it hit."
    assert "raise its memory limit" in " ".join(advice.plan)
    assert advice.summary == "Memory exhausted on pod shop/api-7d9f: free it now, then add capacity."
    assert "Alert at 80% memory on pod shop/api-7d9f, before it runs out." in advice.prevention


@pytest.mark.parametrize(
    ("title", "labels", "resource", "first_words"),
    [
        ("Disk space low: / is 96% full on worker-3", {"instance": "worker-3"}, "disk", "Free space now"),
        ("CPU usage above 95% for 10m", {"instance": "web-1"}, "cpu", "Find the processes or pods using the CPU"),
        ("Too many open files in nginx", {"host": "edge-2"}, "file_descriptors", "List the open files"),
    ],
)
def test_each_exhausted_resource_gets_its_own_handling(
    guardian: Guardian, title: str, labels: dict[str, str], resource: str, first_words: str
) -> None:
    advice = handled(guardian, "infrastructure", **alert(title, labels=labels))
    assert advice.kind == "resource_exhaustion" and advice.details["resource"] == resource
    assert advice.plan[0].startswith(first_words)
    target = next(iter(labels.values()))
    assert target in advice.plan[0] and advice.evidence["target"].endswith(target)


def test_a_cost_anomaly_points_at_the_account_and_region(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "infrastructure",
        source="cloudwatch",
        kind="alarm",
        title="Billing alarm: estimated charges above 500 USD",
        labels={"account": "123456789012", "region": "us-east-1"},
    )
    assert advice.kind == "cost_anomaly"
    assert advice.summary.startswith("Cost anomaly in 123456789012 in us-east-1")
    assert advice.plan[0].startswith("Open the cost report for 123456789012 in us-east-1")
    # The cost playbook takes over from the generic steps.
    assert advice.evidence["playbook"]["id"] == "spend.cost-spike"
    assert advice.plan[1].startswith("Playbook (spend.cost-spike): ")
    assert any("unattached volumes" in step for step in advice.plan)
    assert any("budget" in step for step in advice.prevention)


def test_a_security_violation_seen_by_an_infrastructure_monitor_is_contained(guardian: Guardian) -> None:
    event = guardian.receive(
        0,
        **alert(
            "Unauthorized API calls from an unknown address to instance i-0abc",
            labels={"instance": "i-0abc", "source_ip": "198.51.100.7"},
        ),
    )
    guardian.process()
    infrastructure = guardian.advice(event, "infrastructure")
    assert infrastructure.kind == "security_violation"
    assert infrastructure.plan[0].startswith("Contain: isolate instance i-0abc")
    assert "Block 198.51.100.7 at the firewall / WAF." in infrastructure.plan
    # The security agent takes it too, by its threat level.
    assert guardian.advice(event, "security").kind == "security_patch"


@pytest.mark.parametrize(
    ("title", "issue"),
    [
        ("DNS resolution failing for api.internal on the edge network", "dns"),
        ("Packet loss of 12% on the network link to eu-west", "packet_loss"),
        ("Network: connection refused by payments gateway", "connection"),
    ],
)
def test_network_degradation_starts_at_the_failing_hop(guardian: Guardian, title: str, issue: str) -> None:
    advice = handled(guardian, "infrastructure", **alert(title, service="edge"))
    assert advice.kind == "network_degradation" and advice.details["network_issue"] == issue
    assert advice.details["fix_template"] == "retry-with-backoff"
    assert any("retry with backoff" in step for step in advice.plan)


# -- the security agent: by threat level ---------------------------------------------------------------------------


def test_a_leaked_secret_is_an_emergency_whatever_its_reported_severity(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="github",
        kind="secret_scanning_alert",
        title="Secret scanning alert: token publicly leaked in acme/app",
        severity=Severity.high,
        service="acme/app",
        labels={"secret_type": "github_personal_access_token", "repository": "acme/app"},
    )
    assert advice.kind == "emergency_response"
    assert advice.details == {"threat": "critical", "due_within_hours": 0, "fix_template": "rotate-secret"}
    assert advice.plan[0].startswith("Now: revoke github_personal_access_token in acme/app at its issuer")


def test_a_compromise_is_isolated_and_rebuilt(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="snyk",
        kind="vulnerability",
        title="Malicious package event-stream found (malware)",
        severity=Severity.critical,
        labels={"package": "event-stream"},
    )
    assert advice.kind == "emergency_response" and advice.details["threat"] == "critical"
    assert advice.summary == "Emergency response: event-stream may be compromised; isolate it now."
    assert advice.plan[1].startswith("Remove event-stream or pin it to the last known-good version")


def test_a_high_vulnerability_gets_the_patch_itself(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="github",
        kind="dependabot_alert",
        title="Dependabot alert: lodash vulnerable to command injection",
        severity=Severity.high,
        service="acme/shop",
        labels={
            "package": "lodash",
            "vulnerable_version_range": "< 4.17.21",
            "patched_version": "4.17.21",
            "cve_id": "CVE-2021-23337",
            "repository": "acme/shop",
        },
    )
    assert advice.kind == "security_patch"
    assert advice.details == {"threat": "high", "due_within_hours": 72, "fix_template": "bump-dependency"}
    assert advice.plan[0] == "Upgrade lodash < 4.17.21 to 4.17.21 (CVE-2021-23337) in a pull request on acme/shop."
    assert advice.evidence["advisory"] == "CVE-2021-23337"


def test_remote_code_execution_raises_a_medium_finding_to_a_patch(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="snyk",
        kind="vulnerability",
        title="Remote code execution (RCE) in log4j-core, fixed in 2.17.1",
        severity=Severity.medium,
        labels={"package": "log4j-core"},
    )
    assert advice.kind == "security_patch" and advice.details["threat"] == "high"
    assert advice.plan[0].startswith("Upgrade log4j-core to 2.17.1")


def test_a_medium_finding_is_scheduled(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="github",
        kind="code_scanning_alert",
        title="Code scanning security alert: query built from user input",
        severity=Severity.medium,
        labels={"location": "src/db.py:42"},
    )
    assert advice.kind == "scheduled_security_update"
    assert advice.details == {"threat": "medium", "due_within_hours": 720, "fix_template": None}
    assert (
        advice.plan[0]
        == "Open a ticket to review and fix 'src/db.py:42' in the next maintenance window (within 30 days)."
    )


def test_a_low_finding_is_logged_and_monitored(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "security",
        source="npm_audit",
        kind="vulnerability",
        title="Vulnerable package ms: regular expression denial of service",
        severity=Severity.low,
        labels={"package": "ms"},
    )
    assert advice.kind == "log_and_monitor" and advice.details["due_within_hours"] is None
    assert advice.summary == "Log and monitor: ms is low risk for now."


# -- the performance agent: the bottleneck by type -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "kind", "template", "first_words"),
    [
        ("Slow SQL query on orders took 4.2s", "bottleneck_database", "raise-pool-size", "Find the slowest queries"),
        ("Latency up on api: GC pauses, heap at 95%", "bottleneck_memory", "raise-memory-limit", "Take a heap profile"),
        ("Slow search: disk write latency high (iowait 40%)", "bottleneck_io", None, "Find what reads or writes"),
        ("Latency up: CPU throttling on api", "bottleneck_cpu", "scale-out", "Profile"),
        ("Slow responses from the upstream payments API", "bottleneck_network", "raise-timeout", "Trace a slow"),
    ],
)
def test_each_bottleneck_gets_its_optimisation(
    guardian: Guardian, title: str, kind: str, template: str | None, first_words: str
) -> None:
    advice = handled(guardian, "performance", **alert(title, service="api"))
    assert advice.kind == kind and advice.details["fix_template"] == template
    assert advice.plan[0].startswith(first_words)


def test_slow_code_names_the_endpoint_and_what_was_measured(guardian: Guardian) -> None:
    advice = handled(
        guardian,
        "performance",
        **alert("p95 latency of checkout above 2s", service="shop", labels={"transaction": "/checkout", "p95": "2.4s"}),
    )
    assert advice.kind == "bottleneck_code"
    assert advice.summary == "Slow code in /checkout in shop: profile it and fix the hot spot. Measured: p95 2.4s."
    assert advice.plan[0].startswith("Profile /checkout in shop")


# -- who takes what ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "agents"),
    [
        ({"title": "TypeError: undefined is not a function"}, ["analysis"]),
        ({"title": "npm ERESOLVE could not resolve peer dependency", "source": "github"}, ["analysis"]),
        ({"title": "Database connection failed: could not reach primary"}, ["analysis", "infrastructure"]),
        ({"title": "Deadlock detected on table orders"}, ["analysis", "performance"]),
    ],
)
def test_the_category_chooses_the_specialist(guardian: Guardian, fields: dict[str, Any], agents: list[str]) -> None:
    event = guardian.receive(0, **fields)
    guardian.process()
    assert [r.agent for r in guardian.recommendations(event)] == agents
