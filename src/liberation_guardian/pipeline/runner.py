"""The loops that drive the pipeline in-process: the processor, the dispatch timer, one per channel,
and housekeeping (the retention purge) at most once an hour.

Threads wait on an event and wake when new work is committed, with a timed poll as
the fallback, so the embedded default needs no broker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.act.deliver import PENDING, SENDING, Deliverer, requeue_interrupted
from liberation_guardian.act.notify.base import Channel
from liberation_guardian.config.schema import DeliveryConfig
from liberation_guardian.dispatch.dispatcher import Dispatcher
from liberation_guardian.observe.metrics import Metrics
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Delivery, Event, utcnow

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
COALESCE_BELOW = 50
COALESCE_SECONDS = 0.02
HOUSEKEEPING_SECONDS = 3600.0


class Runner:
    """Starts, wakes and stops the processor and delivery loops."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        processor: Processor,
        channels: dict[str, Channel],
        delivery: DeliveryConfig,
        metrics: Metrics | None = None,
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        self.sessions = sessions
        self.housekeeping = housekeeping
        self.processor = processor
        self.deliverers = [Deliverer(name, ch, sessions, delivery, metrics) for name, ch in channels.items()]
        self._stop = threading.Event()
        self._process_wake = threading.Event()
        self._deliver_wake = {d.channel_name: threading.Event() for d in self.deliverers}
        self._threads: list[threading.Thread] = []
        self.alive = False

    def start(self) -> None:
        """Requeue interrupted deliveries and start every loop."""
        requeued = requeue_interrupted(self.sessions)
        if requeued:
            log.warning("deliveries interrupted by a previous stop are queued again", extra={"count": requeued})
        self._threads = [threading.Thread(target=self._guard(self._process_loop), name="guardian-process", daemon=True)]
        if self.processor.dispatcher is not None:
            loop = self._guard(partial(self._dispatch_loop, self.processor.dispatcher))
            self._threads.append(threading.Thread(target=loop, name="guardian-dispatch", daemon=True))
        if self.housekeeping is not None:
            loop = self._guard(partial(self._housekeeping_loop, self.housekeeping))
            self._threads.append(threading.Thread(target=loop, name="guardian-housekeeping", daemon=True))
        for deliverer in self.deliverers:
            loop = self._guard(partial(self._deliver_loop, deliverer))
            self._threads.append(
                threading.Thread(target=loop, name=f"guardian-deliver-{deliverer.channel_name}", daemon=True)
            )
        for thread in self._threads:
            thread.start()
        self.alive = True

    def wake(self) -> None:
        """Tell the processor that new events were committed."""
        self._process_wake.set()

    def wake_deliveries(self) -> None:
        """Tell every channel loop that new deliveries were queued."""
        for event in self._deliver_wake.values():
            event.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every loop after its current step."""
        self._stop.set()
        self._process_wake.set()
        for event in self._deliver_wake.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)
        self.alive = False

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    loop()
                    return
                except Exception:  # keep the loop alive; the error is logged and retried after a pause
                    log.exception("pipeline loop failed; restarting it")
                    self._stop.wait(POLL_SECONDS)

        return run

    def _process_loop(self) -> None:
        while not self._stop.is_set():
            result = self.processor.run_once()
            if result.deliveries_queued:
                self.wake_deliveries()
            if result.processed == 0:
                self._process_wake.wait(POLL_SECONDS)
                self._process_wake.clear()
            elif result.processed < COALESCE_BELOW:
                # Under load, let a few more events arrive so one commit covers many of them.
                self._stop.wait(COALESCE_SECONDS)

    def _dispatch_loop(self, dispatcher: Dispatcher) -> None:
        """Send notification groups and escalation steps whose timers have passed."""
        while not self._stop.is_set():
            with self.sessions() as session:
                due = dispatcher.next_due(session)
            now = utcnow()
            if due is not None and due <= now:
                with transaction(self.sessions) as session:
                    sent = dispatcher.run_due(session, now)
                if sent:
                    self.wake_deliveries()
                continue
            wait = POLL_SECONDS if due is None else min(max((due - now).total_seconds(), 0.01), POLL_SECONDS)
            self._stop.wait(wait)

    def _housekeeping_loop(self, work: Callable[[], object]) -> None:
        """Run `work` at start and then every hour; a failure is logged and waits for the next hour."""
        while not self._stop.is_set():
            try:
                work()
            except Exception:  # the purge is retried next hour; the pipeline must not stop for it
                log.exception("housekeeping failed; trying again in an hour")
            self._stop.wait(HOUSEKEEPING_SECONDS)

    def _deliver_loop(self, deliverer: Deliverer) -> None:
        wake = self._deliver_wake[deliverer.channel_name]
        while not self._stop.is_set():
            if deliverer.run_once() == 0:
                due = deliverer.next_due_in()
                wake.wait(POLL_SECONDS if due is None else min(max(due, 0.05), POLL_SECONDS))
                wake.clear()


def pending_work(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """(unprocessed events, deliveries pending or in flight): what `drain` waits on."""
    with sessions() as session:
        events = session.scalar(select(func.count()).select_from(Event).where(Event.processed_at.is_(None))) or 0
        deliveries = (
            session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status.in_([PENDING, SENDING])))
            or 0
        )
    return int(events), int(deliveries)


def drain(processor: Processor, deliverers: list[Deliverer], timeout: float = 60.0) -> None:
    """Run the stages in the calling thread until nothing is left to do now (for replay and triage)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worked = processor.run_once().processed
        for deliverer in deliverers:
            worked += deliverer.run_once()
        if worked == 0:
            return
