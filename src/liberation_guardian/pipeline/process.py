"""The processor: runs the stages over stored events that are not yet processed.

Events are taken in id order, a batch per transaction. If a batch fails, its events
are retried one per transaction so one bad event cannot hold up the others; an event
that still fails is marked processed with the error recorded on it and in the log
(with the stage named), never dropped silently and never retried forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, sessionmaker

from liberation_guardian.dispatch.dispatcher import Dispatcher
from liberation_guardian.group.incidents import preload_incidents
from liberation_guardian.observe.metrics import Metrics
from liberation_guardian.pipeline.stages import Stage, Work
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Event, utcnow

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one pass of the processor did."""

    processed: int = 0
    decisions: list[str] = field(default_factory=list)
    deliveries_queued: bool = False


class StageFailed(Exception):
    """A stage raised; carries the stage name for the record."""

    def __init__(self, stage: str, error: Exception) -> None:
        self.stage = stage
        self.error = error
        super().__init__(f"stage {stage} failed: {error!r}")


class Processor:
    """Runs the pipeline stages over unprocessed events."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        stages: Sequence[Stage],
        metrics: Metrics | None = None,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.sessions = sessions
        self.stages = list(stages)
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.clock = clock

    def run_once(self, limit: int = 200) -> BatchResult:
        """Process up to `limit` events; returns what was done (0 processed means idle)."""
        with self.sessions() as session:
            ids = session.scalars(
                select(Event.id).where(Event.processed_at.is_(None)).order_by(Event.id).limit(limit)
            ).all()
        if not ids:
            return BatchResult()
        try:
            return self._process(ids)
        except StageFailed:
            result = BatchResult()
            for event_id in ids:
                try:
                    one = self._process([event_id])
                except StageFailed as failure:
                    self._record_failure(event_id, failure)
                    one = BatchResult(processed=1)
                result.processed += one.processed
                result.decisions += one.decisions
                result.deliveries_queued |= one.deliveries_queued
            return result

    def _process(self, ids: Sequence[int]) -> BatchResult:
        result = BatchResult()
        latencies = []
        with transaction(self.sessions) as session:
            events = session.scalars(
                select(Event)
                # Most events only repeat an open incident; their JSON columns load only if a stage reads them.
                .options(defer(Event.labels), defer(Event.stack_frames), defer(Event.links), defer(Event.extra))
                .where(Event.id.in_(ids), Event.processed_at.is_(None))
                .order_by(Event.id)
            ).all()
            preload_incidents(session, {event.fingerprint for event in events})
            for event in events:
                work = Work(event=event)
                for stage in self.stages:
                    try:
                        stage.run(session, work)
                    except Exception as exc:
                        raise StageFailed(stage.name, exc) from exc
                    if work.done:
                        break
                now = utcnow()
                event.processed_at = now
                latencies.append((now - event.received_at).total_seconds())
                result.processed += 1
                if work.decision is not None:
                    result.decisions.append(work.decision.action)
            if self.dispatcher is not None:
                # Groups due now (no group_wait) are sent in the same commit as the events.
                result.deliveries_queued = self.dispatcher.run_due(session, self.clock()) > 0
        if self.metrics is not None:
            for action in result.decisions:
                self.metrics.decisions.labels(action).inc()
            for seconds in latencies:
                self.metrics.pipeline_latency.observe(max(seconds, 0.0))
        return result

    def _record_failure(self, event_id: int, failure: StageFailed) -> None:
        log.error(
            "event could not be processed",
            extra={"event_id": event_id, "stage": failure.stage, "error": repr(failure.error)},
            exc_info=failure.error,
        )
        if self.metrics is not None:
            self.metrics.processing_errors.labels(failure.stage).inc()
        with transaction(self.sessions) as session:
            event = session.get(Event, event_id)
            if event is not None:
                event.extra = {
                    **(event.extra or {}),
                    "processing_error": {"stage": failure.stage, "error": repr(failure.error)},
                }
                event.processed_at = utcnow()
