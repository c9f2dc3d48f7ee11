"""The agents after triage: the analysis agent, the specialists, and the loop that asks models.

The triage agent is the triage chain (`triage/`) and the action agent is the policy that
hands each decision to the dispatcher and the actions (`decide/policy.py`). What this
package adds is the analysis of each incident worth one and the specialists' handling,
stored as recommendations (docs/agents.md):

    base.py            Situation (what an agent sees), Advice (what it answers), impact_of
    situation.py       reads the situation from the store: changes before it, related incidents, runbook
    _changes.py        which event kinds are deploys, CI failures, configuration and code changes
    analysis.py        the offline analysis agent: hypotheses ranked by evidence, impact, plan, prevention
    infrastructure.py  resource exhaustion, cost anomaly, security violation, network degradation
    security.py        threat level, then emergency response, patch, scheduled update, or monitor
    performance.py     the bottleneck (database, memory, io, cpu, network, code) and its optimisation
    assign.py          which specialist takes which category
    stage.py           the pipeline stage after the decision; stores offline advice and model requests
    llm.py             the analysis prompt and answer schema; asking an `ai_providers` chain
    _describe.py       stored rows as text and as a triage case, for a model
    second_opinion.py  when a model's verdict may re-decide an incident, and how
    worker.py          the agent loop: claim, ask outside any transaction, store
"""

from __future__ import annotations

from liberation_guardian.agents.stage import AnalysisStage
from liberation_guardian.agents.worker import AgentLoop

__all__ = ["AgentLoop", "AnalysisStage"]
