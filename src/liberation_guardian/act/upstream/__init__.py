"""Upstream actions: telling the tool an incident came from that it was acknowledged here.

When an incident from Sentry or PagerDuty is acknowledged (by an `auto_acknowledge`
decision or by a person), and that source is configured to hear it, one message is queued
to the channel `upstream-<source>` in the same outbox as notifications (`deliveries`),
keyed `incident-<id>/t<transition>-upstream-ack` so it is queued once. The delivery stage
sends, retries and gives it up like any notification. The tool's own id of the incident
(a Sentry issue id, a PagerDuty incident id) is read from the incident's latest event of
that source and travels in `Notification.upstream`.

A tool's own answer is never echoed back: an acknowledgement whose `acknowledged_by` starts
with the source's name (`pagerduty:Dana`) is not sent to that source, and neither is one
whose latest event from the tool already says so (a PagerDuty `incident.acknowledged`, a
Sentry issue `archived`); this also ends the round trip of our own change coming back as
the tool's webhook.

The actions are not notification channels: they are not configured under
`integrations.notifications` and no route can send to them. `pipeline/offline.py` (replay,
triage) runs no delivery loop, so what it queues here is never sent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.upstream.base import UpstreamAction
from liberation_guardian.act.upstream.pagerduty import PagerDutyAcknowledge
from liberation_guardian.act.upstream.sentry import SentryIssueStatus
from liberation_guardian.config import LoadedConfig
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.store.models import Delivery, Event, Incident

__all__ = ["ACTIONS", "UpstreamAction", "Upstream", "channels"]

log = logging.getLogger(__name__)

ACTIONS: tuple[type[UpstreamAction], ...] = (SentryIssueStatus, PagerDutyAcknowledge)
# How many of an incident's latest events are searched for the tool's id.
_EVENTS_SEARCHED = 20


def _wanted(config: LoadedConfig) -> dict[str, tuple[type[UpstreamAction], SourceConfig, dict[str, str]]]:
    """Source name -> (action class, source config, secrets) for every enabled source that wants to be told."""
    found = {}
    for action in ACTIONS:
        entry = config.sources.get(action.source)
        if entry is None:
            continue
        plugin = entry[1]
        if isinstance(plugin.config, SourceConfig) and action.wanted(plugin.config):
            found[action.source] = (action, plugin.config, plugin.secrets)
    return found


def channels(config: LoadedConfig) -> dict[str, UpstreamAction]:
    """An instance of every upstream action this configuration asks for, by channel name."""
    return {cls.name: cls(source_config, secrets) for cls, source_config, secrets in _wanted(config).values()}


class Upstream:
    """Queues the upstream message for an acknowledged incident, when its source wants one."""

    def __init__(self, config: LoadedConfig) -> None:
        self.actions = {source: entry[0] for source, entry in _wanted(config).items()}

    def acknowledged(self, session: Session, incident: Incident, note: Notification, now: datetime) -> str | None:
        """Queue telling the incident's source it is acknowledged; returns the channel, or None when not queued."""
        action = self.actions.get(incident.source)
        if action is None:
            return None
        if (incident.acknowledged_by or "").startswith(f"{incident.source}:"):
            return None  # the tool's own answer: it knows already
        knows, reference = self._look_up(session, incident, action)
        if knows:
            return None  # the tool's latest word is that it is acknowledged there: telling it again would echo
        if not reference:
            log.info(
                "acknowledged incident names no upstream id; its source is not told",
                extra={"incident_id": incident.id, "channel": action.name},
            )
            return None
        key = f"incident-{incident.id}/t{incident.transition_seq}-upstream-ack"
        if session.scalar(select(Delivery.id).where(Delivery.idempotency_key == key)) is not None:
            return None
        message = note.model_copy(update={"idempotency_key": key, "upstream": reference})
        session.add(
            Delivery(
                incident_id=incident.id,
                channel=action.name,
                idempotency_key=key,
                transition="acknowledged",
                notification=message.model_dump(mode="json"),
                created_at=now,
                next_attempt_at=now,
            )
        )
        return action.name

    @staticmethod
    def _look_up(session: Session, incident: Incident, action: type[UpstreamAction]) -> tuple[bool, dict[str, str]]:
        """Whether the tool's latest event says it knows already, and the tool's ids from the latest that has them."""
        # Only events grouped into the incident count: a two-way tool's answer about our own
        # alert is attached to the incident too, but names the tool's copy, not the original.
        events = session.scalars(
            select(Event)
            .where(
                Event.incident_id == incident.id,
                Event.source == incident.source,
                Event.fingerprint == incident.fingerprint,
            )
            .order_by(Event.id.desc())
            .limit(_EVENTS_SEARCHED)
        )
        knows: bool | None = None
        for event in events:
            if knows is None:
                knows = action.knows(event.extra or {})
            reference = action.reference(event.extra or {})
            if reference:
                return bool(knows), reference
        return bool(knows), {}
