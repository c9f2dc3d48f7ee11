"""Ingest benchmark: HTTP load on POST /webhook/alertmanager against a real server on loopback.

Starts `liberation-guardian serve` as a subprocess on a fresh SQLite database (durable
commits), drives it from this separate process with keep-alive HTTP/1.1 connections,
and reports accepted events per second, request latency percentiles, and the time
from acceptance to decision read back from the database.

    .venv/bin/python bench/ingest.py --requests 20000 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
core:
  port: {port}
  database_url: "sqlite:///{db}"
  log_level: "warning"
integrations:
  observability:
    prometheus:
      enabled: true
"""


def payload(index: int, distinct: int) -> bytes:
    """An Alertmanager webhook with one alert; `distinct` alert identities repeat across requests."""
    ident = index % distinct
    severity = ("warning", "critical", "info", "error")[ident % 4]
    alert = {
        "status": "firing",
        "labels": {"alertname": f"HighLatency{ident}", "instance": f"web-{ident}:9100", "severity": severity},
        "annotations": {"summary": f"p99 latency above 2s on web-{ident}", "description": f"took {index} ms"},
        "startsAt": "2026-11-26T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"{ident:016x}",
    }
    body = {"version": "4", "status": "firing", "receiver": "guardian", "groupKey": "{}", "alerts": [alert]}
    return json.dumps(body).encode()


async def worker(port: int, bodies: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for body in bodies:
        request = (
            b"POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        started = time.perf_counter()
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(status_line.split()[1])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(port: int, total: int, connections: int, distinct: int) -> tuple[float, list[float], dict[int, int]]:
    bodies = [payload(i, distinct) for i in range(total)]
    random.Random(7).shuffle(bodies)
    shares = [bodies[i::connections] for i in range(connections)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(*(worker(port, share, latencies, statuses) for share in shares))
    return time.perf_counter() - started, latencies, statuses


def wait_ready(port: int, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not become ready")


def decision_latency(db: Path, timeout: float = 120) -> tuple[list[float], int]:
    """Seconds from acceptance to decision per decided event, once every event is processed."""
    deadline = time.monotonic() + timeout
    with sqlite3.connect(db) as conn:
        while time.monotonic() < deadline:
            left = conn.execute("SELECT count(*) FROM events WHERE processed_at IS NULL").fetchone()[0]
            if left == 0:
                break
            time.sleep(0.2)
        rows = conn.execute(
            "SELECT (julianday(d.created_at) - julianday(e.received_at)) * 86400.0 "
            "FROM decisions d JOIN events e ON e.id = d.event_id"
        ).fetchall()
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return [row[0] for row in rows], events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--distinct", type=int, default=500, help="distinct alerts (incidents) in the load")
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guardian-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        config = Path(tmp) / "liberation-guardian.yml"
        config.write_text(CONFIG.format(port=args.port, db=db))
        exe = Path(sys.executable).with_name("liberation-guardian")
        server = subprocess.Popen(
            [str(exe), "--config", str(config), "serve"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "GUARDIAN_ADMIN_TOKEN": "bench"},
        )
        try:
            wait_ready(args.port)
            asyncio.run(load(args.port, 200, 8, args.distinct))  # warm-up, not counted
            seconds, latencies, statuses = asyncio.run(load(args.port, args.requests, args.connections, args.distinct))
            decided, events = decision_latency(db)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    accepted = statuses.get(202, 0)
    result = {
        "requests": args.requests,
        "connections": args.connections,
        "statuses": statuses,
        "accepted_per_second": round(accepted / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 2),
            "p95": round(percentile(latencies, 0.95) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
        },
        "events_stored": events,
        "decisions": len(decided),
        "accept_to_decision_ms": {
            "p50": round(statistics.median(decided) * 1000, 1) if decided else None,
            "p95": round(percentile(decided, 0.95) * 1000, 1) if decided else None,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
