"""The offline analysis agent over a real store: changes before an incident, related incidents, runbooks, impact."""

from __future__ import annotations

from pathlib import Path

from liberation_guardian.events import Severity, Status, UserImpact
from tests.agents.conftest import Guardian, open_guardian

ERROR = {"title": "KeyError: 'plan' in checkout", "exception_type": "KeyError", "service": "checkout"}


def deploy(guardian: Guardian, minutes_ago: float, service: str, **fields: object) -> int:
    values = {"source": "rollbar", "kind": "deploy", "status": Status.resolved, "severity": Severity.info}
    return guardian.receive(minutes_ago, title=f"Deploy of {service} v2.4.1", service=service, **{**values, **fields})


def test_a_deploy_of_the_same_service_ten_minutes_before_is_the_top_hypothesis(guardian: Guardian) -> None:
    same = deploy(guardian, 10, "checkout", environment="production")
    other = deploy(guardian, 2, "payments", environment="production")  # nearer, but another service
    staging = deploy(guardian, 5, "checkout", environment="staging")  # the same service, another environment
    too_early = deploy(guardian, 45, "checkout", environment="production")  # outside the 30 min window
    ci = guardian.receive(
        20,
        source="github",
        kind="workflow_run",
        title="CI build failed: tests on main in acme/checkout",
        service="acme/checkout",
        severity=Severity.high,
        labels={"repository": "acme/checkout"},
    )
    error = guardian.receive(0, environment="production", **ERROR)
    guardian.process()

    analysis = guardian.advice(error, "analysis")
    assert analysis.status == "done" and analysis.produced_by == "offline" and analysis.kind == "root_cause"
    top = analysis.hypotheses[0]
    assert top["evidence"] == {"event_id": same, "scope": "service"}
    assert top["cause"].startswith("Deploy 10 min before: Deploy of checkout v2.4.1")
    likelihoods = [h["likelihood"] for h in analysis.hypotheses]
    assert likelihoods == sorted(likelihoods, reverse=True) and 0 < top["likelihood"] <= 0.95
    ranked = [h["evidence"].get("event_id") for h in analysis.hypotheses]
    assert ranked.index(same) < ranked.index(other) and ranked.index(same) < ranked.index(staging)
    correlated = {c["event_id"]: c for c in analysis.evidence["correlated_events"]}
    assert set(correlated) == {same, other, staging, ci}  # the deploy 45 min before is outside the window
    assert too_early not in correlated
    assert correlated[ci]["change"] == "ci_failure" and correlated[ci]["scope"] == "repository"
    assert correlated[other]["scope"] == "global" and correlated[same]["minutes_before"] == 10.0
    assert "roll checkout back" in analysis.plan[0] and "Deploy of checkout v2.4.1" in analysis.plan[0]
    assert any("canary" in step for step in analysis.prevention)
    assert analysis.summary.startswith("Most likely: Deploy 10 min before")


def test_without_any_change_the_category_explains_and_the_plan_still_ends_with_a_check(guardian: Guardian) -> None:
    error = guardian.receive(0, **ERROR)
    guardian.process()
    analysis = guardian.advice(error, "analysis")
    assert analysis.evidence["correlated_events"] == []
    assert analysis.hypotheses[0]["cause"] == "A code defect on the path that raises KeyError"
    assert analysis.plan[-1].endswith(f"(liberation-guardian resolve {guardian.incident_of(error)}).")
    assert any("KeyError" in step for step in analysis.prevention)


def test_a_successful_build_and_an_opened_pull_request_are_not_suspects(guardian: Guardian) -> None:
    guardian.receive(
        5, source="github", kind="workflow_run", title="CI passed: tests", service="checkout",
        status=Status.resolved, severity=Severity.info,
    )  # fmt: skip
    guardian.receive(
        5, source="github", kind="pull_request", title="Pull request #7 opened: tidy (acme/checkout)",
        service="checkout", status=Status.resolved, severity=Severity.info,
    )  # fmt: skip
    merged = guardian.receive(
        3, source="github", kind="pull_request", title="Pull request #8 merged: new plan field (acme/checkout)",
        service="checkout", status=Status.resolved, severity=Severity.info,
    )  # fmt: skip
    error = guardian.receive(0, **ERROR)
    guardian.process()
    correlated = guardian.advice(error, "analysis").evidence["correlated_events"]
    assert [(c["event_id"], c["change"]) for c in correlated] == [(merged, "code_change")]


