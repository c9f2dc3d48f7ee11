"""The offline analysis agent: root-cause hypotheses ranked by evidence, impact, a plan and prevention.

It reads only its `Situation` (gathered by `situation.py`): the changes shortly before the
incident, other incidents of the same service, and the runbook of the pattern that
matched. Each piece of evidence becomes a hypothesis with a likelihood:

- a change: its kind's weight (deploy 0.75, configuration 0.7, CI failure 0.4, code 0.35),
  times its scope (the same service 1.0, a shared repository name 0.9, anything else
  0.45), times its nearness (1.0 just before, 0.5 at the edge of the window), times 0.3
  when it happened in another environment than the incident;
- a known pattern: 0.7 times the decision's confidence;
- an incident of the same service that started earlier: a cascade, 0.35 to 0.45; several
  at once: a shared dependency, up to 0.5;
- always, the category's usual cause, at 0.1 to 0.25, so there is never no hypothesis.

A change from the same service ten minutes before an error therefore outranks both the
category's prior and a deploy of another service one minute before. The plan follows the
most likely cause first, then the runbook (or, without one, the steps of the playbook that
applies), then what the decision asks of a person, and ends with the playbook's checks.
"""

from __future__ import annotations

from liberation_guardian.agents.base import (
    Advice,
    Change,
    Hypothesis,
    Situation,
    impact_of,
    playbook_evidence,
    playbook_steps,
)
from liberation_guardian.events import Frequency

NAME = "analysis"
KIND = "root_cause"
MAX_HYPOTHESES = 5
# A change this likely is worth preventing; below it, it is listed as a suspect only.
PLAUSIBLE = 0.2

_CHANGE_WEIGHT = {"deploy": 0.75, "config_change": 0.7, "ci_failure": 0.4, "code_change": 0.35}
_SCOPE_WEIGHT = {"service": 1.0, "repository": 0.9, "global": 0.45}
_CHANGE_WORDS = {
    "deploy": "Deploy",
    "config_change": "Configuration change",
    "ci_failure": "CI failure",
    "code_change": "Code change",
}
_UPSTREAM = {"database", "infrastructure", "network", "availability"}
# Categories of running systems, where one incident can cause another.
_OPERATIONAL = _UPSTREAM | {"application", "performance", "configuration", "other"}

# The usual cause of each category, and how much it is worth without any other evidence.
_PRIORS: dict[str, tuple[str, float]] = {
    "application": ("A code defect on the path that raises this error", 0.25),
    "availability": ("The service or one of its instances is down or failing its health check", 0.25),
    "ci": ("A test or build step broke with the latest commit, or a test is flaky", 0.25),
    "configuration": ("A setting is missing or wrong in this environment", 0.25),
    "cost": ("Spend rose with usage, or a resource was left running", 0.2),
    "database": ("The database is unreachable, saturated or locked", 0.25),
    "dependency": ("A dependency release broke resolution or carries a vulnerability", 0.25),
    "infrastructure": ("A host, node or container ran out of a resource (CPU, memory, disk)", 0.25),
    "network": ("The network path or DNS between the service and a dependency is failing", 0.25),
    "performance": ("Load above capacity, or a slow dependency", 0.2),
    "security": ("A vulnerability or exposure was reported; exposure, not an outage", 0.2),
    "other": ("Not enough evidence for a cause yet", 0.1),
}

_PREVENTION: dict[str, str] = {
    "deploy": "Roll out {service} progressively (canary) with an automatic rollback on its error rate.",
    "config_change": "Validate configuration changes in CI and roll them out like code, one environment at a time.",
    "ci_failure": "Block deploys while CI is red on the default branch.",
    "code_change": "Require a passing test run and a review before anything merges to the default branch.",
}


