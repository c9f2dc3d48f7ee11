"""The stages every stored event passes through after it is accepted.

Each stage reads and extends one `Work` item inside the transaction that processes
the event; all of a stage's writes commit together with the event being marked
processed, so a crash repeats the whole event or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.alert_keys import incident_of
from liberation_guardian.config.schema import GroupingConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import Frequency, Severity, Status, UserImpact
from liberation_guardian.group.incidents import Transition, acknowledge, observe, resolve
from liberation_guardian.store.models import Decision, Event, Incident
from liberation_guardian.triage.base import Case, TriageChain, Verdict
from liberation_guardian.triage.category import categorize


@dataclass
class Work:
    """One event on its way through the stages, with what each stage found."""

    event: Event
    incident: Incident | None = None
    transition: Transition | None = None
    category: str = "other"
    verdict: Verdict | None = None
    decision: Decision | None = None
    done: bool = False  # a stage handled the event completely; the later stages skip it


class Stage(Protocol):
    """One step of the pipeline."""

    name: str

    def run(self, session: Session, work: Work) -> None:
        """Do this stage's part for one event, inside the caller's transaction."""
        ...


class AnswerStage:
    """Applies a person's answer reported by a tool: an acknowledgement, or a resolution of our own incident.

    When PagerDuty or Opsgenie reports on an alert this instance created (its key names one
    of our incidents), the event is that incident's acknowledgement or resolution, by the
    person the tool names: not a new problem to open an incident for.

    When any tool reports that a person acknowledged one of its own alerts (PagerDuty,
    Opsgenie, VictorOps mark such events `acknowledged`), someone already owns the problem:
    its incident is acknowledged by that person, without a new decision or a page. If the
    acknowledgement is the first this instance hears of the problem, the incident is opened
    already acknowledged.
    """

    name = "answer"

    def __init__(self, instance: str, policy: Policy, grouping: GroupingConfig) -> None:
        self.instance = instance
        self.policy = policy
        self.grouping = grouping

    def run(self, session: Session, work: Work) -> None:
        """Acknowledge or resolve the incident the event answers for."""
        event = work.event
        extra = event.extra or {}
        incident = self._ours(session, event)
        if incident is None:
            if extra.get("acknowledged") and event.status == Status.firing:
                self._acknowledged_there(session, work)
            return
        who = _who(event)
        event.incident_id = incident.id
        work.done = True
        now = self.policy.clock()
        if event.status == Status.resolved:
            if resolve(incident, who, now) is not None:
                self.policy.record_resolution(session, incident, None)
        elif extra.get("acknowledged") and acknowledge(incident, who, now):
            self.policy.record_acknowledgement(session, incident)

    def _ours(self, session: Session, event: Event) -> Incident | None:
        if event.source == "pagerduty":
            key = (event.labels or {}).get("incident_key")
        elif event.source == "opsgenie":
            key = (event.extra or {}).get("alias")
        else:
            return None
        incident_id = incident_of(self.instance, key if isinstance(key, str) else None)
        return session.get(Incident, incident_id) if incident_id is not None else None

    def _acknowledged_there(self, session: Session, work: Work) -> None:
        event = work.event
        incident = session.scalars(select(Incident).where(Incident.fingerprint == event.fingerprint)).one_or_none()
        if incident is None:
            incident = observe(session, event, self.grouping).incident  # first heard of: open it, owned already
        event.incident_id = incident.id
        work.incident, work.done = incident, True
        if acknowledge(incident, _who(event), self.policy.clock()):
            self.policy.record_acknowledgement(session, incident)


def _who(event: Event) -> str:
    extra = event.extra or {}
    name = extra.get("agent") or extra.get("username") or extra.get("acknowledged_by") or "someone"
    return f"{event.source}:{name}"


class GroupStage:
    """Attaches the event to its incident and notes the transition it caused."""

    name = "group"

    def __init__(self, grouping: GroupingConfig) -> None:
        self.grouping = grouping

    def run(self, session: Session, work: Work) -> None:
        """Fold the event into its incident."""
        observed = observe(session, work.event, self.grouping)
        work.incident, work.transition = observed.incident, observed.transition


class EnrichStage:
    """Adds what later stages need that the source did not say: the problem's category."""

    name = "enrich"

    def run(self, session: Session, work: Work) -> None:
        """Guess the category from the event's words, for the transitions that will be triaged."""
        if work.transition in (None, Transition.resolved):
            return
        event = work.event
        work.category = categorize(event.source, event.kind, f"{event.title}\n{event.message}", event.exception_type)


class TriageStage:
    """Asks the triage chain for a verdict on every transition except resolution."""

    name = "triage"

    def __init__(self, chain: TriageChain) -> None:
        self.chain = chain

    def run(self, session: Session, work: Work) -> None:
        """Decide what an opened, reopened or worsened incident needs."""
        if work.incident is None or work.transition in (None, Transition.resolved):
            return
        event, incident = work.event, work.incident
        self.chain.sync(session)
        work.verdict = self.chain.decide(
            case_of(event, incident, category=work.category, transition=work.transition.value)
        )


def case_of(event: Event, incident: Incident, *, category: str, transition: str) -> Case:
    """What the triage chain sees of a stored event and the state of its incident."""
    return Case(
        source=event.source,
        kind=event.kind,
        title=event.title,
        message=event.message or "",
        severity=Severity(incident.severity),
        category=category,
        transition=transition,
        frequency=Frequency(incident.frequency),
        user_impact=UserImpact(incident.user_impact) if incident.user_impact else None,
        occurrences=incident.occurrences,
        fix_attempts=incident.fix_attempts,
        service=event.service,
        environment=event.environment,
        exception_type=event.exception_type,
        labels={str(k): str(v) for k, v in (event.labels or {}).items()},
    )


class DecideStage:
    """Stores the verdict as a decision and queues the deliveries the policy calls for."""

    name = "decide"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def run(self, session: Session, work: Work) -> None:
        """Record the decision, or the resolution, of this transition."""
        if work.incident is None or work.transition is None:
            return
        if work.transition == Transition.resolved:
            self.policy.record_resolution(session, work.incident, work.event)
        elif work.verdict is not None:
            work.decision = self.policy.record(session, work.incident, work.event, work.transition, work.verdict)
