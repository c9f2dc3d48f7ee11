"""The LLM link of the triage chain: a model's judgement for cases nothing else decided.

It sits after the rules, the knowledge base and the offline classifier, so it only sees
what they left; and it refuses critical cases itself too, although the severity decider
has escalated those long before (a second guard costs one comparison). Everything it can
refuse to do ends in `None`, which lets the chain's last resort (`investigate`) answer:

- a case whose answer is cached (by source, title and exception type) is answered from
  the cache, without a request;
- each entry of the chain (`triage_agent`, then its `fallback` entries in order) is
  skipped while its hourly budget is spent, and abandoned when its provider fails
  (after the client's retries) or answers twice with something that is not a verdict;
- when no entry answers, the decider returns None. Nothing raises into the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from liberation_guardian.events import Severity
from liberation_guardian.triage.base import Action, Case, Verdict
from liberation_guardian.triage.llm.budget import HourlyBudget
from liberation_guardian.triage.llm.cache import LruCache, cache_key
from liberation_guardian.triage.llm.mask import Masker
from liberation_guardian.triage.llm.prompt import render
from liberation_guardian.triage.llm.provider import Consultation, Provider, ProviderError, consult

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1024


@dataclass
class Agent:
    """One entry of the chain: its `ai_providers` name, its provider and its budget."""

    name: str
    provider: Provider
    budget: HourlyBudget = field(default_factory=HourlyBudget)
    # Set while the budget is spent, so the warning is logged once per exhaustion, not once per case.
    over_budget: bool = False

    @property
    def label(self) -> str:
        """`<provider>/<model>`, as shown in `decided_by`."""
        return f"{self.provider.provider}/{self.provider.model}"


class LlmDecider:
    """Asks the configured model(s) about a non-critical case; None when none answers."""

    name = "llm"

    def __init__(self, agents: Sequence[Agent], masker: Masker, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if not agents:
            raise ValueError("an LLM decider needs at least one agent")
        self.agents = list(agents)
        self.masker = masker
        self.cache: LruCache[Verdict] = LruCache(cache_size)

    def decide(self, case: Case) -> Verdict | None:
        """A model's verdict for the case, from the cache when the same problem was judged before."""
        if case.severity == Severity.critical:
            return None
        key = cache_key(case)
        cached = self.cache.get(key)
        if cached is not None:
            return _from_cache(cached)
        try:
            verdict = self._ask(case)
        except Exception:  # never into the pipeline: the offline decision stands
            log.exception("the LLM decider failed; the case is left to the next decider", extra={"source": case.source})
            return None
        if verdict is not None:
            self.cache.put(key, verdict)
        return verdict

    def _ask(self, case: Case) -> Verdict | None:
        prompt = render(case, self.masker)
        for agent in self.agents:
            if not self._within_budget(agent):
                continue
            try:
                answer = consult(agent.provider, prompt)
            except ProviderError as exc:
                log.warning(
                    "AI provider gave no usable answer; trying the next one",
                    extra={"agent": agent.name, "provider": agent.label, "error": str(exc)},
                )
                continue
            agent.budget.spend(answer.input_tokens + answer.output_tokens)
            return _verdict(agent, answer, prompt.content_sha256, prompt.masked)
        return None

    def _within_budget(self, agent: Agent) -> bool:
        reason = agent.budget.exceeded()
        if reason is None:
            agent.over_budget = False
            return True
        if not agent.over_budget:
            agent.over_budget = True
            log.warning("AI provider over its hourly budget; skipped", extra={"agent": agent.name, "reason": reason})
        return False


def _verdict(agent: Agent, answer: Consultation, content_sha256: str, masked: dict[str, int]) -> Verdict:
    found = answer.verdict
    return Verdict(
        action=Action(found.action),
        severity=Severity(found.severity),
        category=found.category,
        confidence=found.confidence,
        decided_by=f"llm:{agent.label}",
        rationale=found.rationale,
        matched=None,
        details={
            "agent": agent.name,
            "prompt_sha256": content_sha256,
            "masked": masked,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "requests": answer.requests,
            "latency_ms": answer.latency_ms,
            "cached": False,
        },
    )


def _from_cache(verdict: Verdict) -> Verdict:
    details = {**verdict.details, "cached": True, "input_tokens": 0, "output_tokens": 0, "requests": 0}
    return replace(verdict, details=details)
