"""Learning from corrections: the eval before and after 50 corrections given through the feedback API.

The eval is the one `liberation-guardian eval` runs: five chains, each with a classifier
that did not learn from the fifth of the corpus it decides (`build_chain(holdout=...)`).
Then:

1. every corpus event is stored and processed into a fresh SQLite database, as `replay`
   does (offline, no timers);
2. the real server (`liberation-guardian serve`) is started on that database on
   loopback, and for 50 events the eval decided wrongly (spread over the corpus by a hash
   of their ids) a correction with the line's labels is posted to
   `POST /api/incidents/{id}/feedback`;
3. each chain catches up with the database (`TriageChain.sync`, as the triage stage does
   before every decision) and the corpus is decided again.

The figures, before and after: the whole corpus; the corrected lines themselves (the
same problem coming back); and the other lines of the corrected kinds (same source and
event kind as a corrected line), which no correction named.

    .venv/bin/python bench/feedback_learning.py --corrections 50
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx

from liberation_guardian import sources
from liberation_guardian.config import load_text
from liberation_guardian.pipeline.build import build_chain
from liberation_guardian.pipeline.offline import OfflineRun
from liberation_guardian.store.db import make_engine, sessions, transaction
from liberation_guardian.triage.base import Verdict
from liberation_guardian.triage.evaluate import (
    FOLDS,
    Labeled,
    Outcome,
    Report,
    case_of,
    labeled_events,
    read_corpus,
    untriaged,
)

CORPUS = Path(__file__).resolve().parents[1] / "eval" / "corpus"
TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def score(outcomes: list[Outcome]) -> dict[str, float | int]:
    report = Report(outcomes=outcomes)
    return {
        "events": report.events,
        "action_accuracy": round(report.action_accuracy(), 3),
        "severity_accuracy": round(report.severity_accuracy(), 3),
        "category_macro_f1": round(report.category_macro_f1(), 3),
        "critical_recall": round(report.critical_recall(), 3),
        "unsafe_acknowledgements": report.unsafe_acknowledgements(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corrections", type=int, default=50)
    parser.add_argument("--show", action="store_true", help="Also list each corrected line before and after.")
    args = parser.parse_args()

    errors: list[str] = []
    items = list(labeled_events(read_corpus(CORPUS), errors))
    tmp = Path(tempfile.mkdtemp(prefix="guardian-learning-"))
    database = f"sqlite:///{tmp}/guardian.db"
    config_text = f"core:\n  database_url: {database}\n  admin_token_env: GUARDIAN_ADMIN_TOKEN\n"
    config = load_text(config_text, {"GUARDIAN_ADMIN_TOKEN": TOKEN}, base_dir=tmp)

    fold_of = {item.id: zlib.crc32(item.id.encode()) % FOLDS for item, _ in items}
    chains = {
        fold: build_chain(config, holdout=frozenset(id for id, f in fold_of.items() if f == fold))
        for fold in range(FOLDS)
    }

    def decide_all() -> dict[str, Verdict]:
        return {item.id: untriaged(event) or chains[fold_of[item.id]].decide(case_of(event)) for item, event in items}

    before = decide_all()

    # 1. Store and process every event, remembering which incident each corpus line became.
    run = OfflineRun(config, database)
    classes = sources.registry()
    incident_of: dict[str, int] = {}
    for item, _ in items:
        cls = classes[item.source]
        source = cls(cls.config_model(), {})
        body = json.dumps(item.payload).encode()
        event_ids = run.feed(source, Path(item.id), body)
        run.process()
        decisions = run.decisions_for(event_ids)
        if decisions:
            incident_of.setdefault(item.id, decisions[-1].incident_id)

    wrong = [
        item
        for item, event in items
        if before[item.id].action.value != item.action and item.id in incident_of and event.status.value == "firing"
    ]
    wrong.sort(key=lambda item: zlib.crc32(item.id.encode()))
    corrected: list[Labeled] = wrong[: args.corrections]

    # 2. Post the corrections to the real server.
    port = free_port()
    config_file = tmp / "guardian.yml"
    config_file.write_text(config_text)
    env = {**os.environ, "GUARDIAN_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "liberation_guardian", "--config", str(config_file), "serve"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for item in corrected:
            correction = {
                "verdict": "wrong",
                "action": item.action,
                "severity": item.severity,
                "category": item.category,
                "by": "bench",
            }
            answer = httpx.post(f"{url}/api/incidents/{incident_of[item.id]}/feedback", json=correction, headers=auth)
            answer.raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=30)

    # 3. Catch up with the store and decide the corpus again.
    factory = sessions(make_engine(database))
    for chain in chains.values():
        with transaction(factory) as session:
            chain.sync(session)
    after = decide_all()

    corrected_ids = {item.id for item in corrected}
    kinds = {(item.source, event.kind) for item, event in items if item.id in corrected_ids}
    groups = {
        "all": [item for item, _ in items],
        "corrected_lines": [item for item, _ in items if item.id in corrected_ids],
        "other_lines_of_corrected_kinds": [
            item for item, event in items if item.id not in corrected_ids and (item.source, event.kind) in kinds
        ],
    }
    figures = {
        name: {
            "before": score([Outcome(item, before[item.id]) for item in members]),
            "after": score([Outcome(item, after[item.id]) for item in members]),
        }
        for name, members in groups.items()
    }
    if args.show:
        for item in corrected:
            was, now = before[item.id], after[item.id]
            print(
                f"{item.id}: expected {item.action}/{item.severity}; before {was.action.value}/{was.severity.value} "
                f"by {was.decided_by}; after {now.action.value}/{now.severity.value} by {now.decided_by}",
                file=sys.stderr,
            )
    print(
        json.dumps(
            {
                "corrections_posted": len(corrected),
                "corrected_kinds": len(kinds),
                **figures,
                "decided_by_after": dict(
                    sorted(Report(outcomes=[Outcome(i, after[i.id]) for i, _ in items]).decided_by().items())
                ),
                "errors": errors,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
