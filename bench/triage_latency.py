"""Offline triage latency: how long the whole triage chain takes to decide one event.

Every event of the labeled corpus (`eval/corpus`, 425 events from 29 sources) is turned
into the case the triage stage builds and decided by the chain `build_chain` assembles
for an empty configuration (every offline decider, in the order docs/triage.md gives).
The corpus is decided `--rounds` times after one warm-up round; each decision is timed
on its own with `perf_counter_ns`, and the percentiles are over all of them. Parsing is
not timed (it happens at the webhook); neither is storage.

    .venv/bin/python bench/triage_latency.py --rounds 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from liberation_guardian.config import load_text
from liberation_guardian.pipeline.build import build_chain
from liberation_guardian.triage.evaluate import case_of, labeled_events, read_corpus

CORPUS = Path(__file__).resolve().parents[1] / "eval" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()

    started = time.perf_counter()
    chain = build_chain(load_text("", {}, base_dir=Path(".")))
    build_seconds = time.perf_counter() - started
    errors: list[str] = []
    cases = [case_of(event) for _, event in labeled_events(read_corpus(args.corpus), errors)]
    for case in cases:  # warm-up: caches, first-use imports
        chain.decide(case)

    timings: list[float] = []
    by_decider: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        for case in cases:
            begin = time.perf_counter_ns()
            verdict = chain.decide(case)
            elapsed = (time.perf_counter_ns() - begin) / 1e6
            timings.append(elapsed)
            by_decider[verdict.decided_by].append(elapsed)

    def percentiles(values: list[float]) -> dict[str, float]:
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3), "p99_ms": round(cuts[98], 3)}

    report = {
        "events": len(cases),
        "decisions": len(timings),
        "chain_build_seconds": round(build_seconds, 2),
        **percentiles(timings),
        "max_ms": round(max(timings), 3),
        "by_decider": {name: {"n": len(v), **percentiles(v)} for name, v in sorted(by_decider.items()) if len(v) > 1},
        "errors": errors,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
