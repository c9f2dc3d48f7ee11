"""Escalation latency benchmark: from an Alertmanager webhook to the first channel, under load.

The target: an escalation reaches its first channel within 10 s (p95) of the webhook.

Starts `liberation-guardian serve` as a subprocess on a fresh SQLite database, with the
outgoing `webhook` channel pointed at a receiver in this process (a threaded HTTP server on
127.0.0.1 that notes when each message arrives) and escalations sent to that channel.
For --seconds it then sends critical alerts at --rate, each a new incident that is
escalated at once, while non-critical alerts that repeat open incidents arrive at
--background-rate to keep the pipeline busy. For each critical alert it measures the time
from the 202 answer, and from the start of the request, to the arrival of its message.

The same load runs with the built-in routing and with a routing tree that holds everything
but escalations for `group_wait: 30s`, to show that grouping does not hold escalations.
Exits 1 when a run misses the target or an escalation never arrives within --timeout.

    .venv/bin/python bench/escalation.py --rate 50 --background-rate 500 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TARGET_SECONDS = 10.0
WARMUP_CRITICALS = 20

CONFIG = """\
core:
  port: {port}
  database_url: "sqlite:///{db}"
  log_level: "warning"
integrations:
  observability:
    prometheus:
      enabled: true
  notifications:
    webhook:
      enabled: true
      url: "http://127.0.0.1:{hook_port}/guardian"
decision_rules:
  escalate:
    conditions:
      notification_channels: [webhook]
"""

# Everything waits 30 s to be grouped by alert name, except escalations.
GROUPED_ROUTING = """\
routing:
  route:
    receiver: default
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    routes:
      - matchers: ['action="auto_acknowledge"']
        receiver: none
      - matchers: ['action="escalate"']
        receiver: escalation
        group_wait: 0s
"""

ROUTINGS = {"builtin": "", "grouped": GROUPED_ROUTING}
ROUTING_NAMES = {"builtin": "built-in routing", "grouped": "group_wait 30s except escalations"}

# Critical alerts carry `[crit-<n>]` (or `[warm-<n>]` during warm-up) in their title, so the
# receiver can tell which alert a message is about.
_TOKEN = re.compile(r"\[(crit|warm)-(\d+)\]")
_BACKGROUND_NAMES = ("HighLatency", "DiskPressure", "MemoryPressure", "ErrorBudgetBurn", "QueueBacklog")


# -- the receiving end ------------------------------------------------------------------------


class Arrivals:
    """What the receiver has seen: the first arrival of each critical alert's message, and the rest.

    A message whose `idempotency_key` came before is a duplicate (a redelivery); another
    message about a critical alert already seen, under a new key, is a repeat.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.incident: dict[str, int] = {}
        self.keys: set[str] = set()
        self.duplicates = 0
        self.repeats = 0
        self.other = 0

    def note(self, arrived: float, body: dict[str, Any]) -> None:
        """Record one message; a grouped message counts for every incident it lists."""
        titles = [(str(body.get("title", "")), body.get("incident_id"))]
        titles += [(str(i.get("title", "")), i.get("incident_id")) for i in body.get("incidents") or []]
        tokens = {f"{m[1]}-{m[2]}": incident for title, incident in titles if (m := _TOKEN.search(title))}
        key = str(body.get("idempotency_key", ""))
        with self.lock:
            if key in self.keys:
                self.duplicates += 1
                return
            self.keys.add(key)
            if not tokens:
                self.other += 1
            for token, incident in tokens.items():
                if token in self.first:
                    self.repeats += 1
                    continue
                self.first[token] = arrived
                if isinstance(incident, int):
                    self.incident[token] = incident

    def arrived(self, tokens: list[str]) -> int:
        """How many of `tokens` have arrived."""
        with self.lock:
            return sum(token in self.first for token in tokens)


class _Hook(BaseHTTPRequestHandler):
    server: _HookServer

    def do_POST(self) -> None:
        # The request line and headers are in: this is the moment of arrival.
        arrived = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        self.server.arrivals.note(arrived, message if isinstance(message, dict) else {})

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: one line per message on stderr would drown the results.
        pass


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.arrivals = Arrivals()


