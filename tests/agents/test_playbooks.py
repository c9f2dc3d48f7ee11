"""Playbooks in the agents' recommendations: named in the evidence, their steps in place of the generic ones."""

from __future__ import annotations

from typing import Any

from liberation_guardian.knowledge.playbooks import shipped_playbooks
from tests.agents.conftest import Guardian

DISK = shipped_playbooks().get("hosts.disk-full")
NODE = shipped_playbooks().get("clusters.node-not-ready")
FULL = "Filesystem /var on worker-3 is full: no space left on device"


def _steps(playbook_id: str) -> list[str]:
    return [f"Playbook ({playbook_id}): {step}" for step in shipped_playbooks().get(playbook_id).steps]


def _alert(title: str, **fields: Any) -> dict[str, Any]:
    return {"source": "alertmanager", "kind": "alert", "title": title, **fields}


def test_a_specialist_keeps_its_own_steps_and_follows_the_playbook_for_the_rest(guardian: Guardian) -> None:
    event = guardian.receive(0, **_alert(FULL, labels={"instance": "worker-3"}))
    guardian.process()
    advice = guardian.advice(event, "infrastructure")
    assert advice.kind == "resource_exhaustion"
    assert advice.evidence["playbook"] == {"id": "hosts.disk-full", "title": "A disk is full or filling up"}
    # What only the agent knows (the instance, what to add) first; then the playbook, in order, and its checks.
    assert advice.plan[0].startswith("Free space now") and "instance worker-3" in advice.plan[0]
    assert advice.plan[1].startswith("Then expand the volume")
    assert advice.plan[2:-1] == _steps("hosts.disk-full")
    assert advice.plan[-1] == f"Verify (hosts.disk-full): {' '.join(DISK.verify)}"
    assert not any(step.startswith("Check whether usage grew steadily") for step in advice.plan)


def test_the_analysis_keeps_the_runbook_of_its_pattern_and_points_at_the_playbook(guardian: Guardian) -> None:
    event = guardian.receive(0, **_alert(FULL, labels={"instance": "worker-3"}))
    guardian.process()
    analysis = guardian.advice(event, "analysis")
    assert analysis.evidence["pattern_id"] == "linux.disk-full"
    assert analysis.evidence["playbook"] == {"id": "hosts.disk-full", "title": DISK.title}
    runbook = [step for step in analysis.plan if step.startswith("Runbook (linux.disk-full): ")]
    assert runbook and not any(step.startswith("Playbook (") for step in analysis.plan)
    assert f"For the whole procedure, follow playbook hosts.disk-full: {DISK.title}." in analysis.plan
    assert analysis.plan[-1].startswith(f"Confirm (hosts.disk-full): {DISK.verify[0]}")
    assert analysis.plan[-1].endswith(f"(liberation-guardian resolve {guardian.incident_of(event)}).")


def test_without_a_runbook_the_analysis_follows_the_playbook_its_words_select(guardian: Guardian) -> None:
    event = guardian.receive(0, **_alert("Node worker-7 is NotReady", labels={"node": "worker-7"}))
    guardian.process()
    analysis = guardian.advice(event, "analysis")
    assert analysis.evidence["pattern_id"] is None and analysis.evidence["runbook"] == []
    assert analysis.evidence["playbook"] == {"id": "clusters.node-not-ready", "title": NODE.title}
    assert analysis.plan[1 : 1 + len(NODE.steps)] == _steps("clusters.node-not-ready")
    infrastructure = guardian.advice(event, "infrastructure")
    assert infrastructure.kind == "infrastructure_failure"
    assert infrastructure.plan[:2] == [
        "Check node worker-7: reachable, health check, recent events (kubectl describe / cloud console).",
        "Restart or replace node worker-7; drain it first if it still serves traffic.",
    ]
    assert infrastructure.plan[2:-1] == _steps("clusters.node-not-ready")


def test_the_security_agent_names_the_certificate_before_the_renewal_procedure(guardian: Guardian) -> None:
    event = guardian.receive(
        0, **_alert("SSL certificate for shop.example.com expires in 5 days", severity="medium", service="shop")
    )
    guardian.process()
    advice = guardian.advice(event, "security")
    assert advice.evidence["playbook"]["id"] == "connectivity.certificate-expiry"
    assert advice.plan[0].startswith("Open a ticket to review and fix")
    assert advice.plan[1:-1] == _steps("connectivity.certificate-expiry")
    assert advice.plan[-1].startswith("Verify (connectivity.certificate-expiry): ")


def test_no_playbook_leaves_the_plan_as_the_agent_wrote_it(guardian: Guardian) -> None:
    event = guardian.receive(0, title="KeyError: 'plan' in checkout", exception_type="KeyError", service="checkout")
    guardian.process()
    analysis = guardian.advice(event, "analysis")
    assert analysis.evidence["playbook"] is None
    assert not any(step.startswith(("Playbook (", "Verify (")) for step in analysis.plan)
    assert analysis.plan[-1].startswith("Confirm: the incident stays quiet for 30 min")
