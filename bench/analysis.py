"""Analysis stage benchmark: what the offline analysis adds to processing an incident-opening event.

The analysis stage runs inside the processing transaction, so its cost is paid by every
opened, reopened or worsened incident. This benchmark builds one SQLite database (WAL,
synchronous=FULL, as the service runs it) holding a busy half hour: `--background` alert
events and `--changes` change events (deploys, CI runs, pushes; a tenth of them of the
measured service) received over the last 30 minutes, and `--related` incidents of the
measured service seen in the last day. It copies that file twice and, on each copy,
processes `--incidents` new error events of that service (each opening an incident) with
the real stages: once without the analysis stage and once with it. It reports events/s of
both runs and the time the analysis stage itself took per incident (p50, p95, max), timed
around the stage's `run`.

    .venv/bin/python bench/analysis.py --background 100000 --changes 3000 --incidents 500
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from liberation_guardian.agents.stage import AnalysisStage
from liberation_guardian.config import load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.pipeline.stages import Stage, Work
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Event as EventRow
from liberation_guardian.store.models import Incident, Payload, utcnow

SERVICE = "checkout"
CHANGES = (("rollbar", "deploy", "Deploy of {s} v{n}"), ("github", "workflow_run", "CI build failed: tests in {s}"),
           ("github", "push", "Push to main in {s}: 1 commit"))  # fmt: skip


class Timed:
    """A stage wrapper that records how long each call took."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.name = stage.name
        self.seconds: list[float] = []

    def run(self, session: Session, work: Work) -> None:
        started = time.perf_counter()
        self.stage.run(session, work)
        self.seconds.append(time.perf_counter() - started)


def fill(url: str, background: int, changes: int, related: int) -> None:
    """The busy half hour: alerts, changes and related incidents, inserted in bulk as already processed."""
    engine = make_engine(url)
    migrate(engine)
    factory = sessions(engine)
    now = utcnow()
    rng = random.Random(7)
    with transaction(factory) as session:
        payload = Payload(source="bench", body="{}")
        session.add(payload)
        session.flush()
        rows: list[dict[str, Any]] = []
        for number in range(background + changes):
            at = now - timedelta(seconds=rng.uniform(1, 1800))
            if number < changes:
                source, kind, title = CHANGES[number % len(CHANGES)]
                service = SERVICE if number % 10 == 0 else f"svc{number % 97}"
                status = "firing" if kind == "workflow_run" else "resolved"
                title = title.format(s=service, n=number)
            else:
                source, kind, service, status = "alertmanager", "alert", f"svc{number % 97}", "firing"
                title = f"High error rate on {service} route {number % 50}"
            rows.append(_row(payload.id, source, kind, status, title, service, at))
        session.execute(insert(EventRow), rows)
        session.execute(
            insert(Incident),
            [
                {
                    "fingerprint": f"related-{n}", "status": "open", "severity": "high", "source": "sentry",
                    "kind": "error", "title": f"Related problem {n}", "service": SERVICE,
                    "first_seen": now - timedelta(minutes=rng.uniform(1, 1440)), "last_seen": now,
                    "labels": {"category": "application"},
                }
                for n in range(related)
            ],
        )  # fmt: skip
    engine.dispose()


def _row(payload_id: int, source: str, kind: str, status: str, title: str, service: str, at: Any) -> dict[str, Any]:
    return {
        "payload_id": payload_id, "source": source, "kind": kind, "status": status, "severity": "high",
        "title": title, "message": "", "service": service, "fingerprint": f"bg-{title}", "labels": {},
        "stack_frames": [], "links": [], "extra": {}, "received_at": at, "processed_at": at,
    }  # fmt: skip


def run(url: str, incidents: int, analyse: bool) -> dict[str, Any]:
    """Process `incidents` new error events with or without the analysis stage."""
    config = load_text("core:\n  name: bench\n", {}, base_dir=Path("."))
    engine = make_engine(url)
    factory = sessions(engine)
    policy = Policy(config)
    stages: list[Stage] = [s for s in build_stages(config, policy) if not isinstance(s, AnalysisStage)]
    timed = Timed(AnalysisStage.from_config(config))
    if analyse:
        stages.append(timed)
    events = [
        NormalizedEvent(source="sentry", kind="error", severity=Severity.high, status=Status.firing,
                        title=f"KeyError: 'field{n}' in handler {n}", exception_type="KeyError", service=SERVICE,
                        grouping_key=f"new-{n}")
        for n in range(incidents)
    ]  # fmt: skip
    with transaction(factory) as session:
        store(session, [Submission("sentry", "application/json", "{}", events)])
    processor = Processor(factory, stages, dispatcher=policy.dispatcher)
    started = time.perf_counter()
    processed = 0
    while (done := processor.run_once().processed) > 0:
        processed += done
    elapsed = time.perf_counter() - started
    engine.dispose()
    result: dict[str, Any] = {"analysis": analyse, "events": processed, "events_per_s": round(processed / elapsed)}
    if analyse:
        ms = sorted(s * 1000 for s in timed.seconds)
        result |= {
            "stage_p50_ms": round(statistics.median(ms), 3),
            "stage_p95_ms": round(ms[int(len(ms) * 0.95) - 1], 3),
            "stage_max_ms": round(ms[-1], 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", type=int, default=100_000, help="alert events in the last 30 minutes")
    parser.add_argument("--changes", type=int, default=3_000, help="change events in the last 30 minutes")
    parser.add_argument("--related", type=int, default=200, help="incidents of the measured service in the last day")
    parser.add_argument("--incidents", type=int, default=500, help="new incidents to process")
    parser.add_argument("--json", action="store_true", help="print one JSON line per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as folder:
        base = Path(folder) / "base.db"
        fill(f"sqlite:///{base}", args.background, args.changes, args.related)
        results = []
        for analyse in (False, True):
            copy = Path(folder) / f"run-{analyse}.db"
            shutil.copy(base, copy)
            results.append(run(f"sqlite:///{copy}", args.incidents, analyse))
    for result in results:
        if args.json:
            print(json.dumps(result))
        else:
            extra = (
                f", analysis stage p50 {result['stage_p50_ms']} ms, p95 {result['stage_p95_ms']} ms, "
                f"max {result['stage_max_ms']} ms"
                if result["analysis"]
                else ""
            )
            label = "with analysis" if result["analysis"] else "without analysis"
            print(f"{label:>17}: {result['events']} events, {result['events_per_s']} events/s{extra}")


if __name__ == "__main__":
    main()
