"""The pipeline stage after the decision: the offline analysis, the specialist's plan, and model requests.

For an incident that was opened, reopened or got worse, and was not acknowledged quietly,
it reads the situation (`situation.py`: bounded, indexed queries), stores the analysis
agent's recommendation and that of each specialist the category calls for, all in the
processing transaction: offline work is cheap and deterministic.

A model is never called here. When `ai_providers.analysis_agent` can be asked and no rule
or pattern recognised the problem (the decision tree's "unknown pattern"), a `pending`
analysis request is stored; when `ai_providers.triage_agent` can be asked and the offline
chain could not place the case (its last resort decided, or the offline classifier chose to
investigate with a confidence under `learning.knowledge_base.pattern_confidence_threshold`),
a `pending` second opinion is stored. Neither is
ever stored for a critical incident: its escalation has gone out and waits on nothing. The
agent loop (`worker.py`) completes them outside any transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from liberation_guardian.agents.analysis import KIND as ANALYSIS_KIND
from liberation_guardian.agents.analysis import AnalysisAgent
from liberation_guardian.agents.assign import specialists_for
from liberation_guardian.agents.base import Advice, Situation
from liberation_guardian.agents.llm import model_label
from liberation_guardian.agents.situation import gather
from liberation_guardian.config import LoadedConfig
from liberation_guardian.config.schema import ANALYSIS_AGENT, TRIAGE_AGENT, AnalysisConfig
from liberation_guardian.events import Severity
from liberation_guardian.group.incidents import Transition
from liberation_guardian.pipeline.stages import Work
from liberation_guardian.store.models import Decision, Recommendation, utcnow
from liberation_guardian.triage.base import Action

OFFLINE = "offline"
PENDING, DONE, FAILED = "pending", "done", "failed"
TRIAGE, SECOND_OPINION = "triage", "second_opinion"
WORTH_ANALYSING = frozenset({Transition.opened, Transition.reopened, Transition.severity_raised, Transition.recurred})
# Deciders that recognised the problem: a configured rule, a known pattern, or past incidents like it.
# Anything else (the classifier's guess, the last resort) is the decision tree's "unknown pattern".
RECOGNISING = frozenset({"rules", "knowledge", "similarity"})
LAST_RESORT = "fallback"
# The offline classifier answers nearly everything; an investigation it is unsure of is not a placement either.
GUESSING = "classifier"


class AnalysisStage:
    """Stores the agents' recommendations for each decided transition worth analysing."""

    name = "analyze"

    def __init__(
        self,
        settings: AnalysisConfig,
        *,
        analysis_model: str | None = None,
        triage_model: str | None = None,
        placed_from: float = 0.7,
    ) -> None:
        self.settings = settings
        self.analysis_model = analysis_model
        self.triage_model = triage_model
        self.placed_from = placed_from
        self.analyst = AnalysisAgent()

    @classmethod
    def from_config(cls, config: LoadedConfig) -> AnalysisStage:
        """The stage with the models of `ai_providers` that can be asked (none without keys)."""
        return cls(
            config.settings.analysis,
            analysis_model=model_label(config, ANALYSIS_AGENT),
            triage_model=model_label(config, TRIAGE_AGENT),
            placed_from=config.settings.learning.knowledge_base.pattern_confidence_threshold,
        )

    def run(self, session: Session, work: Work) -> None:
        """Analyse the transition just decided, and queue the model requests it qualifies for."""
        incident, decision = work.incident, work.decision
        if incident is None or decision is None or work.transition not in WORTH_ANALYSING:
            return
        if decision.action == Action.auto_acknowledge:
            return
        wants_model = self._wants_analysis(decision.decided_by, decision.details or {}, decision.severity)
        second = self._wants_second_opinion(decision)
        if not (self.settings.enabled or wants_model or second):
            return
        situation = gather(
            session,
            incident,
            work.event,
            decision,
            window_minutes=self.settings.correlation_window_minutes,
            related_hours=self.settings.related_incident_hours,
        )
        offline = self.analyst.advise(situation)
        if self.settings.enabled:
            session.add(row(situation, offline))
            for specialist in specialists_for(situation):
                session.add(row(situation, specialist.advise(situation)))
        if wants_model and self.analysis_model:
            session.add(pending(situation, "analysis", ANALYSIS_KIND, self.analysis_model, offline))
        if second and self.triage_model:
            session.add(pending(situation, TRIAGE, SECOND_OPINION, self.triage_model, offline))

    def _wants_analysis(self, decided_by: str, details: dict[str, object], severity: str) -> bool:
        unknown = decided_by not in RECOGNISING and not details.get("pattern_id")
        return bool(self.analysis_model) and unknown and severity != Severity.critical

    def _wants_second_opinion(self, decision: Decision) -> bool:
        """Whether the offline chain could not place the case: its last resort, or an unsure classifier."""
        if not self.triage_model or decision.action != Action.investigate or decision.severity == Severity.critical:
            return False
        unsure = decision.decided_by == GUESSING and decision.confidence < self.placed_from
        return decision.decided_by == LAST_RESORT or unsure


def row(situation: Situation, advice: Advice, *, produced_by: str = OFFLINE) -> Recommendation:
    """A finished recommendation row for an agent's advice."""
    return Recommendation(
        incident_id=situation.incident_id,
        decision_id=situation.decision_id,
        transition_seq=situation.transition_seq,
        agent=advice.agent,
        kind=advice.kind,
        status=DONE,
        summary=advice.summary,
        hypotheses=[hypothesis.as_json() for hypothesis in advice.hypotheses],
        impact=advice.impact,
        plan=list(advice.plan),
        prevention=list(advice.prevention),
        evidence=advice.evidence,
        details=advice.details,
        produced_by=produced_by,
        completed_at=utcnow(),
    )


def pending(situation: Situation, agent: str, kind: str, model: str, offline: Advice) -> Recommendation:
    """A request for the agent loop, carrying the offline evidence and hypotheses the model will be shown."""
    shown = {**offline.evidence, "offline_hypotheses": [hypothesis.as_json() for hypothesis in offline.hypotheses]}
    return Recommendation(
        incident_id=situation.incident_id,
        decision_id=situation.decision_id,
        transition_seq=situation.transition_seq,
        agent=agent,
        kind=kind,
        status=PENDING,
        summary=f"Waiting for {model}.",
        impact=offline.impact,
        evidence=shown,
        produced_by=model,
    )
