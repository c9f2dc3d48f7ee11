"""The agents through the real server: offline analysis at once, model work in the agent loop, never in the way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from liberation_guardian.config import load_text
from tests.e2e.conftest import CONFIG, SECRETS, TOKEN, Stack
from tests.fixtures.recorder import Recorder
from tests.fixtures.server import running_server
from tests.fixtures.smtp import SmtpServer
from tests.triage.llm.vendors import VENDORS, agent_yaml, openai_reply

LOCAL = VENDORS["local"]
# A problem no rule, pattern or past incident knows, and the offline classifier does not place either.
PERSONAL = {
    "title": "Loyalty points not credited for jane.doe@example.com",
    "message": "request from 203.0.113.9",
    "severity": "medium",
    "service": "loyalty",
}
ANSWER = {
    "summary": "The points job reads a stale replica.",
    "hypotheses": [{"cause": "Replica lag during the nightly load", "likelihood": 0.7, "evidence": "one customer"}],
    "impact": "Customers miss points they earned.",
    "plan": ["Re-run the points job against the primary."],
    "prevention": ["Read balances from the primary."],
}
ESCALATE = {
    "action": "escalate",
    "severity": "high",
    "category": "database",
    "confidence": 0.9,
    "rationale": "Customers lose points they paid for; a person must look today.",
}


@contextmanager
def stack_with_models(tmp_path: Path, *agents: tuple[str, Recorder]) -> Iterator[Stack]:
    """The e2e stack of conftest.py with `ai_providers` entries pointed at recording model servers."""
    entries = "\n".join(agent_yaml(name, LOCAL, model.url, max_retries=0) for name, model in agents)
    with (
        Recorder() as slack,
        Recorder() as hooks,
        SmtpServer(username="oncall@example.com", password="smtp-password") as smtp,
    ):
        env = {
            **SECRETS,
            "GUARDIAN_ADMIN_TOKEN": TOKEN,
            "SLACK_WEBHOOK_URL": slack.url + "/services/T000/B000/XXXXSECRET",
            "OUTGOING_WEBHOOK_URL": hooks.url + "/hook",
        }
        text = CONFIG.format(tmp=tmp_path, smtp_port=smtp.port) + f"ai_providers:\n{entries}\n"
        config = load_text(text, env, base_dir=tmp_path)
        with running_server(config) as server:
            yield Stack(server=server, slack=slack, hooks=hooks, smtp=smtp)


def post_generic(stack: Stack, body: dict[str, Any]) -> None:
    answer = httpx.post(stack.url + "/webhook/generic", json=body, headers={"X-API-Key": SECRETS["GENERIC_API_KEY"]})
    assert answer.status_code == 202, answer.text


def get(stack: Stack, path: str) -> Any:
    answer = httpx.get(stack.url + path, headers=stack.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def recommendations(stack: Stack, incident_id: int, **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(stack.url + f"/api/incidents/{incident_id}/recommendations", params=params, headers=stack.auth)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


def settled(stack: Stack, incident_id: int) -> bool:
    items = recommendations(stack, incident_id)
    return bool(items) and all(item["status"] != "pending" for item in items)


def test_the_loop_completes_model_requests_with_masked_content(tmp_path: Path) -> None:
    with Recorder() as analyst, Recorder() as triager:
        analyst.respond_with(200, openai_reply(ANSWER))
        triager.respond_with(200, openai_reply(ESCALATE))
        with stack_with_models(tmp_path, ("analysis_agent", analyst), ("triage_agent", triager)) as stack:
            post_generic(stack, PERSONAL)
            stack.server.wait_until(lambda: get(stack, "/api/incidents")["total"] == 1, what="the incident")
            stack.server.wait_until(lambda: settled(stack, 1), what="the model requests to be completed")

            for model in (analyst, triager):
                (request,) = model.requests
                assert b"jane.doe@example.com" not in request.body and b"203.0.113.9" not in request.body
                assert "<email-1>" in LOCAL.prompt_text(request) and "<ipv4-1>" in LOCAL.prompt_text(request)

            offline, by_model = recommendations(stack, 1, agent="analysis")
            assert offline["produced_by"] == "offline" and offline["status"] == "done"
            assert (by_model["produced_by"], by_model["status"]) == ("local:llama3.1", "done")
            assert by_model["summary"] == ANSWER["summary"] and by_model["plan"] == ANSWER["plan"]
            assert get(stack, "/api/incidents/1")["recommendation"]["id"] == by_model["id"]
            assert get(stack, "/api/incidents")["items"][0]["recommendation"]["summary"] == ANSWER["summary"]

            (opinion,) = recommendations(stack, 1, agent="triage")
            assert opinion["details"]["reconsidered"]["re_decided"] is True
            decisions = get(stack, "/api/decisions?incident_id=1")["items"]
            assert [(d["action"], d["transition"]) for d in decisions][0] == ("escalate", "reconsidered")
            assert decisions[0]["decided_by"] == "llm:local/llama3.1"
            # The re-decision is an escalation like any other: it reaches the escalation channels.
            (mail,) = stack.smtp.wait_for(1, timeout=15)
            assert "Customers lose points" in mail.message.get_body(preferencelist=("plain",)).get_content()


def test_a_malformed_model_answer_leaves_the_offline_analysis_standing(tmp_path: Path) -> None:
    with Recorder() as analyst:
        analyst.respond_with(200, openai_reply("not json at all"))
        analyst.respond_with(200, openai_reply({"summary": "still not an analysis"}))
        with stack_with_models(tmp_path, ("analysis_agent", analyst)) as stack:
            post_generic(stack, PERSONAL)
            stack.server.wait_until(lambda: get(stack, "/api/incidents")["total"] == 1, what="the incident")
            stack.server.wait_until(lambda: settled(stack, 1), what="the model request to fail")
            offline, failed = recommendations(stack, 1, agent="analysis")
            assert failed["status"] == "failed" and "invalid answer after repair" in failed["error"]
            assert len(analyst.requests) == 2  # the answer and one repair
            assert get(stack, "/api/incidents/1")["recommendation"]["id"] == offline["id"]
            assert offline["summary"].startswith("Most likely: ")
            assert recommendations(stack, 1, status="failed") == [failed]


def test_a_critical_incident_escalates_while_the_model_is_still_thinking(tmp_path: Path, fixtures_dir: Path) -> None:
    with Recorder() as analyst:
        analyst.respond_with(200, openai_reply(ANSWER), delay=60)
        with stack_with_models(tmp_path, ("analysis_agent", analyst)) as stack:
            post_generic(stack, PERSONAL)
            analyst.wait_for(1, timeout=15)  # the loop is now waiting on a slow model
            body = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
            sent = httpx.post(
                stack.url + "/webhook/alertmanager", content=body, headers={"Content-Type": "application/json"}
            )
            assert sent.status_code == 202
            stack.server.wait_until(
                lambda: sum("[CRITICAL]" in m.message["Subject"] for m in stack.smtp.wait_for(0)) == 2,
                what="the two escalations",
            )
            # Escalated while the model had still not answered the first incident's request ...
            assert [r["status"] for r in recommendations(stack, 1, agent="analysis")] == ["done", "pending"]
            # ... and nothing about the critical incidents was put to it.
            assert len(analyst.requests) == 1
            for incident_id in (2, 3):
                assert all(r["produced_by"] == "offline" for r in recommendations(stack, incident_id))
            analyst.close()  # cut the slow answer short so the server stops promptly


def test_recommendations_of_an_unknown_incident_and_bad_filters(tmp_path: Path) -> None:
    with Recorder() as analyst, stack_with_models(tmp_path, ("analysis_agent", analyst)) as stack:
        missing = httpx.get(stack.url + "/api/incidents/42/recommendations", headers=stack.auth)
        assert missing.status_code == 404 and missing.json()["error"] == "no incident 42"
        post_generic(stack, PERSONAL)
        stack.server.wait_until(lambda: get(stack, "/api/incidents")["total"] == 1, what="the incident")
        bad = httpx.get(stack.url + "/api/incidents/1/recommendations?agent=oracle", headers=stack.auth)
        assert bad.status_code == 422 and "agent" in bad.json()["error"]
        assert httpx.get(stack.url + "/api/incidents/1/recommendations").status_code == 401
