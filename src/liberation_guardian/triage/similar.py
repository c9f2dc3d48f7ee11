"""The similarity decider: handle an incident the way the incidents most like it were handled.

It runs after the known patterns. The event's text is masked and looked up in the memory
of past incidents (`learn/memory.py`): first the message template it belongs to, and when
that template has no clear answer, the lexically nearest template with votes, if its
cosine similarity reaches `LEXICAL_THRESHOLD`. It answers only on enough agreeing evidence:

- the leading action holds at least `CLEAR_MAJORITY` of the template's vote weight, and
- the votes weigh at least `MIN_SUPPORT` (two resolved incidents), or a person voted for
  the leading action (one correction is enough).

The severity is the worse of the voted one and the tool's, so history never talks an
alert down. The confidence grows with agreement and support and shrinks with distance.
Quiet handling is held back as for known patterns: under `learning.knowledge_base.
pattern_confidence_threshold`, or for an incident that has become frequent, it is
investigated; an auto-fix that used `max_fix_attempts` is escalated; and a critical
problem is never acknowledged. The decision's `details` name the template and the nearest
incidents with their similarity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge.templates import tokenize
from liberation_guardian.learn.memory import Evidence, IncidentMemory
from liberation_guardian.triage.base import Action, Case, Verdict

LEXICAL_THRESHOLD = 0.8
CLEAR_MAJORITY = 2 / 3
MIN_SUPPORT = 2.0
# Support s counts for s / (s + SUPPORT_DAMPING): two votes 0.8, five 0.91, twenty 0.98.
SUPPORT_DAMPING = 0.5
MAX_CONFIDENCE = 0.95
NEAREST_SHOWN = 5

# Ties between actions go to the one that involves a person most.
_CAUTION: dict[str, int] = {Action.escalate: 3, Action.investigate: 2, Action.auto_fix: 1, Action.auto_acknowledge: 0}
_DONE = {
    Action.escalate: "escalated to a person",
    Action.auto_fix: "fixed automatically",
    Action.auto_acknowledge: "acknowledged quietly",
    Action.investigate: "investigated",
}


class Similar:
    """Answers with the handling of the nearest resolved or corrected incidents; passes when the evidence is thin."""

    name = "similarity"

    def __init__(
        self,
        memory: IncidentMemory,
        *,
        threshold: float,
        max_fix_attempts: int,
        lexical_threshold: float = LEXICAL_THRESHOLD,
    ) -> None:
        self.memory = memory
        self.threshold = threshold
        self.max_fix_attempts = max_fix_attempts
        self.lexical_threshold = lexical_threshold
        self._readings: dict[str, tuple[Evidence, _Reading | None]] = {}

    def sync(self, session: Session) -> None:
        """Let the memory catch up with the store."""
        self.memory.sync(session)

    def decide(self, case: Case) -> Verdict | None:
        """The handling the evidence agrees on, or None when there is too little of it."""
        tokens = tokenize(case.text)
        recalled = self.memory.exact(tokens)
        reading = self._read(recalled.evidence) if recalled is not None else None
        if recalled is None or reading is None:
            exclude = recalled.evidence.template_id if recalled else None
            recalled = self.memory.nearest(tokens, exclude=exclude, min_similarity=self.lexical_threshold)
            reading = self._read(recalled.evidence) if recalled is not None else None
            if recalled is None or reading is None:
                return None
        similarity = recalled.similarity
        confidence = min(MAX_CONFIDENCE, reading.strength * similarity)
        severity = reading.severity if reading.severity.rank >= case.severity.rank else case.severity
        action, why = self._hold_back(reading.action, confidence, severity, case)
        evidence = recalled.evidence
        where = "shares the message template" if recalled.how == "exact" else "is worded closest to the template"
        return Verdict(
            action=action,
            severity=severity,
            category=reading.category,
            confidence=round(confidence, 2),
            decided_by=self.name,
            matched=f"similarity: {recalled.how} template {evidence.template_id}",
            rationale=(
                f"Like {reading.shown} (similarity {similarity:.2f}), which were {_DONE[reading.action]}. "
                f"{reading.tally} This event {where} `{evidence.template}`.{why}"
            ),
            details={
                "template_id": evidence.template_id,
                "template": evidence.template,
                "match": recalled.how,
                "similarity": similarity,
                "nearest": [{"incident_id": incident, "similarity": similarity} for incident in reading.nearest],
                **reading.details,
            },
        )

    def _read(self, evidence: Evidence) -> _Reading | None:
        """What the evidence says, computed once per version of a template's evidence."""
        cached = self._readings.get(evidence.template_id)
        if cached is None or cached[0] is not evidence:
            cached = self._readings[evidence.template_id] = (evidence, _reading(evidence))
        return cached[1]

    def _hold_back(self, action: Action, confidence: float, severity: Severity, case: Case) -> tuple[Action, str]:
        """Where quiet handling would be unsafe, the action to take instead and why."""
        if action == Action.auto_acknowledge and severity == Severity.critical:
            return Action.escalate, " A critical problem is never acknowledged quietly, so it goes to a person."
        if action in (Action.auto_fix, Action.auto_acknowledge) and confidence < self.threshold:
            return Action.investigate, f" The confidence {confidence:.2f} is under the threshold, so a person looks."
        if action == Action.auto_acknowledge and case.frequency == Frequency.frequent:
            return Action.investigate, " It has become frequent, so a person should look."
        if action == Action.auto_fix and case.fix_attempts >= self.max_fix_attempts:
            return Action.escalate, f" {case.fix_attempts} fix attempts did not solve it."
        return action, ""