def test_a_configuration_change_from_a_generic_tool_counts(guardian: Guardian) -> None:
    change = guardian.receive(
        8, source="generic", kind="event", title="Feature flag new-checkout updated by ana", service="checkout",
        severity=Severity.info, status=Status.resolved,
    )  # fmt: skip
    error = guardian.receive(0, **ERROR)
    guardian.process()
    top = guardian.advice(error, "analysis").hypotheses[0]
    assert top["evidence"]["event_id"] == change and top["cause"].startswith("Configuration change 8 min before")


def test_an_earlier_incident_of_the_same_service_is_a_cascade_suspect(guardian: Guardian) -> None:
    database = guardian.receive(
        12, source="alertmanager", kind="alert", title="PostgreSQL too many connections", service="checkout",
        labels={"category": "database"},
    )  # fmt: skip
    error = guardian.receive(0, **ERROR)
    guardian.process()
    analysis = guardian.advice(error, "analysis")
    (related,) = analysis.evidence["related_incidents"]
    assert related["incident_id"] == guardian.incident_of(database) and related["status"] == "open"
    cascade = next(h for h in analysis.hypotheses if "cascade" in h["cause"])
    assert cascade["evidence"] == {"incident_id": guardian.incident_of(database)}
    assert cascade["likelihood"] == 0.45  # its category (database) is one others depend on
    assert "1 other open incident(s) in checkout" in analysis.impact["factors"]


def test_a_known_pattern_brings_its_runbook_into_the_plan(guardian: Guardian) -> None:
    error = guardian.receive(0, title="ReferenceError: heck is not defined", exception_type="ReferenceError")
    guardian.process()
    analysis = guardian.advice(error, "analysis")
    assert analysis.evidence["pattern_id"] == "javascript.reference-error"
    assert len(analysis.evidence["runbook"]) >= 3
    assert analysis.hypotheses[0]["evidence"] == {"pattern_id": "javascript.reference-error"}
    assert "A name is not defined" in analysis.hypotheses[0]["cause"]
    assert any(step.startswith("Runbook (javascript.reference-error): ") for step in analysis.plan)


def test_impact_grows_with_users_environment_and_recurrence(guardian: Guardian) -> None:
    quiet = guardian.receive(0, title="Slow report export", service="reports", severity=Severity.low)
    loud = guardian.receive(
        0, title="Checkout fails", service="checkout", environment="production",
        user_impact=UserImpact.multiple_users,
    )  # fmt: skip
    guardian.process()
    low = guardian.advice(quiet, "analysis").impact
    high = guardian.advice(loud, "analysis").impact
    assert low["level"] == "low" and high["level"] == "critical"
    assert high["factors"] == ["reported high", "multiple users affected", "in production"]
    assert high["summary"] == "Critical impact: reported high, multiple users affected, in production."


def test_quiet_acknowledgements_and_resolutions_get_no_analysis(tmp_path: Path) -> None:
    rules = "decision_rules:\n  auto_acknowledge:\n    patterns: ['Nightly backup retried']\n"
    guardian = open_guardian(tmp_path, rules)
    quiet = guardian.receive(0, title="Nightly backup retried", severity=Severity.low)
    error = guardian.receive(0, **ERROR)
    guardian.process()
    assert guardian.recommendations(quiet) == []
    guardian.receive(0, **{**ERROR, "status": Status.resolved})
    guardian.process()
    assert [r.agent for r in guardian.recommendations(error)] == ["analysis"]


def test_the_window_is_configurable_and_analysis_can_be_turned_off(tmp_path: Path) -> None:
    wide = open_guardian(tmp_path / "wide", "analysis:\n  correlation_window_minutes: 60\n")
    change = deploy(wide, 45, "checkout")
    error = wide.receive(0, **ERROR)
    wide.process()
    analysis = wide.advice(error, "analysis")
    assert [c["event_id"] for c in analysis.evidence["correlated_events"]] == [change]
    assert analysis.evidence["window_minutes"] == 60

    off = open_guardian(tmp_path / "off", "analysis:\n  enabled: false\n")
    error = off.receive(0, **ERROR)
    off.process()
    assert off.recommendations(error) == []
