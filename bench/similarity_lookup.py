"""Similarity benchmark: the memory of 100,000 past incidents, rebuilt from SQLite and asked by the decider.

It writes `--incidents` past incidents into a fresh SQLite database as the pipeline would
leave them (an event, an incident and a decision each; most resolved, some corrected by a
person), generated from a few hundred message shapes with varying hosts, ids, numbers,
durations, addresses and paths, the common shapes far more frequent than the rare ones
(seeded, so every run writes the same store). Then it measures:

- the rebuild: a fresh `IncidentMemory` syncing from the store, as after a restart, and
  the memory it holds (tracemalloc, in a separate pass since tracing slows everything);
- lookups on one core: `Similar.decide` for `--lookups` new events (three quarters new
  occurrences of known shapes; one eighth the same with two more words, so that no
  template fits and the lexical index answers; one eighth shapes never seen), alone and
  together with `KnownPattern` over the pattern index grown to `--patterns` patterns by
  `bench/knowledge_lookup.py`'s generator, as the chain asks them: the known pattern
  first, the similarity decider when no pattern matched;
- a sync when nothing changed (the cost paid before every decision).

The rebuild also writes the pattern proposals of the recurring templates, as a first
start on an existing store would.

    .venv/bin/python bench/similarity_lookup.py --incidents 100000 --lookups 30000
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from knowledge_lookup import synthesize
from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge import PatternIndex, load_pack
from liberation_guardian.learn.memory import IncidentMemory
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Event, Feedback, Incident, Payload, Resolution
from liberation_guardian.triage.base import Case
from liberation_guardian.triage.known import KnownPattern
from liberation_guardian.triage.similar import Similar

COMPONENTS = (
    "payments-api checkout ledger-worker nightly-export search-indexer auth-service billing-cron notification-relay "
    "inventory-sync report-builder image-resizer webhook-dispatcher session-store pricing-engine order-router"
).split()
PROBLEMS = (
    "request {uuid} timed out after {dur}",
    "connection to {ip} refused (attempt {num} of 5)",
    "queue {word}-dlq holds {num} messages older than {dur}",
    "disk usage on {host} reached {num}% of /var/lib/data",
    "job {hex} exited with code {num} after {dur}",
    "certificate for {host}.example.com expires in {num} days",
    "lock wait on table {word}_rows exceeded {dur} in transaction {num}",
    "pod {word}-{hex}-x2x9z restarted {num} times in {dur}",
    "user {email} exceeded the rate limit on {path}",
    "upstream {host} answered 503 for {path} ({num} of the last 100 requests)",
    "replica {host} is {num} seconds behind the primary",
    "batch {num} stalled on {host} waiting for shard {num}",
    "cache hit ratio on {host} fell to {num}% over {dur}",
    "export of tenant t-{num} wrote an empty file to {path}",
    "worker {host} heartbeat missing for {dur}",
    "memory usage of {word} at {num}MiB, limit {num}MiB",
    "webhook to {url} failed with status {num}",
    "cron schedule {word}-{num} missed its run by {dur}",
    "slow query took {dur} on {host}: select from {word}_events",
    "token for client {hex} rejected: signature expired at {time}",
    "file handle limit reached on {host} ({num} open files)",
    "retrying message {uuid} for the {num}th time",
    "consumer group {word} lag is {num} messages on partition {num}",
    "build {num} of branch feature/{word} failed at step {word}",
    "backup of volume vol-{hex} took {dur}, longer than {dur}",
)
DETAILS = (
    "",
    "in region eu-west-{num}",
    "during deploy {hex}",
    "for tenant t-{num}",
    "see {url}",
    "while draining node {host}",
    "after restart at {time}",
    "on shard {num} of 16",
)
WORDS = "orders invoices payments users sessions ledger search audit exports catalog shipments refunds".split()
ACTIONS = ("investigate", "auto_acknowledge", "escalate", "auto_fix")
CATEGORIES = ("application", "availability", "database", "infrastructure", "network", "performance")
SEVERITIES = ("low", "medium", "high")


def _fill(shape: str, rng: random.Random) -> str:
    values: dict[str, Callable[[], str]] = {
        "uuid": lambda: f"{rng.getrandbits(128):032x}",
        "dur": lambda: rng.choice([f"{rng.randint(1, 900)}ms", f"{rng.randint(1, 90)}s", f"{rng.randint(1, 59)}m"]),
        "ip": lambda: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:{rng.randint(1024, 9999)}",
        "num": lambda: str(rng.randint(1, 99_999)),
        "word": lambda: rng.choice(WORDS),
        "host": lambda: f"{rng.choice(['web', 'db', 'cache', 'worker', 'queue'])}-{rng.randint(1, 400)}",
        "hex": lambda: f"{rng.getrandbits(40):010x}",
        "email": lambda: f"user{rng.randint(1, 50_000)}@example.com",
        "path": lambda: f"/api/v{rng.randint(1, 3)}/{rng.choice(WORDS)}/{rng.randint(1, 9999)}",
        "url": lambda: f"https://hooks.example.com/{rng.choice(WORDS)}/{rng.getrandbits(32):08x}",
        "time": lambda: f"2026-11-{rng.randint(1, 27):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
    }
    text = shape
    while "{" in text:
        start = text.index("{")
        end = text.index("}", start)
        text = text[:start] + values[text[start + 1 : end]]() + text[end + 1 :]
    return text


@dataclass(frozen=True)
class Shape:
    """One kind of message and how its incidents were handled."""

    title: str
    message: str
    action: str
    severity: str
    category: str


def shapes(count: int, rng: random.Random) -> list[Shape]:
    """`count` distinct message shapes, each with its own handling."""
    combos = [(c, p, d) for c in COMPONENTS for p in PROBLEMS for d in DETAILS]
    rng.shuffle(combos)
    chosen = []
    for component, problem, detail in combos[:count]:
        chosen.append(
            Shape(
                title=f"{component}: {problem}",
                message=detail,
                action=rng.choice(ACTIONS),
                severity=rng.choice(SEVERITIES),
                category=rng.choice(CATEGORIES),
            )
        )
    return chosen


def write_store(factory: sessionmaker[Session], known: list[Shape], count: int, rng: random.Random) -> None:
    """`count` past incidents: most resolved as their shape is handled, a few corrected by a person, some noise."""
    weights = [1 / (rank + 1) for rank in range(len(known))]  # Zipf-like: common shapes dominate
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(factory) as session:
        session.execute(insert(Payload), [{"id": 1, "source": "generic", "body": "{}"}])
    chunk = 5_000
    for low in range(1, count + 1, chunk):
        events, incidents, decisions, resolutions, feedback = [], [], [], [], []
        for number in range(low, min(low + chunk, count + 1)):
            shape = rng.choices(known, weights)[0]
            when = start + timedelta(minutes=number)
            title, message = _fill(shape.title, rng), _fill(shape.message, rng)
            noisy = rng.random() < 0.1
            action = rng.choice(ACTIONS) if noisy else shape.action
            common = {"source": "generic", "kind": "event", "title": title, "severity": shape.severity}
            events.append(
                {
                    "id": number,
                    "payload_id": 1,
                    **common,
                    "status": "firing",
                    "message": message,
                    "fingerprint": f"{number:032x}",
                    "received_at": when,
                    "processed_at": when,
                    "incident_id": number,
                }
            )
            incidents.append(
                {"id": number, **common, "fingerprint": f"{number:032x}", "status": "resolved", "transition_seq": 2}
            )
            decisions.append(
                {
                    "id": number,
                    "incident_id": number,
                    "event_id": number,
                    "transition": "opened",
                    "transition_seq": 1,
                    "action": action,
                    "severity": shape.severity,
                    "category": shape.category,
                    "confidence": 0.5,
                    "decided_by": "fallback",
                    "rationale": "",
                    "created_at": when,
                }
            )
            if rng.random() < 0.7:
                resolutions.append(
                    {
                        "incident_id": number,
                        "transition_seq": 2,
                        "resolved_at": when,
                        "resolved_by": "source",
                        "action": action,
                        "category": shape.category,
                    }
                )
            if noisy and rng.random() < 0.3:
                feedback.append(
                    {
                        "incident_id": number,
                        "decision_id": number,
                        "correct": False,
                        "action": shape.action,
                        "author": "ana",
                        "created_at": when,
                    }
                )
        with transaction(factory) as session:
            for model, rows in (
                (Incident, incidents),
                (Event, events),
                (Decision, decisions),
                (Resolution, resolutions),
                (Feedback, feedback),
            ):
                if rows:
                    session.execute(insert(model), rows)


def cases(known: list[Shape], unseen: list[Shape], count: int, rng: random.Random) -> list[Case]:
    """New events: 3/4 known shapes, 1/8 known shapes with extra words, 1/8 shapes never seen."""
    made = []
    for number in range(count):
        kind = number % 8
        shape = rng.choice(unseen if kind == 7 else known)
        message = _fill(shape.message, rng) + (" (since deploy)" if kind == 6 else "")
        made.append(
            Case(
                source="generic",
                kind="event",
                title=_fill(shape.title, rng),
                message=message,
                severity=Severity(shape.severity),
                category="other",
                transition="opened",
                frequency=Frequency.first_time,
                user_impact=None,
                occurrences=1,
                fix_attempts=0,
            )
        )
    return made


def timed(decide: Callable[[Case], Any], texts: list[Case]) -> tuple[float, int]:
    """Seconds to decide every case, and how many got an answer."""
    answered = 0
    start = time.perf_counter()
    for case in texts:
        if decide(case) is not None:
            answered += 1
    return time.perf_counter() - start, answered


def rebuild(factory: sessionmaker[Session]) -> tuple[IncidentMemory, float]:
    """A memory synced from scratch, and the seconds it took."""
    memory = IncidentMemory()
    start = time.perf_counter()
    with transaction(factory) as session:
        memory.sync(session)
    return memory, time.perf_counter() - start


def held(factory: sessionmaker[Session]) -> float:
    """MiB a rebuilt memory holds."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    memory, _ = rebuild(factory)
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del memory
    return (current - before) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--shapes", type=int, default=300)
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    every = shapes(args.shapes + args.shapes // 8, rng)
    known, unseen = every[: args.shapes], every[args.shapes :]
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrate(engine)
        factory = sessions(engine)
        start = time.perf_counter()
        write_store(factory, known, args.incidents, rng)
        written = time.perf_counter() - start
        memory, rebuilt = rebuild(factory)
        idle_start = time.perf_counter()
        for _ in range(1000):
            with factory() as session:
                memory.sync(session)
        idle = (time.perf_counter() - idle_start) / 1000
        mib = held(factory)
        engine.dispose()

    pack = load_pack()
    index = PatternIndex(synthesize(pack, args.patterns))
    for pattern in index.patterns:
        pattern.regexes  # noqa: B018 - compile every regex before timing lookups
    known_pattern = KnownPattern(index, threshold=0.7, max_fix_attempts=3)
    similar = Similar(memory, threshold=0.7, max_fix_attempts=3)

    def chain(case: Case) -> Any:
        return known_pattern.decide(case) or similar.decide(case)

    texts = cases(known, unseen, args.lookups, rng)
    timed(chain, texts[:1000])  # warm up
    similar_s, answered = timed(similar.decide, texts)
    known_s, matched = timed(known_pattern.decide, texts)
    chain_s, _ = timed(chain, texts)
    kinds: dict[str, list[Case]] = {"known shapes": [], "extra words": [], "unseen shapes": []}
    for number, case in enumerate(texts):
        kinds["unseen shapes" if number % 8 == 7 else "extra words" if number % 8 == 6 else "known shapes"].append(case)
    by_kind = {}
    for name, part in kinds.items():
        seconds, got = timed(similar.decide, part)
        by_kind[name] = {"lookups_per_s": round(len(part) / seconds), "answered": got, "lookups": len(part)}
    figures = {
        "shapes": args.shapes,
        **memory.describe(),
        "store_written_s": round(written, 1),
        "rebuild_s": round(rebuilt, 2),
        "memory_mib": round(mib, 1),
        "idle_sync_ms": round(idle * 1000, 3),
        "patterns": len(index.patterns),
        "lookups": len(texts),
        "similar_per_s": round(len(texts) / similar_s),
        "similar_mean_us": round(similar_s / len(texts) * 1e6, 1),
        "similar_answered": answered,
        "known_per_s": round(len(texts) / known_s),
        "known_matched": matched,
        "chain_per_s": round(len(texts) / chain_s),
        "chain_mean_us": round(chain_s / len(texts) * 1e6, 1),
        "similar_by_kind": by_kind,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{args.incidents:,} past incidents from {args.shapes} shapes -> {figures['templates']:,} templates "
        f"({figures['templates_with_votes']:,} with votes); store written in {written:.1f} s"
    )
    print(f"rebuild from SQLite {rebuilt:.2f} s, memory held {mib:.1f} MiB, idle sync {figures['idle_sync_ms']} ms")
    print(
        f"{len(texts):,} lookups: similarity alone {figures['similar_per_s']:,}/s ({figures['similar_mean_us']} µs, "
        f"{answered:,} answered); known patterns ({len(index.patterns):,}) alone {figures['known_per_s']:,}/s "
        f"({matched:,} matched); both as the chain asks them {figures['chain_per_s']:,}/s "
        f"({figures['chain_mean_us']} µs)"
    )
    for name, rate in by_kind.items():
        print(f"  {name:<14} {rate['lookups_per_s']:>9,}/s  ({rate['answered']:,} of {rate['lookups']:,} answered)")


if __name__ == "__main__":
    main()