class AnalysisAgent:
    """Explains an incident from the evidence around it; see the module docstring for the weights."""

    name = NAME

    def advise(self, situation: Situation) -> Advice:
        """The root-cause analysis of the situation."""
        hypotheses = rank(situation)
        top = hypotheses[0]
        impact = impact_of(situation)
        noticed = f"{len(situation.changes)} change(s) in the {situation.window_minutes} min before"
        if situation.related:
            noticed += f", {len(situation.related)} related incident(s)"
        return Advice(
            agent=NAME,
            kind=KIND,
            summary=f"Most likely: {top.cause} ({top.likelihood:.0%}). {noticed}. {impact['summary']}",
            hypotheses=tuple(hypotheses),
            impact=impact,
            plan=tuple(plan(situation, hypotheses)),
            prevention=tuple(prevention(situation, hypotheses)),
            evidence=evidence(situation),
        )


def rank(situation: Situation) -> list[Hypothesis]:
    """Every hypothesis the evidence supports, the likeliest first (at most five)."""
    found = [_from_change(situation, change) for change in situation.changes]
    if situation.pattern_id:
        title = situation.pattern_title or situation.pattern_id
        found.append(
            Hypothesis(
                f"The known problem '{title}'",
                0.7 * situation.confidence,
                {"pattern_id": situation.pattern_id},
            )
        )
    found += _from_related(situation)
    cause, weight = _PRIORS.get(situation.category, _PRIORS["other"])
    if situation.category == "application" and situation.exception_type:
        cause = f"A code defect on the path that raises {situation.exception_type}"
    if situation.frequency == Frequency.frequent and not situation.changes:
        cause, weight = f"An intermittent fault that keeps recurring ({situation.occurrences} times)", weight + 0.05
    found.append(Hypothesis(cause, weight, {"category": situation.category}))
    found.sort(key=lambda h: -h.likelihood)
    return found[:MAX_HYPOTHESES]


def _from_change(situation: Situation, change: Change) -> Hypothesis:
    nearness = 1.0 - 0.5 * min(change.minutes_before / max(situation.window_minutes, 1), 1.0)
    likelihood = _CHANGE_WEIGHT[change.change] * _SCOPE_WEIGHT[change.scope] * nearness
    elsewhere = bool(change.environment and situation.environment and change.environment != situation.environment)
    if elsewhere:
        likelihood *= 0.3
    whose = f" of {change.service}" if change.service and change.scope != "service" else ""
    where = f" (in {change.environment})" if elsewhere else ""
    cause = f"{_CHANGE_WORDS[change.change]}{whose} {change.minutes_before:.0f} min before{where}: {change.title}"
    return Hypothesis(cause, min(likelihood, 0.95), {"event_id": change.event_id, "scope": change.scope})


def _from_related(situation: Situation) -> list[Hypothesis]:
    if situation.category not in _OPERATIONAL:
        return []  # a vulnerability or a failed build is not caused by another incident being open
    related = [r for r in situation.related if (r.category or "other") in _OPERATIONAL]
    earlier = [r for r in related if 0 < r.minutes_before <= situation.window_minutes * 4]
    found = []
    for other in earlier[:2]:
        likelihood = 0.45 if other.category in _UPSTREAM else 0.35
        found.append(
            Hypothesis(
                f"A cascade from incident #{other.incident_id} ({other.title}), "
                f"which started {other.minutes_before:.0f} min earlier",
                likelihood,
                {"incident_id": other.incident_id},
            )
        )
    concurrent = [r for r in related if r.status in ("open", "acknowledged")]
    if len(concurrent) >= 2:
        found.append(
            Hypothesis(
                f"A dependency shared by {situation.service or 'the service'} is failing "
                f"({len(concurrent)} other incidents open)",
                min(0.3 + 0.05 * len(concurrent), 0.5),
                {"incident_ids": [r.incident_id for r in concurrent]},
            )
        )
    return found


