"""The whole order of the pipeline, in one place."""

from __future__ import annotations

from liberation_guardian.config import LoadedConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.pipeline.stages import (
    AnswerStage,
    DecideStage,
    EnrichStage,
    GroupStage,
    Stage,
    TriageStage,
)
from liberation_guardian.triage.base import Decider, TriageChain
from liberation_guardian.triage.fallback import Investigate
from liberation_guardian.triage.known import KnownPattern, shipped_index
from liberation_guardian.triage.rules import ConfigRules
from liberation_guardian.triage.severity import CriticalEscalation


def build_chain(config: LoadedConfig) -> TriageChain:
    """The triage chain: critical severity, the configured rules, known patterns, then investigate."""
    settings = config.settings
    deciders: list[Decider] = [
        CriticalEscalation(),
        ConfigRules(settings.decision_rules),
        KnownPattern(
            shipped_index(),
            threshold=settings.learning.knowledge_base.pattern_confidence_threshold,
            max_fix_attempts=settings.decision_rules.auto_fix.conditions.max_fix_attempts,
        ),
        Investigate(),
    ]
    return TriageChain(deciders)


def build_stages(config: LoadedConfig, policy: Policy | None = None) -> list[Stage]:
    """The stages each stored event runs through, in order."""
    policy = policy or Policy(config)
    return [
        AnswerStage(config.settings.core.name, policy),
        GroupStage(config.settings.grouping),
        EnrichStage(),
        TriageStage(build_chain(config)),
        DecideStage(policy),
    ]