# -- the sending end --------------------------------------------------------------------------


def alert_body(alert: dict[str, Any]) -> bytes:
    """An Alertmanager (version 4) webhook carrying one firing alert."""
    alert = {
        "status": "firing",
        "startsAt": "2026-11-26T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        **alert,
    }
    body = {"version": "4", "status": "firing", "receiver": "guardian", "groupKey": "{}", "alerts": [alert]}
    return json.dumps(body).encode()


def critical(token: str, index: int) -> bytes:
    """A critical alert that is a new incident: its alert name and instance are unique to it."""
    name = f"NodeDown{token.replace('-', '').title()}"
    return alert_body(
        {
            "labels": {"alertname": name, "instance": f"node-{index}:9100", "severity": "critical", "job": "node"},
            "annotations": {"summary": f"[{token}] node-{index} is down", "description": "no scrape for 1 minute"},
            "fingerprint": f"c{index:015x}" if token.startswith("crit") else f"d{index:015x}",
        }
    )


def background(index: int, distinct: int) -> bytes:
    """A non-critical alert; the `distinct` identities repeat, so after the first round each is a repeat."""
    ident = index % distinct
    name = _BACKGROUND_NAMES[ident % len(_BACKGROUND_NAMES)]
    return alert_body(
        {
            "labels": {
                "alertname": name,
                "instance": f"web-{ident}:9100",
                "severity": ("warning", "error")[ident % 2],
                "job": "web",
            },
            "annotations": {"summary": f"{name} on web-{ident}", "description": f"sample {index}"},
            "fingerprint": f"{ident:016x}",
        }
    )


@dataclass
class Sent:
    """One request: when it was due, started and answered (perf_counter seconds), and its status (0: no answer)."""

    due: float
    started: float = 0.0
    answered: float = 0.0
    status: int = 0


@dataclass
class Stream:
    """Requests sent at a steady rate over a few keep-alive connections."""

    bodies: list[bytes]
    rate: float
    connections: int
    sent: list[Sent] = field(default_factory=list)

    async def run(self, port: int, start: float) -> None:
        """Send every body at its due time `start + i / rate`; a late connection sends at once."""
        self.sent = [Sent(due=start + i / self.rate) for i in range(len(self.bodies))]
        queue = iter(range(len(self.bodies)))
        await asyncio.gather(*(self._worker(port, queue) for _ in range(self.connections)))

    async def _worker(self, port: int, queue: Iterator[int]) -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for index in queue:
            record = self.sent[index]
            await asyncio.sleep(max(0.0, record.due - time.perf_counter()))
            # A second try on a new connection covers a keep-alive connection the server closed while idle.
            for _ in range(2):
                try:
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    record.started = record.started or time.perf_counter()
                    record.status = await post(*connection, self.bodies[index])
                    record.answered = time.perf_counter()
                    break
                except (OSError, asyncio.IncompleteReadError):
                    if connection is not None:
                        connection[1].close()
                    connection = None
        if connection is not None:
            connection[1].close()


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> int:
    """POST one Alertmanager webhook over a keep-alive connection; returns the status."""
    writer.write(
        b"POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def send_load(
    port: int, criticals: Stream, load: Stream | None, lead: float = 0.2
) -> tuple[list[Sent], list[Sent]]:
    """Run the critical and background streams side by side; returns what each sent."""
    start = time.perf_counter() + lead
    streams = [criticals] + ([load] if load is not None else [])
    await asyncio.gather(*(stream.run(port, start) for stream in streams))
    return criticals.sent, load.sent if load is not None else []


# -- the server under test --------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll /readyz until the server answers 200; stop if it exits first."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not become ready within 30 s")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(arrivals: Arrivals, tokens: list[str], deadline: float) -> None:
    """Block until every token arrived or the deadline (perf_counter) passed."""
    while arrivals.arrived(tokens) < len(tokens) and time.perf_counter() < deadline:
        time.sleep(0.05)


