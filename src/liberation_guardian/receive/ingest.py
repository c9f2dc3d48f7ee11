"""The ingest writer: commits accepted payloads and their events in groups.

Requests hand their parsed events to one writer thread and wait. The writer takes
everything queued, inserts it in one transaction and commits once, so one disk
flush covers many requests (group commit) while every request is answered only
after its own events are on disk.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.events import NormalizedEvent
from liberation_guardian.group.fingerprint import fingerprint
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Event, Payload, utcnow

log = logging.getLogger(__name__)
MAX_GROUP = 512


@dataclass
class Submission:
    """One request's payload and events, waiting to be committed."""

    source: str
    content_type: str | None
    body: str
    events: list[NormalizedEvent]
    received_at: datetime = field(default_factory=utcnow)
    done: Callable[[list[int] | BaseException], None] = lambda _: None


def event_values(
    event: NormalizedEvent, payload_id: int, received_at: datetime, environment: str | None
) -> dict[str, Any]:
    """The stored columns of a normalized event; `environment` fills in when the event names none."""
    if environment and not event.environment:
        event = event.model_copy(update={"environment": environment})
    return {
        "payload_id": payload_id,
        "source": event.source,
        "kind": event.kind,
        "status": event.status.value,
        "severity": event.severity.value,
        "title": event.title,
        "message": event.message,
        "service": event.service,
        "environment": event.environment,
        "fingerprint": fingerprint(event),
        "grouping_key": event.grouping_key,
        "exception_type": event.exception_type,
        "labels": event.labels,
        "stack_frames": [frame.model_dump(mode="json") for frame in event.stack_frames],
        "user_impact": event.user_impact.value if event.user_impact else None,
        "links": [link.model_dump(mode="json") for link in event.links],
        "extra": event.extra,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "processed_at": None,
        "incident_id": None,
    }


def store(session: Session, submissions: list[Submission], environment: str | None = None) -> list[list[int]]:
    """Insert the payloads and events of several submissions; returns each one's event ids."""
    payload_ids = session.scalars(
        insert(Payload).returning(Payload.id, sort_by_parameter_order=True),
        [
            {"source": s.source, "received_at": s.received_at, "content_type": s.content_type, "body": s.body}
            for s in submissions
        ],
    ).all()
    rows = [
        event_values(event, payload_id, submission.received_at, environment)
        for submission, payload_id in zip(submissions, payload_ids, strict=True)
        for event in submission.events
    ]
    event_ids = (
        list(session.scalars(insert(Event).returning(Event.id, sort_by_parameter_order=True), rows).all())
        if rows
        else []
    )
    split, start = [], 0
    for submission in submissions:
        split.append(event_ids[start : start + len(submission.events)])
        start += len(submission.events)
    return split


class IngestWriter:
    """One thread that commits submissions in groups and reports each one's event ids."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        on_commit: Callable[[], None] = lambda: None,
        environment: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.environment = environment
        self.on_commit = on_commit
        self._queue: queue.Queue[Submission | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="guardian-ingest", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(30)

    async def submit(
        self, source: str, content_type: str | None, body: str, events: list[NormalizedEvent]
    ) -> list[int]:
        """Queue a payload and its events; return their ids once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()

        def done(result: list[int] | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, result)

        self._queue.put(Submission(source, content_type, body, events, done=done))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stopping = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[Submission]) -> None:
        try:
            with transaction(self.sessions) as session:
                ids = store(session, group, self.environment)
        except Exception as exc:  # every waiting request hears about it and answers 503
            log.exception("could not commit accepted events", extra={"requests": len(group)})
            for submission in group:
                submission.done(exc)
            return
        for submission, event_ids in zip(group, ids, strict=True):
            submission.done(event_ids)
        self.on_commit()


def _settle(future: asyncio.Future[list[int]], result: list[int] | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
