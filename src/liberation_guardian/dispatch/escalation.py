"""Escalation policies: notify step by step until someone acknowledges.

A run starts when an escalated incident is first sent on a route with an escalation
policy. Step 1 is notified at once; each step then waits its `wait` for an
acknowledgement before the next one is notified; after the last step the policy starts
over `repeat` times, and then the run is exhausted (logged as an error: nobody answered).
Acknowledging or resolving the incident stops the run.

`next_at` is a durable timer: a step is notified in the same transaction that moves the
run to its next step, so after a restart every step fires once, late rather than twice.
A schedule named in a step is resolved to whoever is on call when the step fires.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.config.routing import ReceiverConfig, RoutingConfig
from liberation_guardian.dispatch.mute import Mute
from liberation_guardian.dispatch.oncall import on_call
from liberation_guardian.dispatch.outbox import queue
from liberation_guardian.dispatch.routes import RoutingTree
from liberation_guardian.group.incidents import IncidentStatus
from liberation_guardian.store.models import Delivery, Escalation, Incident

log = logging.getLogger(__name__)
ACTIVE = "active"
STOPPED = "stopped"
EXHAUSTED = "exhausted"
# How soon a step held back by a silence or an inhibition is looked at again.
RECHECK = timedelta(minutes=1)


class Escalations:
    """Starts, advances and stops escalation runs."""

    def __init__(self, tree: RoutingTree, routing: RoutingConfig) -> None:
        self.tree = tree
        self.routing = routing

    def start(self, session: Session, incident: Incident, policy: str, note: dict[str, Any], now: datetime) -> bool:
        """Start a run for this incident unless one is already active; step 1 is queued at once."""
        running = session.scalar(
            select(Escalation.id).where(Escalation.incident_id == incident.id, Escalation.status == ACTIVE)
        )
        if running is not None:
            return False
        run = Escalation(
            incident_id=incident.id,
            started_seq=incident.transition_seq,
            policy=policy,
            notification=note,
            next_at=now,
            started_at=now,
        )
        session.add(run)
        session.flush()
        self._notify_step(session, run, now)
        return True

    def fire_due(self, session: Session, now: datetime, mute: Mute) -> int:
        """Advance every run whose timer has passed; returns how many steps were notified."""
        runs = session.scalars(
            select(Escalation).where(Escalation.next_at <= now).order_by(Escalation.next_at).limit(500)
        ).all()
        fired = 0
        for run in runs:
            incident = session.get(Incident, run.incident_id)
            if incident is None or incident.status != IncidentStatus.open:
                status = incident.status if incident else "gone"
                self._finish(run, STOPPED, f"incident {status}")
                continue
            reason = mute.reason(incident.id, incident.labels or {})
            if reason is not None:
                run.next_at = min(now + RECHECK, mute.release_at(incident.labels or {}) or now + RECHECK)
                run.reason = f"held: {reason}"
                continue
            policy = self.routing.escalation_policies.get(run.policy)
            if policy is None or run.step >= len(policy.steps) and run.round >= policy.repeat:
                self._finish(run, EXHAUSTED, "every step was notified and nobody acknowledged")
                log.error(
                    "escalation exhausted: nobody acknowledged",
                    extra={"incident_id": incident.id, "policy": run.policy},
                )
                continue
            if run.step >= len(policy.steps):
                run.round += 1
                run.step = 0
            self._notify_step(session, run, now)
            fired += 1
        return fired

    def stop(self, session: Session, incident: Incident, why: str) -> list[Escalation]:
        """Stop the incident's active runs; returns them (for telling whoever they reached)."""
        runs = session.scalars(
            select(Escalation).where(Escalation.incident_id == incident.id, Escalation.status == ACTIVE)
        ).all()
        for run in runs:
            self._finish(run, STOPPED, why)
        return list(runs)

    def told(self, session: Session, run: Escalation) -> list[str]:
        """The channels this run has queued messages to."""
        prefix = f"escalation-{run.id}/"
        rows = session.scalars(
            select(Delivery.channel).where(Delivery.idempotency_key.startswith(prefix, autoescape=True)).distinct()
        ).all()
        return sorted(rows)

    def unresolved(self, session: Session, incident: Incident) -> list[Escalation]:
        """The incident's runs (stopped or not) whose receivers have not yet heard of a resolution."""
        runs = session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).all()
        return [
            run
            for run in runs
            if session.scalar(
                select(Delivery.id)
                .where(Delivery.idempotency_key.startswith(f"escalation-{run.id}/resolved/", autoescape=True))
                .limit(1)
            )
            is None
        ]

    def _notify_step(self, session: Session, run: Escalation, now: datetime) -> None:
        policy = self.routing.escalation_policies[run.policy]
        step = policy.steps[run.step]
        rounds = f", round {run.round + 1} of {policy.repeat + 1}" if policy.repeat else ""
        note = Notification.model_validate(run.notification).model_copy(
            update={
                "note": f"Escalation step {run.step + 1} of {len(policy.steps)}{rounds} ({run.policy}); "
                "acknowledge to stop it."
            }
        )
        for target in step.notify:
            name, receiver = self._receiver(target, now)
            key = f"escalation-{run.id}/{run.round}.{run.step}/{name}"
            queue(session, receiver, note, key, now=now, never_silent=True)
        run.reason = None
        run.next_at = now + step.wait
        run.step += 1

    def _receiver(self, target: str, now: datetime) -> tuple[str, ReceiverConfig | None]:
        schedule = self.routing.schedules.get(target)
        name = on_call(schedule, now) if schedule is not None else target
        return name, self.tree.receivers.get(name)

    @staticmethod
    def _finish(run: Escalation, status: str, why: str) -> None:
        run.status = status
        run.reason = why
        run.next_at = None
