"""The LLM decider: cache, hourly budgets, the fallback chain, and how it is built from the configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from liberation_guardian.config import load_text
from liberation_guardian.config.schema import AIAgentConfig
from liberation_guardian.errors import ConfigError
from liberation_guardian.triage.llm import build_llm_decider
from liberation_guardian.triage.llm.budget import HourlyBudget
from liberation_guardian.triage.llm.cache import LruCache, cache_key
from tests.fixtures.recorder import Recorder
from tests.fixtures.spec import spec_example_config
from tests.triage.llm.vendors import GOOD, VENDORS, agent_yaml, case, load_agents

ROOT = Path(__file__).resolve().parents[3]
OPENAI, ANTHROPIC, LOCAL = VENDORS["openai"], VENDORS["anthropic"], VENDORS["local"]


@pytest.fixture
def server() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


@pytest.fixture
def backup() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def test_a_repeated_problem_is_answered_from_the_cache_without_a_request(server: Recorder) -> None:
    server.respond_with(200, OPENAI.reply(GOOD))
    decider = build_llm_decider(load_agents(agent_yaml("triage_agent", OPENAI, server.url)))
    assert decider is not None
    first = decider.decide(case("Timeout after 30s talking to 10.0.0.5", exception_type="TimeoutError"))
    # Same source, title (up to numbers and addresses) and exception type: the same problem.
    again = decider.decide(case("Timeout after 45s talking to 10.0.0.9", exception_type="TimeoutError"))
    assert len(server.requests) == 1
    assert first is not None and again is not None
    assert again.action == first.action and again.decided_by == first.decided_by
    assert first.details["cached"] is False and again.details["cached"] is True
    assert again.details["requests"] == 0
    # A different exception type is a different problem.
    server.respond_with(200, OPENAI.reply(GOOD))
    decider.decide(case("Timeout after 30s talking to 10.0.0.5", exception_type="ReadTimeout"))
    assert len(server.requests) == 2


def test_a_failed_consultation_is_not_cached(server: Recorder) -> None:
    server.respond_with(400, {"error": {"message": "bad"}})
    server.respond_with(200, OPENAI.reply(GOOD))
    decider = build_llm_decider(load_agents(agent_yaml("triage_agent", OPENAI, server.url)))
    assert decider is not None
    assert decider.decide(case()) is None
    assert decider.decide(case()) is not None
    assert len(server.requests) == 2


def test_cache_keys_ignore_case_numbers_and_ids() -> None:
    a = case("Order 1234 failed for id 9f1c2e3d4b5a6978", exception_type="ValueError")
    b = case("ORDER 98 failed for id 0a0b0c0d0e0f0a0b", exception_type="valueerror")
    assert cache_key(a) == cache_key(b)
    assert cache_key(a) != cache_key(case("Order 1234 failed", exception_type="ValueError", source="github"))


def test_the_cache_forgets_the_least_recently_used_first() -> None:
    cache: LruCache[int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_over_its_token_budget_the_decider_asks_nothing_and_logs_once(
    server: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    server.respond_with(200, OPENAI.reply(GOOD, input_tokens=80, output_tokens=40))
    config = load_agents(agent_yaml("triage_agent", OPENAI, server.url, max_tokens_per_hour=100))
    decider = build_llm_decider(config)
    assert decider is not None
    assert decider.decide(case("first problem")) is not None
    with caplog.at_level(logging.WARNING, logger="liberation_guardian.triage.llm"):
        assert decider.decide(case("second problem")) is None
        assert decider.decide(case("third problem")) is None
    assert len(server.requests) == 1
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1
    assert "120 tokens" in warnings[0].__dict__["reason"]


def test_a_cost_budget_counts_tokens_at_the_configured_price(server: Recorder) -> None:
    server.respond_with(200, OPENAI.reply(GOOD, input_tokens=800, output_tokens=200))
    entry = agent_yaml("triage_agent", OPENAI, server.url, cost_per_1k_tokens=0.5, max_cost_per_hour=0.4)
    decider = build_llm_decider(load_agents(entry))
    assert decider is not None
    assert decider.decide(case("first problem")) is not None
    assert decider.decide(case("second problem")) is None
    assert len(server.requests) == 1


def test_the_budget_recovers_when_the_hour_has_passed() -> None:
    now = [0.0]
    budget = HourlyBudget(max_tokens=100, clock=lambda: now[0])
    budget.spend(150)
    assert budget.exceeded() is not None
    now[0] = 3599.0
    assert budget.exceeded() is not None
    now[0] = 3600.5
    assert budget.exceeded() is None
    assert budget.tokens_last_hour() == 0


def test_a_failing_triage_agent_falls_back_to_the_next_entry(server: Recorder, backup: Recorder) -> None:
    server.respond_with(200, ANTHROPIC.reply(ANTHROPIC.malformed))
    server.respond_with(200, ANTHROPIC.reply(ANTHROPIC.malformed))
    backup.respond_with(200, LOCAL.reply(GOOD))
    config = load_agents(
        agent_yaml("triage_agent", ANTHROPIC, server.url, fallback=["ollama"]),
        agent_yaml("ollama", LOCAL, backup.url),
    )
    decider = build_llm_decider(config)
    assert decider is not None
    verdict = decider.decide(case())
    assert len(server.requests) == 2  # the question and its repair
    assert len(backup.requests) == 1
    assert verdict is not None
    assert verdict.decided_by == "llm:local/llama3.1"
    assert verdict.details["agent"] == "ollama"


def test_an_entry_over_budget_is_skipped_for_the_next(server: Recorder, backup: Recorder) -> None:
    server.respond_with(200, OPENAI.reply(GOOD, input_tokens=500, output_tokens=500))
    backup.respond_with(200, LOCAL.reply(GOOD))
    config = load_agents(
        agent_yaml("triage_agent", OPENAI, server.url, max_tokens_per_hour=1000, fallback=["ollama"]),
        agent_yaml("ollama", LOCAL, backup.url),
    )
    decider = build_llm_decider(config)
    assert decider is not None
    assert decider.decide(case("first problem")) is not None
    second = decider.decide(case("second problem"))
    assert second is not None and second.details["agent"] == "ollama"
    assert (len(server.requests), len(backup.requests)) == (1, 1)


def test_when_every_entry_fails_the_decider_returns_none(server: Recorder, backup: Recorder) -> None:
    server.respond_with(401, {"error": {"message": "invalid key"}})
    backup.respond_with(404, {"error": {"message": "model not found"}})
    config = load_agents(
        agent_yaml("triage_agent", OPENAI, server.url, fallback=["ollama"]),
        agent_yaml("ollama", LOCAL, backup.url),
    )
    decider = build_llm_decider(config)
    assert decider is not None
    assert decider.decide(case()) is None


def test_nothing_is_built_without_a_triage_agent_or_without_its_key() -> None:
    assert build_llm_decider(load_text("core:\n  name: x\n", {}, base_dir=Path("."))) is None
    # The spec's example names a triage agent, but without ANTHROPIC_API_KEY there is none to ask.
    assert build_llm_decider(load_text(spec_example_config(), {}, base_dir=Path("."))) is None
    with_key = build_llm_decider(load_text(spec_example_config(), {"ANTHROPIC_API_KEY": "k"}, base_dir=Path(".")))
    assert with_key is not None
    assert [agent.label for agent in with_key.agents] == ["anthropic/claude-3-sonnet"]


def test_only_the_agents_the_service_consults_are_not_reported_as_unused() -> None:
    config = load_text(spec_example_config(), {}, base_dir=Path("."))
    assert [key for key in config.not_yet_used if key.startswith("ai_providers")] == ["ai_providers.coding_agent"]
    # A fallback of a consulted agent is consulted too.
    entries = "ai_providers:\n" + "\n".join(
        [agent_yaml("analysis_agent", LOCAL, "http://127.0.0.1:9", fallback=["spare"]), agent_yaml("spare", LOCAL, "u")]
    )
    assert not [key for key in load_text(entries, {}, base_dir=Path(".")).not_yet_used if key.startswith("ai_")]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  triage_agent:\n    provider: local\n    model: m\n", "base_url is required for provider local"),
        ("  triage_agent:\n    provider: openai\n    model: m\n", "api_key_env is required for provider openai"),
        ("  triage_agent:\n    provider: bard\n    model: m\n", "ai_providers.triage_agent.provider"),
        (
            "  triage_agent:\n    provider: openai\n    model: m\n    api_key_env: K\n    fallback: [nope]\n",
            "'nope' is not another entry of ai_providers",
        ),
        (
            "  triage_agent:\n    provider: openai\n    model: m\n    api_key_env: K\n    max_cost_per_hour: 1\n",
            "max_cost_per_hour needs cost_per_1k_tokens",
        ),
        (
            "  triage_agent:\n    provider: openai\n    model: m\n    api_key_env: K\n"
            "    mask_patterns:\n      ticket: '[unclosed'\n",
            "ticket: not a valid regular expression",
        ),
    ],
)
def test_configuration_mistakes_name_the_key(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_text("ai_providers:\n" + entry, {}, base_dir=Path("."))
    assert message in str(raised.value)
    assert "ai_providers" in str(raised.value)


def test_configured_mask_patterns_apply_to_what_is_sent(server: Recorder) -> None:
    server.respond_with(200, OPENAI.reply(GOOD))
    entry = agent_yaml("triage_agent", OPENAI, server.url, mask_patterns={"tenant": r"\btenant-[a-z]+\b"})
    decider = build_llm_decider(load_agents(entry))
    assert decider is not None
    decider.decide(case("Quota exceeded for tenant-acme"))
    (request,) = server.wait_for(1)
    assert b"tenant-acme" not in request.body
    assert "Quota exceeded for <tenant-1>" in request.json["messages"][1]["content"]


def test_every_key_of_an_entry_is_documented() -> None:
    page = (ROOT / "docs" / "ai-providers.md").read_text(encoding="utf-8")
    for key in AIAgentConfig.model_fields:
        assert f"`{key}`" in page, key


def test_an_unexpected_error_never_reaches_the_pipeline(server: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    # A reply shaped unlike any Chat Completions answer makes the client hand back an object the provider
    # cannot read: not a ProviderError, so it is the decider's last guard that has to hold.
    server.respond_with(200, {"choices": "not a list of choices"})
    decider = build_llm_decider(load_agents(agent_yaml("triage_agent", OPENAI, server.url)))
    assert decider is not None
    with caplog.at_level(logging.ERROR, logger="liberation_guardian.triage.llm"):
        assert decider.decide(case()) is None
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert "left to the next decider" in record.getMessage()