def unsent(db: Path) -> int:
    """Deliveries queued or in flight on the server."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')").fetchone()[0])


def server_stages(db: Path) -> dict[str, list[float]]:
    """Per escalated critical alert, seconds spent in each stage, from the server's own timestamps."""
    query = """
        SELECT (julianday(d.created_at) - julianday(e.received_at)) * 86400.0,
               (julianday(min(q.created_at)) - julianday(d.created_at)) * 86400.0,
               (julianday(min(q.delivered_at)) - julianday(min(q.created_at))) * 86400.0
        FROM decisions d
        JOIN events e ON e.id = d.event_id
        JOIN deliveries q ON q.incident_id = d.incident_id AND q.channel = 'webhook'
        WHERE d.action = 'escalate' AND e.title LIKE '[crit-%'
        GROUP BY d.id
    """
    with sqlite3.connect(db) as conn:
        rows = conn.execute(query).fetchall()
    names = ("accept_to_decision", "decision_to_queued", "queued_to_delivered")
    return {name: [row[i] for row in rows if row[i] is not None] for i, name in enumerate(names)}


# -- one run ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max in milliseconds."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    figures = {f"p{round(q * 100)}": percentile(values, q) for q in (0.50, 0.95, 0.99)}
    return {name: round(value * 1000, 1) for name, value in {**figures, "max": max(values)}.items()}


def statuses(sent: list[Sent]) -> dict[str, int]:
    """How many requests got each status; "0" is no answer."""
    counts: dict[str, int] = {}
    for record in sent:
        counts[str(record.status)] = counts.get(str(record.status), 0) + 1
    return counts


