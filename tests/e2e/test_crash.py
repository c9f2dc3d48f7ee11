"""Kill -9 in the middle of work, restart, and check that nothing accepted was lost or sent twice."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.fixtures.recorder import Recorder, Response

CONFIG = """\
core:
  database_url: "sqlite:///{db}"
  log_level: "warning"
integrations:
  custom:
    generic:
      enabled: true
  notifications:
    webhook:
      enabled: true
      url: "{hook}"
delivery:
  initial_backoff_seconds: 0.1
  max_backoff_seconds: 0.5
decision_rules:
  escalate:
    conditions:
      - notification_channels: ["webhook"]
"""
EVENTS = 500
INCIDENTS = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "liberation_guardian", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GUARDIAN_ADMIN_TOKEN": "t"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not become ready")


def body(index: int) -> dict[str, str]:
    problem = index % INCIDENTS
    # Numbers are volatile to the fingerprint, so the problems differ by name, not number.
    name = "".join(chr(ord("a") + problem // 26**k % 26) for k in range(2))
    severity = "critical" if problem % 5 == 0 else "medium"
    return {"title": f"job {name} failed after {index} ms", "severity": severity, "message": f"attempt {index}"}


@pytest.mark.slow
def test_sigkill_mid_processing_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    with Recorder(default=Response(200, "ok", delay=0.02)) as hook:
        config = tmp_path / "liberation-guardian.yml"
        db = tmp_path / "guardian.db"
        config.write_text(CONFIG.format(db=db, hook=hook.url + "/hook"))
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhook/generic"
        accepted: dict[int, list[int]] = {}
        server = start(config, port)

        def send(indexes: list[int]) -> None:
            with httpx.Client(timeout=5) as client:
                for index in indexes:
                    try:
                        answer = client.post(url, json=body(index))
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 202:
                        accepted[index] = answer.json()["event_ids"]

        senders = [threading.Thread(target=send, args=(list(range(i, EVENTS, 8)),)) for i in range(8)]
        for thread in senders:
            thread.start()
        try:
            hook.wait_for(15, timeout=30)
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(10)
        for thread in senders:
            thread.join(60)
        killed_with = len(hook.requests)
        assert 0 < killed_with < INCIDENTS, "the kill did not land in the middle of the work"

        server = start(config, port)
        try:
            send([index for index in range(EVENTS) if index not in accepted])  # senders retry what failed
            assert len(accepted) == EVENTS
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with sqlite3.connect(db) as conn:
                    left = conn.execute(
                        "SELECT (SELECT count(*) FROM events WHERE processed_at IS NULL)"
                        " + (SELECT count(*) FROM deliveries WHERE status != 'delivered')"
                    ).fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.2)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)

        with sqlite3.connect(db) as conn:
            stored = {row[0] for row in conn.execute("SELECT id FROM events")}
            per_incident = conn.execute(
                "SELECT i.id, count(d.id) FROM incidents i LEFT JOIN decisions d ON d.incident_id = i.id GROUP BY i.id"
            ).fetchall()
            undelivered = conn.execute("SELECT count(*) FROM deliveries WHERE status != 'delivered'").fetchone()[0]

        # Every event answered 202 is stored.
        assert {event_id for ids in accepted.values() for event_id in ids} <= stored
        # A request committed just before the kill never got its 202, so its sender sent it again: it is
        # stored twice and counts as a repeat on its incident. At most one per sender was in flight.
        assert EVENTS <= len(stored) <= EVENTS + len(senders)
        # Every incident got exactly one decision.
        assert len(per_incident) == INCIDENTS
        assert all(count == 1 for _, count in per_incident)
        assert undelivered == 0
        # Every incident was notified; a message is never queued twice. Only the one message that was
        # in flight at the kill may arrive again, carrying the same Idempotency-Key for the receiver.
        keys = Counter(request.headers["idempotency-key"] for request in hook.requests)
        assert len(keys) == INCIDENTS
        repeated = {key: n for key, n in keys.items() if n > 1}
        assert len(repeated) <= 1 and all(n == 2 for n in repeated.values()), repeated
