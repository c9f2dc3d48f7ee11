"""LLM providers for the triage chain: masked prompts, structured answers, budgets and fallbacks.

`build_llm_decider(config)` returns the `LlmDecider` for `ai_providers.triage_agent` (and
the entries its `fallback` names), or None when no triage agent is configured or none of
its entries can be used, which is the default: without any key, triage stays offline.

    mask.py       personal data and secrets -> typed placeholders, before text leaves the process
    prompt.py     the prompt (event as delimited, untrusted data) and `LlmVerdict`, the answer's schema
    provider.py   the provider protocol, `consult` (ask, validate, repair once), `ProviderError`
    anthropic_api.py, openai_api.py (openai and local), google_api.py: one per official client
    budget.py     tokens and cost per rolling hour
    cache.py      answers by normalized source, title and exception type (LRU)
    decider.py    `LlmDecider`, the chain link
"""

from __future__ import annotations

import logging

from liberation_guardian.config import LoadedConfig
from liberation_guardian.config.schema import TRIAGE_AGENT
from liberation_guardian.triage.llm.budget import HourlyBudget
from liberation_guardian.triage.llm.decider import Agent, LlmDecider
from liberation_guardian.triage.llm.mask import Masker
from liberation_guardian.triage.llm.prompt import LlmVerdict
from liberation_guardian.triage.llm.provider import make_provider

__all__ = ["Agent", "LlmDecider", "LlmVerdict", "Masker", "build_agents", "build_llm_decider"]

log = logging.getLogger(__name__)


def build_llm_decider(config: LoadedConfig) -> LlmDecider | None:
    """The LLM decider of `ai_providers.triage_agent` and its fallbacks, or None when there is none to ask.

    An entry whose `api_key_env` variable is unset is skipped with a warning; a provider
    whose client library is not installed is a `ConfigError` naming the entry.
    """
    agents = build_agents(config, TRIAGE_AGENT)
    if not agents:
        return None
    return LlmDecider(agents, Masker(config.settings.ai_providers[TRIAGE_AGENT].mask_patterns))


def build_agents(config: LoadedConfig, name: str) -> list[Agent]:
    """The entry `ai_providers.<name>` and its `fallback` entries that can be asked, in order (may be empty)."""
    entries = config.settings.ai_providers
    head = entries.get(name)
    if head is None:
        return []
    agents = []
    for member in (name, *head.fallback):
        entry = entries[member]
        key = config.ai_keys.get(member)
        if entry.api_key_env and key is None:
            log.warning(
                "AI provider skipped: its API key variable is not set",
                extra={"agent": member, "variable": entry.api_key_env},
            )
            continue
        budget = HourlyBudget(
            max_tokens=entry.max_tokens_per_hour,
            cost_per_1k_tokens=entry.cost_per_1k_tokens,
            max_cost=entry.max_cost_per_hour,
        )
        agents.append(Agent(member, make_provider(member, entry, key), budget))
    return agents