@dataclass(frozen=True)
class _Reading:
    """The verdict's parts that depend only on a template's evidence, not on the event."""

    action: Action
    strength: float  # agreement x damped support: the confidence at similarity 1
    severity: Severity
    category: str
    shown: str
    tally: str
    nearest: tuple[int, ...]
    details: dict[str, Any]


def _reading(evidence: Evidence) -> _Reading | None:
    """The leading action and everything said about it, or None when the evidence is too thin or split."""
    leader = _leader(evidence)
    if leader is None:
        return None
    action, agreement = leader
    support = evidence.support
    votes, people = evidence.actions.get(action.value, 0.0), evidence.human.get(action.value, 0.0)
    tally = f"{votes:g} of {support:g} weighted votes agree ({agreement:.0%})"
    tally += f", {people:g} of them from people's feedback." if people > 0 else "."
    shown = _listing([f"#{incident}" for incident in sorted(evidence.incidents[:3])])
    return _Reading(
        action=action,
        strength=agreement * support / (support + SUPPORT_DAMPING),
        severity=_top_severity(evidence.severities),
        category=max(sorted(evidence.categories), key=lambda c: (evidence.categories[c], c != "other")),
        shown=f"{'incidents' if len(evidence.incidents) > 1 else 'incident'} {shown}",
        tally=tally,
        nearest=evidence.incidents[:NEAREST_SHOWN],
        details={
            "votes": _rounded(evidence.actions),
            "human_votes": _rounded(evidence.human),
            "support": round(support, 2),
            "agreement": round(agreement, 2),
        },
    )


def _leader(evidence: Evidence) -> tuple[Action, float] | None:
    """The leading action and its share of the votes, when the evidence is enough to act on."""
    if not evidence.actions or evidence.support <= 0:
        return None
    action = max(evidence.actions, key=lambda a: (evidence.actions[a], _CAUTION.get(a, -1), a))
    agreement = evidence.actions[action] / evidence.support
    if agreement < CLEAR_MAJORITY - 1e-9 or action not in _CAUTION:
        return None  # split votes, or a stored action this version does not know
    if evidence.support < MIN_SUPPORT - 1e-9 and evidence.human.get(action, 0.0) <= 0:
        return None
    return Action(action), min(agreement, 1.0)


def _top_severity(severities: Mapping[str, float]) -> Severity:
    known = {Severity(name): weight for name, weight in severities.items() if name in Severity.__members__}
    if not known:
        return Severity.info
    return max(known, key=lambda severity: (known[severity], severity.rank))


def _listing(items: Sequence[str]) -> str:
    if not items:
        return "past incidents"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _rounded(weights: Mapping[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in sorted(weights.items())}
