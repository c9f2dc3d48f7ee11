"""The agent loop against an OpenAI-compatible server on loopback: requests, answers, failures, second opinions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from liberation_guardian.agents import AgentLoop
from liberation_guardian.agents.llm import ANALYSIS
from liberation_guardian.events import Frequency, Severity, Status, UserImpact
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Decision, GroupMember, Incident, Payload, Recommendation
from liberation_guardian.triage.base import Action, Case, Decider, Verdict
from liberation_guardian.triage.llm.prompt import verdict_schema
from tests.agents.conftest import Guardian, open_guardian
from tests.fixtures.recorder import Recorder
from tests.triage.llm.vendors import VENDORS, agent_yaml, openai_reply

LOCAL = VENDORS["local"]
ANSWER = {
    "summary": "The deploy of checkout v2.4.1 dropped the plan field the handler reads.",
    "hypotheses": [
        {"cause": "A malformed request from one client", "likelihood": 0.2, "evidence": "one user"},
        {"cause": "Deploy v2.4.1 removed the plan field", "likelihood": 0.8, "evidence": "deploy 10 min before"},
    ],
    "impact": "Every checkout with a plan fails.",
    "plan": ["Roll checkout back to v2.4.0.", "Restore the field and add a test."],
    "prevention": ["Canary deploys with rollback on error rate."],
}
ESCALATE = {
    "action": "escalate",
    "severity": "high",
    "category": "application",
    "confidence": 0.9,
    "rationale": "Every checkout fails; a person must look now.",
}
PERSONAL = {
    "title": "KeyError: 'plan' for jane.doe@example.com",
    "message": "request from 203.0.113.9 failed",
    "exception_type": "KeyError",
    "service": "checkout",
}


@pytest.fixture
def model() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


class Unsure:
    """An offline classifier that always leans to investigate, with the confidence it is given."""

    name = "classifier"

    def __init__(self, confidence: float) -> None:
        self.confidence = confidence

    def decide(self, case: Case) -> Verdict:
        return Verdict(Action.investigate, case.severity, case.category, self.confidence, self.name, "a guess")


def with_agents(
    tmp_path: Path, model: Recorder, *names: str, deciders: Sequence[Decider] = (), **extra: Any
) -> tuple[Guardian, AgentLoop]:
    entries = "\n".join(agent_yaml(name, LOCAL, model.url, max_retries=0, **extra) for name in names)
    guardian = open_guardian(tmp_path, f"ai_providers:\n{entries}\n", deciders)
    loop = AgentLoop.build(guardian.config, guardian.sessions, guardian.policy)
    assert loop is not None
    return guardian, loop


def requests_of(guardian: Guardian, event_id: int, agent: str) -> list[Recommendation]:
    return [r for r in guardian.recommendations(event_id) if r.agent == agent]


def test_a_pending_analysis_is_completed_with_masked_content_outside_the_store(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "analysis_agent")
    model.respond_with(200, openai_reply(ANSWER, 300, 90))
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    offline, waiting = requests_of(guardian, event, "analysis")
    assert (offline.produced_by, offline.status) == ("offline", "done")
    assert (waiting.produced_by, waiting.status, waiting.summary) == (
        "local:llama3.1",
        "pending",
        "Waiting for local:llama3.1.",
    )
    assert model.requests == []  # nothing is asked while the event is processed

    assert loop.run_once() == 1
    (request,) = model.wait_for(1)
    for secret in (b"jane.doe@example.com", b"203.0.113.9"):
        assert secret not in request.body
    text = LOCAL.prompt_text(request)
    assert "KeyError: 'plan' for <email-1>" in text and "request from <ipv4-1> failed" in text
    assert "offline first analysis (likelihood, cause):" in text and "reported severity: high" in text
    assert LOCAL.schema(request) == ANALYSIS.schema and request.json["response_format"]["json_schema"]["strict"]
    assert "$ref" not in json.dumps(ANALYSIS.schema)

    (done,) = [r for r in requests_of(guardian, event, "analysis") if r.id == waiting.id]
    assert done.status == "done" and done.error is None and done.produced_by == "local:llama3.1"
    assert done.summary == ANSWER["summary"]
    assert [h["likelihood"] for h in done.hypotheses] == [0.8, 0.2]  # ranked, likeliest first
    assert done.hypotheses[0]["evidence"] == {"text": "deploy 10 min before"}
    assert done.plan == ANSWER["plan"] and done.prevention == ANSWER["prevention"]
    assert done.impact["summary"] == ANSWER["impact"]
    assert done.details["masked"] == {"email": 1, "ipv4": 1}
    assert (done.details["input_tokens"], done.details["output_tokens"], done.details["requests"]) == (300, 90, 1)
    assert len(done.details["prompt_sha256"]) == 64
    assert loop.run_once() == 0


def test_a_malformed_answer_is_repaired_once_then_the_offline_analysis_stands(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "analysis_agent")
    model.respond_with(200, openai_reply("I think it was the deploy."))
    model.respond_with(200, openai_reply({"summary": "only a summary"}))
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    assert loop.run_once() == 1
    first, repair = model.wait_for(2)
    assert "did not match the required structure" in LOCAL.last_user_text(repair)
    offline, failed = requests_of(guardian, event, "analysis")
    assert failed.status == "failed" and "invalid answer after repair" in (failed.error or "")
    assert "hypotheses: Field required" in (failed.error or "")
    assert failed.summary == "The model gave no usable answer; the offline recommendation stands."
    assert offline.status == "done" and offline.hypotheses  # untouched


def test_a_provider_error_and_a_spent_budget_are_reasons_too(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "analysis_agent", max_tokens_per_hour=100)
    model.respond_with(400, {"error": {"message": "model not loaded"}})
    model.respond_with(200, openai_reply(ANSWER, 100, 50))
    first = guardian.receive(0, **PERSONAL)
    guardian.process()
    loop.run_once()
    assert "BadRequestError" in (requests_of(guardian, first, "analysis")[1].error or "")
    second = guardian.receive(0, title="ValueError: bad plan id", service="checkout")
    third = guardian.receive(0, title="TypeError: plan is None", service="checkout")
    guardian.process()
    assert loop.run_once() == 2
    assert requests_of(guardian, second, "analysis")[1].status == "done"  # 150 tokens spent: over the 100
    spent = requests_of(guardian, third, "analysis")[1]
    assert spent.status == "failed" and "over its hourly budget" in (spent.error or "")
    assert len(model.requests) == 2


def test_the_model_is_asked_while_the_store_stays_writable(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "analysis_agent")
    model.respond_with(200, openai_reply(ANSWER), delay=30)
    guardian.receive(0, **PERSONAL)
    guardian.process()
    worker = threading.Thread(target=loop.run_once)
    worker.start()
    model.wait_for(1)
    # SQLite lets one writer at a time in: if the loop held a transaction while waiting, this would wait too.
    with transaction(guardian.sessions) as session:
        session.add(Payload(source="test", body="{}"))
    assert worker.is_alive()  # still waiting on the model after the write went through
    model.close()
    worker.join(10)


def test_a_request_is_taken_by_one_loop_only(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "analysis_agent")
    other = AgentLoop.build(guardian.config, guardian.sessions, guardian.policy)
    assert other is not None
    model.respond_with(200, openai_reply(ANSWER))
    guardian.receive(0, **PERSONAL)
    guardian.process()
    claimed = loop._claim(4)
    assert len(claimed) == 1 and other.run_once() == 0
    assert model.requests == []


def test_critical_and_recognised_incidents_get_no_model_request(tmp_path: Path, model: Recorder) -> None:
    guardian, _ = with_agents(tmp_path, model, "analysis_agent", "triage_agent")
    critical = guardian.receive(0, title="Checkout is down", severity=Severity.critical, service="checkout")
    known = guardian.receive(0, title="ReferenceError: heck is not defined", exception_type="ReferenceError")
    unknown = guardian.receive(0, **PERSONAL)
    guardian.process()
    # The offline analysis and the infrastructure agent's plan, and nothing waiting on a model.
    assert [(r.agent, r.status) for r in guardian.recommendations(critical)] == [
        ("analysis", "done"),
        ("infrastructure", "done"),
    ]
    assert [(r.agent, r.status) for r in guardian.recommendations(known)] == [("analysis", "done")]
    assert [(r.agent, r.kind, r.status) for r in guardian.recommendations(unknown)] == [
        ("analysis", "root_cause", "done"),
        ("analysis", "root_cause", "pending"),
        ("triage", "second_opinion", "pending"),
    ]


def test_a_second_opinion_that_escalates_re_decides_the_incident(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "triage_agent")
    model.respond_with(200, openai_reply(ESCALATE))
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    assert loop.run_once() == 1
    (request,) = model.wait_for(1)
    assert LOCAL.schema(request) == verdict_schema() and b"jane.doe@example.com" not in request.body
    (opinion,) = requests_of(guardian, event, "triage")
    assert opinion.status == "done" and opinion.kind == "second_opinion"
    assert opinion.summary.startswith("Second opinion: escalate at high (90%). Every checkout fails")
    with guardian.sessions() as session:
        first, second = session.scalars(select(Decision).order_by(Decision.id)).all()
        incident = session.get(Incident, first.incident_id)
        member = session.scalar(select(GroupMember).where(GroupMember.decision_id == second.id))
    assert (first.action, first.decided_by) == ("investigate", "fallback")
    assert (second.action, second.decided_by, second.transition) == ("escalate", "llm:local/llama3.1", "reconsidered")
    assert second.severity == "high" and second.rationale.startswith("Second opinion: Every checkout fails")
    assert second.details["replaces_decision"] == first.id and second.details["recommendation_id"] == opinion.id
    assert incident is not None and incident.transition_seq == 2
    assert member is not None and member.action == "escalate"  # handed to the dispatcher like any decision
    assert opinion.details["reconsidered"] == {
        "re_decided": True,
        "decision_id": second.id,
        "replaces_decision": first.id,
    }


@pytest.mark.parametrize(
    ("answer", "incident", "reason"),
    [
        ({"action": "investigate"}, {}, "the model agrees with the decision's action"),
        ({"action": "auto_acknowledge", "confidence": 0.6}, {}, "confidence 0.60 is under"),
        ({"action": "auto_acknowledge"}, {"frequency": Frequency.frequent}, "it recurs frequent"),
        ({"action": "auto_acknowledge"}, {"user_impact": UserImpact.multiple_users}, "it affects multiple_users"),
        ({"action": "auto_fix", "confidence": 0.85}, {}, "decision_rules.auto_fix.conditions.confidence_threshold"),
        ({"action": "auto_acknowledge", "severity": "critical"}, {}, "a critical judgement must escalate"),
        ({"action": "escalate"}, {"status": "acknowledged"}, "the incident is acknowledged now"),
    ],
)
def test_a_second_opinion_never_quiets_unsafely(
    tmp_path: Path, model: Recorder, answer: dict[str, Any], incident: dict[str, Any], reason: str
) -> None:
    guardian, loop = with_agents(tmp_path, model, "triage_agent")
    model.respond_with(200, openai_reply({**ESCALATE, "confidence": 0.95, **answer}))
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    with transaction(guardian.sessions) as session:
        row = session.get(Incident, guardian.incident_of(event))
        assert row is not None
        for key, value in incident.items():
            setattr(row, key, value)
    loop.run_once()
    (opinion,) = requests_of(guardian, event, "triage")
    assert opinion.status == "done" and opinion.details["reconsidered"]["re_decided"] is False
    assert reason in opinion.details["reconsidered"]["reason"]
    with guardian.sessions() as session:
        assert [d.decided_by for d in session.scalars(select(Decision))] == ["fallback"]


def test_a_confident_quiet_second_opinion_acknowledges(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "triage_agent")
    quiet = {**ESCALATE, "action": "auto_acknowledge", "severity": "low", "confidence": 0.92}
    model.respond_with(200, openai_reply(quiet))
    event = guardian.receive(0, title="Client disconnected during upload", severity=Severity.medium)
    guardian.process()
    loop.run_once()
    with guardian.sessions() as session:
        incident = session.get(Incident, guardian.incident_of(event))
        latest = session.scalars(select(Decision).order_by(Decision.id.desc())).first()
    assert incident is not None and incident.status == "acknowledged"
    assert incident.acknowledged_by == "guardian:llm:local/llama3.1"
    assert latest is not None and latest.action == "auto_acknowledge"
    assert latest.severity == "medium"  # never below what the tool reported


def test_a_resolved_incident_is_not_re_decided(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "triage_agent")
    model.respond_with(200, openai_reply(ESCALATE))
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    guardian.receive(0, **{**PERSONAL, "status": Status.resolved})
    guardian.process()
    loop.run_once()
    (opinion,) = requests_of(guardian, event, "triage")
    assert opinion.details["reconsidered"]["reason"] == "the incident was decided again since the request"


@pytest.mark.parametrize(("confidence", "asked"), [(0.45, True), (0.85, False)])
def test_an_unsure_classifier_has_not_placed_the_case(
    tmp_path: Path, model: Recorder, confidence: float, asked: bool
) -> None:
    guardian, _ = with_agents(tmp_path, model, "triage_agent", deciders=[Unsure(confidence)])
    event = guardian.receive(0, **PERSONAL)
    guardian.process()
    assert bool(requests_of(guardian, event, "triage")) is asked


def test_a_repeated_problem_gets_its_second_opinion_from_the_cache(tmp_path: Path, model: Recorder) -> None:
    guardian, loop = with_agents(tmp_path, model, "triage_agent")
    model.respond_with(200, openai_reply({**ESCALATE, "action": "investigate"}))
    # Two incidents (the tool keys them apart) of one problem (the same words up to the numbers).
    first = guardian.receive(0, title="Order 1234 stuck in PAID", grouping_key="a", severity=Severity.medium)
    again = guardian.receive(0, title="Order 98 stuck in PAID", grouping_key="b", severity=Severity.medium)
    guardian.process()
    assert guardian.incident_of(first) != guardian.incident_of(again)
    assert loop.run_once() == 2
    assert len(model.requests) == 1
    (asked,) = requests_of(guardian, first, "triage")
    (cached,) = requests_of(guardian, again, "triage")
    assert asked.details["cached"] is False and asked.details["requests"] == 1
    assert cached.details["cached"] is True and cached.details["requests"] == 0
    assert cached.summary == asked.summary
