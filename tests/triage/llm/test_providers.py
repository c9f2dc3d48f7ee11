"""Each provider through its official client against a fake server speaking that vendor's API on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from liberation_guardian.triage.base import Action
from liberation_guardian.triage.llm import LlmDecider, build_llm_decider
from liberation_guardian.triage.llm.prompt import SYSTEM_PROMPT, verdict_schema
from tests.fixtures.recorder import Recorder
from tests.triage.llm.vendors import FAST_RETRY, GOOD, VENDORS, Vendor, agent_yaml, case, load_agents

EVENT = case(
    "KeyError: 'plan' in billing for jane.doe@example.com",
    message="Traceback ...\nclient 203.0.113.9 sent Authorization: Bearer abcdef0123456789abcdef",
    service="billing",
    exception_type="KeyError",
)


@pytest.fixture(params=sorted(VENDORS))
def vendor(request: pytest.FixtureRequest) -> Vendor:
    return VENDORS[request.param]


@pytest.fixture
def server() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def decider_for(vendor: Vendor, server: Recorder, **extra: object) -> LlmDecider:
    decider = build_llm_decider(load_agents(agent_yaml("triage_agent", vendor, server.url, **extra)))
    assert decider is not None
    return decider


def test_the_request_carries_model_schema_and_masked_event_and_the_answer_decides(
    vendor: Vendor, server: Recorder
) -> None:
    server.respond_with(200, vendor.reply(GOOD, 150, 30))
    verdict = decider_for(vendor, server, max_tokens=321, temperature=0.2).decide(EVENT)

    (request,) = server.wait_for(1)
    assert request.method == "POST"
    assert request.path.split("?")[0] == vendor.path
    body = request.json
    if vendor.provider != "google":
        assert body["model"] == vendor.model
    # Nothing personal or secret reaches the vendor, anywhere in the request.
    for secret in (b"jane.doe@example.com", b"203.0.113.9", b"abcdef0123456789abcdef"):
        assert secret not in request.body
    text = vendor.prompt_text(request)
    assert "<email-1>" in text and "<ipv4-1>" in text and "Bearer <bearer_token-1>" in text
    assert "KeyError: 'plan' in billing for <email-1>" in text
    assert SYSTEM_PROMPT.strip() in text
    assert vendor.schema(request) == verdict_schema()

    assert verdict is not None
    assert verdict.action == Action.auto_acknowledge
    assert verdict.severity.value == "low"
    assert verdict.confidence == 0.82
    assert verdict.decided_by == f"llm:{vendor.provider}/{vendor.model}"
    assert verdict.rationale == GOOD["rationale"]
    assert verdict.details["input_tokens"] == 150 and verdict.details["output_tokens"] == 30
    assert verdict.details["requests"] == 1
    assert len(verdict.details["prompt_sha256"]) == 64
    assert verdict.details["masked"] == {"email": 1, "ipv4": 1, "bearer_token": 1}


def test_vendor_specific_request_fields(vendor: Vendor, server: Recorder) -> None:
    server.respond_with(200, vendor.reply(GOOD))
    decider_for(vendor, server, max_tokens=321, temperature=0.2).decide(EVENT)
    (request,) = server.wait_for(1)
    body = request.json
    if vendor.provider == "anthropic":
        # The client sends the key as x-api-key or, in current versions, as a bearer token.
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        assert key == "sk-test-key"
        assert "anthropic-version" in request.headers
        assert body["max_tokens"] == 321
        assert body["tool_choice"] == {"type": "tool", "name": "record_verdict"}
        assert [tool["name"] for tool in body["tools"]] == ["record_verdict"]
        assert body["messages"][0]["role"] == "user"
    elif vendor.provider == "google":
        assert request.headers["x-goog-api-key"] == "sk-test-key"
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["maxOutputTokens"] == 321 and config["temperature"] == 0.2
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
        assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert body["temperature"] == 0.2
        if vendor.provider == "openai":
            assert request.headers["authorization"] == "Bearer sk-test-key"
            assert body["max_completion_tokens"] == 321 and "max_tokens" not in body
        else:
            # A local server needs no key; OpenAI-compatible servers read max_tokens.
            assert body["max_tokens"] == 321 and "max_completion_tokens" not in body


def test_a_malformed_answer_gets_one_repair_request_quoting_the_error(vendor: Vendor, server: Recorder) -> None:
    server.respond_with(200, vendor.reply(vendor.malformed))
    server.respond_with(200, vendor.reply(GOOD))
    verdict = decider_for(vendor, server).decide(EVENT)
    first, repair = server.wait_for(2)
    assert "did not match the required structure" in vendor.last_user_text(repair)
    assert "did not match" not in vendor.last_user_text(first)
    assert verdict is not None and verdict.action == Action.auto_acknowledge
    assert verdict.details["requests"] == 2


def test_two_malformed_answers_give_up_without_a_verdict(vendor: Vendor, server: Recorder) -> None:
    server.respond_with(200, vendor.reply(vendor.malformed))
    server.respond_with(200, vendor.reply(vendor.malformed))
    assert decider_for(vendor, server).decide(EVENT) is None
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_retryable_status_is_retried_then_succeeds(vendor: Vendor, server: Recorder, status: int) -> None:
    server.respond_with(status, {"error": {"message": "try again", "code": status}}, headers=FAST_RETRY)
    server.respond_with(200, vendor.reply(GOOD))
    verdict = decider_for(vendor, server).decide(EVENT)
    assert verdict is not None and verdict.action == Action.auto_acknowledge
    assert len(server.wait_for(2)) == 2


def test_a_timeout_is_retried(vendor: Vendor, server: Recorder) -> None:
    server.respond_with(200, vendor.reply(GOOD), delay=3.0)
    server.respond_with(200, vendor.reply(GOOD))
    verdict = decider_for(vendor, server, timeout_seconds=0.5).decide(EVENT)
    assert verdict is not None and verdict.action == Action.auto_acknowledge
    assert len(server.wait_for(2)) == 2


def test_retries_are_bounded_and_then_the_offline_decision_stands(vendor: Vendor, server: Recorder) -> None:
    for _ in range(3):
        server.respond_with(503, {"error": {"message": "overloaded"}}, headers=FAST_RETRY)
    assert decider_for(vendor, server, max_retries=1).decide(EVENT) is None
    assert len(server.requests) == 2  # the first attempt and one retry


def test_a_client_error_is_not_retried(vendor: Vendor, server: Recorder) -> None:
    server.respond_with(400, {"error": {"message": "bad request", "code": 400}})
    assert decider_for(vendor, server).decide(EVENT) is None
    assert len(server.requests) == 1


def test_the_repair_turn_repeats_the_previous_answer_as_the_assistant(server: Recorder) -> None:
    vendor = VENDORS["openai"]
    server.respond_with(200, vendor.reply("not json"))
    server.respond_with(200, vendor.reply(GOOD))
    decider_for(vendor, server).decide(EVENT)
    _, repair = server.wait_for(2)
    roles = [message["role"] for message in repair.json["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert repair.json["messages"][2]["content"] == "not json"
    assert "Invalid JSON" in json.dumps(repair.json["messages"][3])
