"""The offline classifier decider: a model trained on labeled events and every human correction.

It answers what the rules and the known patterns left open, when its model is confident
enough (`MIN_CONFIDENCE`); below that, the fallback investigates. It acts alone (fixes,
acknowledges or pages) only at `learning.knowledge_base.pattern_confidence_threshold`;
under it the case is investigated instead: a person looks, without being woken. Critical
problems never depend on it: the severity and impact links escalate them first. As for
patterns, an incident that has become frequent is not acknowledged, and a fix that already
used `max_fix_attempts` goes to a person.

It learns as it runs: `sync` reads feedback stored since the last call and retrains with
each correction as an example weighted by `learning.feedback_loop.human_feedback_weight`,
so a correction changes the next decision on a similar event. Retraining a few hundred
examples takes a fraction of a second and only happens when feedback arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge.match import PatternIndex
from liberation_guardian.learn.examples import Example, shipped_examples
from liberation_guardian.learn.model import PatternOf, TriageModel, pattern_tokens
from liberation_guardian.store.models import Decision, Event, Feedback
from liberation_guardian.triage.base import Action, Case, Verdict

# Below this probability of its best action the model passes to the fallback.
MIN_CONFIDENCE = 0.4
# A severity or category guess under this probability keeps what the event said.
MIN_LABEL_CONFIDENCE = 0.5


class Classifier:
    """Decides from the offline model; retrains when feedback arrives."""

    name = "classifier"

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        model: TriageModel | None = None,
        index: PatternIndex,
        threshold: float,
        feedback_weight: float,
        max_fix_attempts: int = 3,
        learn_from_feedback: bool = True,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.max_fix_attempts = max_fix_attempts
        self.feedback_weight = feedback_weight
        self.learn_from_feedback = learn_from_feedback
        self.examples = list(examples)
        if model is None:
            model = TriageModel(pattern_of_index(index))
            model.fit(self.examples)
        self.model = model
        self.seen_feedback = 0

    def sync(self, session: Session) -> None:
        """Learn from the feedback stored since the last call."""
        if not self.learn_from_feedback:
            return
        rows = session.execute(
            select(Feedback, Decision, Event)
            .join(Decision, Decision.id == Feedback.decision_id)
            .join(Event, Event.id == Decision.event_id)
            .where(Feedback.id > self.seen_feedback)
            .order_by(Feedback.id)
        ).all()
        if not rows:
            return
        for feedback, decision, event in rows:
            self.examples.append(
                Example(
                    id=f"feedback-{feedback.id}",
                    source=event.source,
                    kind=event.kind,
                    severity=event.severity,
                    title=event.title,
                    message=event.message,
                    action=feedback.action or decision.action,
                    expected_severity=feedback.severity or decision.severity,
                    category=feedback.category or decision.category,
                    environment=event.environment,
                    exception_type=event.exception_type,
                    weight=self.feedback_weight,
                )
            )
            self.seen_feedback = feedback.id
        model = TriageModel(self.model.pattern_of)  # a fresh model: a trained one may be shared between chains
        model.fit(self.examples)
        self.model = model

    def decide(self, case: Case) -> Verdict | None:
        """The model's verdict when it is confident enough, else None."""
        prediction = self.model.predict(case)
        if prediction is None or prediction.action.probability < MIN_CONFIDENCE:
            return None
        guess = prediction.action
        action, why = Action(guess.label), ""
        if action != Action.investigate and guess.probability < self.threshold:
            # Fixing, acknowledging and paging are each acting alone; unsure, a person looks without being woken.
            action = Action.investigate
            why = f" It leans to {guess.label} ({guess.probability:.0%}), under the threshold for acting alone."
        elif action == Action.auto_acknowledge and case.frequency == Frequency.frequent:
            action, why = Action.investigate, " It has become frequent, so a person should look."
        elif action == Action.auto_fix and case.fix_attempts >= self.max_fix_attempts:
            action, why = Action.escalate, f" {case.fix_attempts} fix attempts did not solve it."
        severity = case.severity
        if prediction.severity.probability >= MIN_LABEL_CONFIDENCE:
            severity = Severity(prediction.severity.label)
        if severity == Severity.critical and action != Action.escalate:
            severity = Severity.high  # critical always escalates; a guess alone does not make it critical
        category = (
            prediction.category.label if prediction.category.probability >= MIN_LABEL_CONFIDENCE else case.category
        )
        words = ", ".join(guess.because) or "the event as a whole"
        return Verdict(
            action=action,
            severity=severity,
            category=category,
            confidence=round(guess.probability, 3),
            decided_by=self.name,
            matched=f"classifier: {guess.label} {guess.probability:.2f}",
            rationale=(
                f"Events like this were handled as {guess.label} ({guess.probability:.0%} of the model's belief, "
                f"learned from {self.model.trained_on} labeled events); it weighed most: {words}.{why}"
            ),
            details={
                "action_probability": guess.probability,
                "severity": {"label": prediction.severity.label, "probability": prediction.severity.probability},
                "category": {"label": prediction.category.label, "probability": prediction.category.probability},
                "features": list(guess.because),
                "trained_on": self.model.trained_on,
            },
        )


def pattern_of_index(index: PatternIndex) -> PatternOf:
    """The model's pattern feature: the known pattern the index finds for a case."""

    def pattern_of(case: Case) -> str:
        found = index.best(case.text, source=case.source, kind=case.kind, exception_type=case.exception_type)
        if found is None:
            return ""
        pattern = found.pattern
        return pattern_tokens(pattern.id, pattern.action.value, pattern.severity.value)

    return pattern_of


@cache
def shipped_model(index: PatternIndex, holdout: frozenset[str] = frozenset()) -> TriageModel:
    """The model trained on the shipped examples (less any held out), once per process."""
    model = TriageModel(pattern_of_index(index))
    model.fit([example for example in shipped_examples() if example.id not in holdout])
    return model
