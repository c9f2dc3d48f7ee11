"""Learning from corrections: the eval before and after 50 corrections given through the feedback API.

The eval is the one `liberation-guardian eval` runs: five chains, each with a classifier
that did not learn from the fifth of the corpus it decides (`build_chain(holdout=...)`),
over the labeled corpus and the held-out corpus together (`eval/corpus`, `eval/holdout`;
`--corpus` names others). Then:

1. every event is stored and processed into a fresh SQLite database, as `replay` does
   (offline, no timers);
2. the real server (`liberation-guardian serve`) is started on that database on
   loopback; every incident is resolved through `POST /api/incidents/{id}/resolve`, as
   an instance that has run for a while has handled them (`--no-history` skips this), and
   for 50 events the eval decided wrongly (every wrong action first, then wrong severities
   or categories, spread over the corpora by a hash of their ids) a correction with the
   line's labels is posted to `POST /api/incidents/{id}/feedback`;
3. each chain catches up with the database (`TriageChain.sync`, as the triage stage does
   before every decision) and the corpus is decided again.

The figures, before and after: all lines; the corrected lines themselves (the same problem
coming back); and the other lines of the corrected kinds (same source and event kind as a
corrected line), which no correction named. Corrections go into a scratch database only:
nothing the shipped chain learns from changes.

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

EVAL = Path(__file__).resolve().parents[1] / "eval"
CORPORA = (EVAL / "corpus", EVAL / "holdout")
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


def post_corrections(
    tmp: Path, config_text: str, incident_of: dict[str, int], corrected: list[Labeled], *, history: bool
) -> None:
    """Start the real server on the database, resolve the history if asked, and post one correction per line."""
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
        if history:
            # An instance that has run for a while: its incidents were handled and resolved as decided.
            for incident_id in sorted(set(incident_of.values())):
                httpx.post(f"{url}/api/incidents/{incident_id}/resolve", json={"by": "bench"}, headers=auth)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corrections", type=int, default=50)
    parser.add_argument("--corpus", type=Path, action="append", help="A labeled corpus folder (repeatable).")
    parser.add_argument(
        "--no-history", action="store_true", help="Do not resolve the incidents before the corrections are posted."
    )
    parser.add_argument("--show", action="store_true", help="Also list each corrected line before and after.")
    args = parser.parse_args()

    errors: list[str] = []
    items = [item for corpus in args.corpus or CORPORA for item in labeled_events(read_corpus(corpus), errors)]
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

    def mistaken(item: Labeled) -> tuple[bool, bool]:
        verdict = before[item.id]
        action = verdict.action.value != item.action
        return action, action or verdict.severity.value != item.severity or verdict.category != item.category

    wrong = [
        item for item, event in items if mistaken(item)[1] and item.id in incident_of and event.status.value == "firing"
    ]
    # Wrong actions first, then wrong severities or categories, spread over the corpora by a hash of the id.
    wrong.sort(key=lambda item: (not mistaken(item)[0], zlib.crc32(item.id.encode())))
    corrected: list[Labeled] = wrong[: args.corrections]

    # 2. Post the corrections to the real server.
    post_corrections(tmp, config_text, incident_of, corrected, history=not args.no_history)

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
        corrected_ids = {item.id for item in corrected}
        for item, _ in items:
            was, now = before[item.id], after[item.id]
            if item.id not in corrected_ids and (was.action.value == item.action) != (now.action.value == item.action):
                print(
                    f"changed {item.id}: expected {item.action}; before {was.action.value} by {was.decided_by}; "
                    f"after {now.action.value} by {now.decided_by}",
                    file=sys.stderr,
                )
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
