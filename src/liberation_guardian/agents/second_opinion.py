"""When a model's second opinion may replace the offline decision, and how it does.

The triage agent's model is asked only about cases the offline chain could not place (its
last resort, or an unsure classifier, chose to investigate; see `stage.py`). Its verdict
always stays on record as a recommendation; it becomes the incident's decision only if all
of these hold:

- the incident is still open and still at the transition that was decided (nothing newer
  was decided, nobody acknowledged or resolved it while the model thought);
- the model's action differs from the decision's;
- it never quiets an escalation, and a verdict of critical severity must escalate;
- quiet handling meets the configured conditions: `auto_acknowledge` needs the
  confidence of `decision_rules.auto_acknowledge.conditions.confidence_threshold` and an
  incident no more frequent and affecting no more users than its conditions allow;
  `auto_fix` needs `decision_rules.auto_fix.conditions.confidence_threshold` and fix
  attempts left.

The new decision's severity is never lower than the incident's reported severity. It is
recorded through the same policy as every decision (`decide/policy.py`), as a new incident
transition whose decision row says `reconsidered`, so channels hear about it once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import DecisionRules
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import Frequency, Severity, UserImpact
from liberation_guardian.group.incidents import IncidentStatus, Transition
from liberation_guardian.store.models import Decision, Event, Incident, Recommendation
from liberation_guardian.triage.base import Action, Verdict

RECONSIDERED = "reconsidered"


def refusal(
    incident: Incident, current: Decision | None, request: Recommendation, verdict: Verdict, rules: DecisionRules
) -> str | None:
    """Why the verdict may not replace the decision, or None when it may."""
    if current is None or current.id != request.decision_id or incident.transition_seq != request.transition_seq:
        return "the incident was decided again since the request"
    if incident.status != IncidentStatus.open:
        return f"the incident is {incident.status} now"
    if verdict.action.value == current.action:
        return "the model agrees with the decision's action"
    if current.action == Action.escalate:
        return "an escalation is never quieted"
    if verdict.severity == Severity.critical and verdict.action != Action.escalate:
        return "a critical judgement must escalate"
    if verdict.action == Action.auto_acknowledge:
        return _quiet_refusal(incident, verdict, rules)
    if verdict.action == Action.auto_fix:
        fix = rules.auto_fix.conditions
        if verdict.confidence < fix.confidence_threshold:
            return _under("auto_fix", verdict.confidence, fix.confidence_threshold)
        if incident.fix_attempts >= fix.max_fix_attempts:
            return f"{incident.fix_attempts} fix attempts already (max_fix_attempts {fix.max_fix_attempts})"
    return None


def _quiet_refusal(incident: Incident, verdict: Verdict, rules: DecisionRules) -> str | None:
    quiet = rules.auto_acknowledge.conditions
    if verdict.confidence < quiet.confidence_threshold:
        return _under("auto_acknowledge", verdict.confidence, quiet.confidence_threshold)
    if Frequency(incident.frequency).rank > quiet.frequency.rank:
        return f"it recurs {incident.frequency}, more often than auto_acknowledge allows ({quiet.frequency.value})"
    impact = UserImpact(incident.user_impact) if incident.user_impact else None
    if impact is not None and impact.rank > quiet.user_impact.rank:
        return f"it affects {impact.value}, more than auto_acknowledge allows ({quiet.user_impact.value})"
    return None


def _under(action: str, confidence: float, threshold: float) -> str:
    return (
        f"confidence {confidence:.2f} is under decision_rules.{action}.conditions.confidence_threshold "
        f"({threshold:.2f})"
    )


def reconsider(
    session: Session, policy: Policy, request: Recommendation, verdict: Verdict, now: datetime
) -> dict[str, object]:
    """Let the verdict re-decide the incident when `refusal` allows it; returns what happened, for the record."""
    incident = session.get(Incident, request.incident_id)
    if incident is None:
        return {"re_decided": False, "reason": "the incident no longer exists"}
    current = session.scalar(
        select(Decision).where(Decision.incident_id == incident.id).order_by(Decision.id.desc()).limit(1)
    )
    why_not = refusal(incident, current, request, verdict, policy.config.settings.decision_rules)
    if why_not is not None or current is None:
        return {"re_decided": False, "reason": why_not}
    event = session.get(Event, current.event_id)
    if event is None:
        return {"re_decided": False, "reason": "the decided event no longer exists"}
    floor = Severity(incident.severity)
    severity = verdict.severity if verdict.severity.rank >= floor.rank else floor
    details = {**verdict.details, "replaces_decision": current.id, "recommendation_id": request.id}
    chosen = Verdict(
        action=verdict.action,
        severity=severity,
        category=verdict.category,
        confidence=verdict.confidence,
        decided_by=verdict.decided_by,
        rationale=f"Second opinion: {verdict.rationale}",
        details=details,
    )
    incident.transition_seq += 1
    transition = Transition(current.transition) if current.transition in Transition.__members__ else Transition.opened
    decision = policy.record(session, incident, event, transition, chosen)
    decision.transition = RECONSIDERED
    policy.dispatcher.run_due(session, now)
    return {"re_decided": True, "decision_id": decision.id, "replaces_decision": current.id}