def run(routing: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start a server with this routing, warm it up, send the load, and measure."""
    hook = _HookServer()
    threading.Thread(target=hook.serve_forever, name="escalation-receiver", daemon=True).start()
    port = args.port or free_port()
    with tempfile.TemporaryDirectory(prefix="guardian-escalation-") as tmp:
        db = Path(tmp) / "bench.db"
        config = Path(tmp) / "liberation-guardian.yml"
        config.write_text(CONFIG.format(port=port, db=db, hook_port=hook.server_address[1]) + ROUTINGS[routing])
        exe = Path(sys.executable).with_name("liberation-guardian")
        with (Path(tmp) / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [str(exe), "--config", str(config), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "GUARDIAN_ADMIN_TOKEN": "bench"},
            )
            try:
                wait_ready(port, server)
                result = measure(port, db, hook.arrivals, server.pid, args)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(30)
                hook.shutdown()
                hook.server_close()
    return {"routing": routing, "description": ROUTING_NAMES[routing], **result}


def measure(port: int, db: Path, arrivals: Arrivals, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, send the measured load, wait for the escalations, and compute the figures."""
    # Warm-up: open every background incident and escalate a few, so the run sees steady state.
    warm = [f"warm-{i}" for i in range(WARMUP_CRITICALS)]
    opening = Stream([background(i, args.background_distinct) for i in range(args.background_distinct)], 500.0, 16)
    asyncio.run(send_load(port, Stream([critical(t, i) for i, t in enumerate(warm)], 50.0, 4), opening))
    deadline = time.perf_counter() + args.timeout
    wait_for(arrivals, warm, deadline)
    while unsent(db) and time.perf_counter() < deadline:
        time.sleep(0.1)

    total = round(args.rate * args.seconds)
    tokens = [f"crit-{i}" for i in range(total)]
    criticals = Stream([critical(t, i) for i, t in enumerate(tokens)], args.rate, args.critical_connections)
    noise = round(args.background_rate * args.seconds)
    load = None
    if noise:
        bodies = [background(i, args.background_distinct) for i in range(noise)]
        load = Stream(bodies, args.background_rate, args.connections)
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    sent, background_sent = asyncio.run(send_load(port, criticals, load))
    sending = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    wait_for(arrivals, tokens, time.perf_counter() + args.timeout)

    with arrivals.lock:
        first = dict(arrivals.first)
        incidents = {arrivals.incident[t] for t in tokens if t in arrivals.incident}
        duplicates, repeats, other = arrivals.duplicates, arrivals.repeats, arrivals.other
    accepted = [(t, s) for t, s in zip(tokens, sent, strict=True) if s.status == 202]
    from_answer = [first[t] - s.answered for t, s in accepted if t in first]
    from_start = [first[t] - s.started for t, s in accepted if t in first]
    cpu = None if cpu_before is None or cpu_after is None else round(100 * (cpu_after - cpu_before) / sending, 1)
    behind = [s.started - s.due for s in sent + background_sent if s.started]
    return {
        "critical_sent": total,
        "critical_statuses": statuses(sent),
        "background_sent": noise,
        "background_statuses": statuses(background_sent),
        "seconds_sending": round(sending, 1),
        "requests_per_second": round((total + noise) / sending, 1),
        "sender_behind_schedule_ms": {"p95": summary(behind)["p95"], "max": summary(behind)["max"]},
        "webhook_202_ms": summary([s.answered - s.started for _, s in accepted]),
        "arrived": len(from_answer),
        "never_arrived": len(accepted) - len(from_answer),
        "timeout_seconds": args.timeout,
        "over_target": sum(value > TARGET_SECONDS for value in from_start),
        "from_answer_ms": summary(from_answer),
        "from_request_start_ms": summary(from_start),
        "server_stage_ms": {name: summary(values) for name, values in server_stages(db).items()},
        "server_cpu_percent_of_one_core": cpu,
        "distinct_incidents": len(incidents),
        "duplicate_messages": duplicates,
        "repeat_messages": repeats,
        "other_messages": other,
    }


def missed(result: dict[str, Any]) -> bool:
    """True when the run misses the target: p95 over 10 s, or an escalation lost or not accepted."""
    p95 = result["from_request_start_ms"]["p95"]
    refused = result["critical_sent"] - result["critical_statuses"].get("202", 0)
    return p95 is None or p95 > TARGET_SECONDS * 1000 or result["never_arrived"] > 0 or refused > 0


def show(result: dict[str, Any]) -> None:
    """Print one run's figures for a person."""
    start, answer, stages = result["from_request_start_ms"], result["from_answer_ms"], result["server_stage_ms"]
    print(f"== {result['description']} ==")
    print(
        f"sent {result['critical_sent']} critical + {result['background_sent']} background alerts in "
        f"{result['seconds_sending']} s ({result['requests_per_second']} requests/s); "
        f"statuses critical {result['critical_statuses']} background {result['background_statuses']}"
    )
    print(
        f"escalations arrived {result['arrived']}, never arrived {result['never_arrived']} "
        f"(within {result['timeout_seconds']} s), over {TARGET_SECONDS:g} s {result['over_target']}"
    )
    for name, figures in (("from request start", start), ("from the 202 answer", answer)):
        print(f"  {name:<22}" + "  ".join(f"{k} {v} ms" for k, v in figures.items()))
    print("  server stages (p50 / p95 / max ms):")
    for name, figures in stages.items():
        print(f"    {name:<22}{figures['p50']} / {figures['p95']} / {figures['max']}")
    print(
        f"  webhook 202 p95 {result['webhook_202_ms']['p95']} ms; sender behind schedule p95 "
        f"{result['sender_behind_schedule_ms']['p95']} ms; server CPU {result['server_cpu_percent_of_one_core']}% "
        f"of one core; incidents {result['distinct_incidents']}; other messages {result['other_messages']}, "
        f"duplicates {result['duplicate_messages']}, repeats {result['repeat_messages']}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exits 1 when a run misses the target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="critical alerts per second (default 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send (default 30)")
    parser.add_argument(
        "--background-rate", type=float, default=500.0, help="non-critical repeats per second (default 500)"
    )
    parser.add_argument(
        "--background-distinct", type=int, default=200, help="distinct non-critical alerts (default 200)"
    )
    parser.add_argument("--connections", type=int, default=64, help="connections for the background (default 64)")
    parser.add_argument("--critical-connections", type=int, default=8, help="connections for criticals (default 8)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds after the last send an escalation may still arrive"
    )
    parser.add_argument("--routing", choices=[*ROUTINGS, "both"], default="both", help="which routing to run")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per run instead of text")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.background_rate < 0 or args.background_distinct < 1:
        parser.error(
            "--rate and --seconds must be positive, --background-rate not negative, --background-distinct >= 1"
        )
    failed = False
    for routing in ROUTINGS if args.routing == "both" else [args.routing]:
        result = run(routing, args)
        failed |= missed(result)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            show(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
