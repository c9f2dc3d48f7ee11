"""The whole order of the pipeline, in one place."""

from __future__ import annotations

from liberation_guardian.agents.stage import AnalysisStage
from liberation_guardian.config import LoadedConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.learn.examples import shipped_examples
from liberation_guardian.learn.memory import IncidentMemory
from liberation_guardian.pipeline.stages import (
    AnswerStage,
    DecideStage,
    EnrichStage,
    GroupStage,
    Stage,
    TriageStage,
)
from liberation_guardian.triage.base import Decider, TriageChain
from liberation_guardian.triage.classify import Classifier, shipped_model
from liberation_guardian.triage.fallback import Investigate
from liberation_guardian.triage.impact import CriticalImpact, impact_index
from liberation_guardian.triage.informational import Informational
from liberation_guardian.triage.known import KnownPattern, shipped_index
from liberation_guardian.triage.rules import ConfigRules
from liberation_guardian.triage.severity import CriticalEscalation
from liberation_guardian.triage.similar import Similar


def build_chain(config: LoadedConfig, *, holdout: frozenset[str] = frozenset()) -> TriageChain:
    """The triage chain: critical severity or impact, the configured rules, informational events, known
    patterns, similarity to past incidents, the offline classifier, then investigate. `holdout` names shipped
    training examples the classifier must not learn from (the lines an evaluation scores)."""
    settings = config.settings
    learning = settings.learning
    deciders: list[Decider] = [
        CriticalEscalation(),
        CriticalImpact(impact_index()),
        ConfigRules(settings.decision_rules),
        Informational(),
        KnownPattern(
            shipped_index(),
            threshold=settings.learning.knowledge_base.pattern_confidence_threshold,
            max_fix_attempts=settings.decision_rules.auto_fix.conditions.max_fix_attempts,
        ),
        Similar(
            IncidentMemory(
                # Without the feedback loop, corrections are not votes.
                human_weight=learning.feedback_loop.human_feedback_weight if learning.feedback_loop.enabled else 0.0,
                min_occurrences=learning.knowledge_base.min_occurrences_for_pattern,
            ),
            threshold=learning.knowledge_base.pattern_confidence_threshold,
            max_fix_attempts=settings.decision_rules.auto_fix.conditions.max_fix_attempts,
        ),
        Classifier(
            [example for example in shipped_examples() if example.id not in holdout],
            model=shipped_model(shipped_index(), holdout),
            index=shipped_index(),
            threshold=learning.knowledge_base.pattern_confidence_threshold,
            feedback_weight=learning.feedback_loop.human_feedback_weight,
            max_fix_attempts=settings.decision_rules.auto_fix.conditions.max_fix_attempts,
            learn_from_feedback=learning.feedback_loop.enabled,
        ),
        Investigate(),
    ]
    return TriageChain(deciders)


def build_stages(config: LoadedConfig, policy: Policy | None = None) -> list[Stage]:
    """The stages each stored event runs through, in order."""
    policy = policy or Policy(config)
    return [
        AnswerStage(config.settings.core.name, policy, config.settings.grouping),
        GroupStage(config.settings.grouping),
        EnrichStage(),
        TriageStage(build_chain(config)),
        DecideStage(policy),
        AnalysisStage.from_config(config),
    ]