def plan(situation: Situation, hypotheses: list[Hypothesis]) -> list[str]:
    """Steps in order: check the likeliest cause, follow the runbook or else the playbook, act as decided, confirm."""
    steps = [_check(situation, hypotheses[0])]
    steps += [f"Runbook ({situation.pattern_id}): {step}" for step in situation.runbook[:4]]
    playbook = situation.playbook
    if playbook is not None and situation.runbook:
        steps.append(f"For the whole procedure, follow playbook {playbook.id}: {playbook.title}.")
    elif playbook is not None:
        steps += playbook_steps(playbook)
    if situation.action == "escalate":
        steps.append(f"The owner of {situation.service or 'the service'} has been paged; hand them this analysis.")
    elif situation.action == "auto_fix":
        template = f" ({situation.fix_template})" if situation.fix_template else ""
        steps.append(f"Review the proposed fix{template} and let its tests decide.")
    else:
        steps.append("Reproduce it in staging with the event's inputs before changing production.")
    resolve = f"(liberation-guardian resolve {situation.incident_id})."
    if playbook is not None:
        checks = " ".join(playbook.verify)
        steps.append(f"Confirm ({playbook.id}): {checks} Once it has stayed quiet for 30 min, resolve it {resolve}")
    else:
        steps.append(f"Confirm: the incident stays quiet for 30 min after the change, then resolve it {resolve}")
    return steps


def _check(situation: Situation, top: Hypothesis) -> str:
    event_id = top.evidence.get("event_id")
    change = next((c for c in situation.changes if c.event_id == event_id), None)
    if change is not None:
        if change.change == "deploy":
            target = change.service or situation.service or "the service"
            return (
                f"Compare the error rate before and after '{change.title}'; if the errors started with it, "
                f"roll {target} back to the previous release."
            )
        if change.change == "config_change":
            return f"Diff the configuration changed by '{change.title}' and revert it if it touches this path."
        if change.change == "ci_failure":
            return f"Check whether the code that failed '{change.title}' was shipped anyway; fix the build first."
        return f"Read the diff of '{change.title}' for the code on this path; revert it if it is the cause."
    if "incident_id" in top.evidence:
        return f"Look at incident #{top.evidence['incident_id']} first: it started earlier and may be the cause."
    if situation.pattern_id:
        return f"Confirm it is the known problem {situation.pattern_id} by its first runbook step."
    return f"Check the likeliest cause first: {top.cause[0].lower()}{top.cause[1:]}."


def prevention(situation: Situation, hypotheses: list[Hypothesis]) -> list[str]:
    """What would keep it from happening again, for the causes the evidence points at."""
    found: list[str] = []
    for hypothesis in hypotheses:
        change = next((c for c in situation.changes if c.event_id == hypothesis.evidence.get("event_id")), None)
        if change is not None and hypothesis.likelihood >= PLAUSIBLE:
            text = _PREVENTION[change.change].format(service=change.service or situation.service or "the service")
            if text not in found:
                found.append(text)
    if situation.fix_template:
        found.append(f"Make the fix ({situation.fix_template}) permanent in code or configuration, not by hand.")
    if situation.exception_type:
        found.append(f"Add a test that raises {situation.exception_type} on this path and handle it.")
    if situation.frequency != Frequency.first_time:
        found.append("Alert on the leading indicator (error rate, saturation) before it becomes an incident.")
    if not found:
        found.append("Write down the cause once found, so a pattern can recognise it next time.")
    return found[:4]


def evidence(situation: Situation) -> dict[str, object]:
    """What the analysis read: changes, related incidents, the pattern and its runbook, the window."""
    return {
        "event_id": situation.event_id,
        "decision_id": situation.decision_id,
        "correlated_events": [change.as_evidence() for change in situation.changes],
        "related_incidents": [related.as_evidence() for related in situation.related],
        "pattern_id": situation.pattern_id,
        "runbook": list(situation.runbook),
        "playbook": playbook_evidence(situation.playbook),
        "window_minutes": situation.window_minutes,
    }
