"""Knowledge-base upkeep benchmark: seeding the shipped pack, the decider's sync, and the retention purge.

What it measures, on a fresh SQLite file (WAL, `synchronous=FULL`, as the service runs it):

- seeding: copying the shipped pack into the `patterns` table at the first start, and the
  check at every later start (nothing to write);
- sync: `KnownPattern.sync` before a decision when nothing changed (with the shipped pack
  alone, and with `--stored` extra proposals in the table), after one pattern's evidence
  changed (what follows every decision a pattern makes, timed once no other row changed in
  the last seconds), and after a pattern was accepted (the index is rebuilt);
- purge: deleting `--incidents` resolved incidents older than the window, each with two
  events and their payloads, a decision, a delivery and a resolution, while as many recent
  ones stay; then a purge with nothing to delete.

    .venv/bin/python bench/pattern_learning.py --stored 10000 --incidents 20000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.learn.patterns import seed_shipped
from liberation_guardian.learn.retention import purge
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Delivery, Event, Incident, Pattern, Payload, Resolution, utcnow
from liberation_guardian.triage.known import KnownPattern, shipped_index


def _per_call(factory: sessionmaker[Session], decider: KnownPattern, calls: int) -> float:
    """Microseconds per `sync` when nothing changed, in one session as the processor holds it."""
    with factory() as session:
        decider.sync(session)
        started = time.perf_counter()
        for _ in range(calls):
            decider.sync(session)
        return (time.perf_counter() - started) / calls * 1e6


def _seed_and_sync(factory: sessionmaker[Session], stored: int, calls: int) -> dict[str, Any]:
    learning = LearningConfig()
    started = time.perf_counter()
    with transaction(factory) as session:
        written = seed_shipped(session, learning, utcnow())
    first = time.perf_counter() - started
    started = time.perf_counter()
    with transaction(factory) as session:
        seed_shipped(session, learning, utcnow())
    again = time.perf_counter() - started

    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    idle_shipped = _per_call(factory, decider, calls)
    now = utcnow()
    rows = [
        {
            "id": f"learned.bench-{number}",
            "origin": "learned",
            "status": "proposed",
            "title": f"Proposal {number}",
            "match": {"any": [rf"\bbench proposal {number}\b"]},
            "category": "other",
            "severity": "low",
            "action": "investigate",
            "runbook": "",
            "tags": [],
            "occurrences": 0,
            "successes": 0,
            "failures": 0,
            "confirmations": 0,
            "rejections": 0,
            "confidence": 0.6,
            "provenance": {},
            "created_at": now,
            "updated_at": now,
        }
        for number in range(stored)
    ]
    if rows:
        with transaction(factory) as session:
            session.execute(insert(Pattern), rows)
    idle_stored = _per_call(factory, decider, max(calls // 5, 50))

    # A service that has run a while: no row changed in the last few seconds but the one being timed.
    with transaction(factory) as session:
        session.execute(update(Pattern).values(updated_at=utcnow() - timedelta(hours=1)))
    decider = KnownPattern(shipped_index(), threshold=0.7, max_fix_attempts=3)
    with factory() as session:
        decider.sync(session)
    timings = []
    for _ in range(20):
        with transaction(factory) as session:
            row = session.get(Pattern, "cloud.aws-throttling")
            assert row is not None
            row.occurrences += 1
            row.updated_at = utcnow()
            session.flush()
            started = time.perf_counter()
            decider.sync(session)
            timings.append(time.perf_counter() - started)
    after_change = sorted(timings)[len(timings) // 2] * 1e3
    with transaction(factory) as session:
        row = session.get(Pattern, "learned.bench-0") if stored else None
        if row is not None:
            row.status, row.updated_at = "active", utcnow()
            session.flush()
        started = time.perf_counter()
        decider.sync(session)
        after_accept = (time.perf_counter() - started) * 1e3
    return {
        "seed_first_start_ms": round(first * 1e3, 1),
        "seed_rows_written": written,
        "seed_later_start_ms": round(again * 1e3, 1),
        "sync_idle_us_shipped_only": round(idle_shipped, 1),
        "stored_proposals": stored,
        "sync_idle_us_with_stored": round(idle_stored, 1),
        "sync_after_evidence_change_ms": round(after_change, 2),
        "sync_after_accept_ms_rebuild": round(after_accept, 1),
    }


def _history(factory: sessionmaker[Session], count: int, age: timedelta, first_id: int) -> None:
    """`count` resolved incidents of `age`, each with two events and payloads, a decision, a delivery, a resolution."""
    when = utcnow() - age
    chunk = 2000
    for start in range(0, count, chunk):
        ids = range(first_id + start, first_id + min(start + chunk, count))
        with transaction(factory) as session:
            session.execute(
                insert(Incident),
                [
                    {
                        "id": number,
                        "fingerprint": f"fp-{number}",
                        "status": "resolved",
                        "severity": "medium",
                        "source": "generic",
                        "kind": "event",
                        "title": f"Problem {number}",
                        "occurrences": 1,
                        "first_seen": when,
                        "last_seen": when,
                        "window_start": when,
                        "resolved_at": when,
                        "resolved_by": "source:generic",
                        "labels": {},
                    }
                    for number in ids
                ],
            )
            session.execute(
                insert(Payload),
                [
                    {"id": number * 2 + half, "source": "generic", "received_at": when, "body": "{}"}
                    for number in ids
                    for half in (0, 1)
                ],
            )
            session.execute(
                insert(Event),
                [
                    {
                        "id": number * 2 + half,
                        "payload_id": number * 2 + half,
                        "source": "generic",
                        "kind": "event",
                        "status": "resolved" if half else "firing",
                        "severity": "medium",
                        "title": f"Problem {number}",
                        "fingerprint": f"fp-{number}",
                        "received_at": when,
                        "processed_at": when,
                        "incident_id": number,
                    }
                    for number in ids
                    for half in (0, 1)
                ],
            )
            session.execute(
                insert(Decision),
                [
                    {
                        "id": number,
                        "incident_id": number,
                        "event_id": number * 2,
                        "transition": "opened",
                        "transition_seq": 1,
                        "action": "investigate",
                        "severity": "medium",
                        "category": "other",
                        "confidence": 0.5,
                        "decided_by": "fallback",
                        "rationale": "bench",
                        "details": {},
                        "created_at": when,
                    }
                    for number in ids
                ],
            )
            session.execute(
                insert(Delivery),
                [
                    {
                        "incident_id": number,
                        "decision_id": number,
                        "channel": "console",
                        "idempotency_key": f"{number}:1:console",
                        "transition": "opened",
                        "status": "delivered",
                        "next_attempt_at": when,
                        "created_at": when,
                    }
                    for number in ids
                ],
            )
            session.execute(
                insert(Resolution),
                [
                    {"incident_id": number, "transition_seq": 2, "resolved_at": when, "resolved_by": "source:generic"}
                    for number in ids
                ],
            )


def _purge(factory: sessionmaker[Session], incidents: int) -> dict[str, Any]:
    _history(factory, incidents, timedelta(days=400), first_id=1)
    _history(factory, incidents, timedelta(days=10), first_id=incidents + 1)
    started = time.perf_counter()
    deleted = purge(factory, 365)
    took = time.perf_counter() - started
    started = time.perf_counter()
    purge(factory, 365)
    idle = time.perf_counter() - started
    with factory() as session:
        left = session.scalar(select(func.count()).select_from(Incident)) or 0
    return {
        "old_incidents": incidents,
        "purge_s": round(took, 2),
        "purged_incidents_per_s": round(deleted["incidents"] / took),
        "rows_deleted": sum(deleted.values()),
        "incidents_left": int(left),
        "idle_purge_ms": round(idle * 1e3, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=10_000, help="Extra proposals in the patterns table.")
    parser.add_argument("--incidents", type=int, default=20_000, help="Old resolved incidents to purge.")
    parser.add_argument("--calls", type=int, default=2_000, help="Idle syncs timed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrate(engine)
        factory = sessions(engine)
        shipped_index()  # the pack is read once per process anyway; keep it out of the seeding time
        report = _seed_and_sync(factory, args.stored, args.calls)
        report.update(_purge(factory, args.incidents))
        engine.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
