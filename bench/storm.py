"""Notification storm benchmark: a simulated outage through the dispatcher, counting the messages it sends.

Replays a seeded two-hour outage (one database node down, dependent alerts from every
service on it, flapping, Alertmanager re-sends, a few unrelated problems, then recovery;
see `_storm.py`) through the real pipeline on a simulated clock, once with the routing
that docs/benchmarks.md recommends and once with the built-in routing (no `routing`
section), and reports for each: notifications per channel, per distinct incident and per
problem, the reduction against one notification per event, and why every incident that
got no message got none.

    .venv/bin/python bench/storm.py --events 10000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _storm import CONFIGS, EXPLANATIONS, Result, Storm, generate, replay

TARGET = 0.95


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exits 1 when the recommended routing misses the target or leaves an incident unexplained."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="events in the storm (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the storm (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        storm = generate(args.events, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory(prefix="guardian-storm-") as tmp:
        results = {name: replay(storm, name, Path(tmp)) for name in CONFIGS}
    if args.json:
        print(json.dumps(summary(storm, results), indent=2))
    else:
        print(report(storm, results))
    recommended = results["recommended"]
    missed = recommended.reduction < TARGET or recommended.never_notified.get("unexplained")
    return 1 if missed else 0


def summary(storm: Storm, results: dict[str, Result]) -> dict[str, Any]:
    """The storm and every run's figures, JSON-ready."""
    return {
        "events": len(storm.events),
        "seed": storm.seed,
        "simulated_minutes": _simulated_minutes(storm),
        "distinct_incidents": len(storm.alerts),
        "problems": storm.causes,
        "runs": {name: figures(result) for name, result in results.items()},
    }


def figures(result: Result) -> dict[str, Any]:
    """One run's figures, JSON-ready."""
    return {
        "events": result.events,
        "distinct_incidents": result.incidents,
        "notifications": result.notifications,
        "by_channel": dict(sorted(result.by_channel.items())),
        "notifications_per_incident": round(result.notifications / result.incidents, 3),
        "reduction_percent": round(100 * result.reduction, 2),
        "incidents_notified": len(result.notified),
        "never_notified": {reason: len(result.never_notified.get(reason, [])) for reason in EXPLANATIONS},
        "unexplained": result.never_notified.get("unexplained", []),
        "per_problem": result.per_cause,
        "wall_seconds": round(result.wall_seconds, 2),
        "events_per_second": round(result.events / result.wall_seconds, 1),
        "stuck_timers": result.stuck_timers,
    }


def report(storm: Storm, results: dict[str, Result]) -> str:
    """The figures as text tables."""
    names = list(results)
    runs = {name: figures(result) for name, result in results.items()}
    lines = [
        f"storm: {len(storm.events)} events over {_simulated_minutes(storm)} simulated minutes (seed {storm.seed}), "
        f"{len(storm.alerts)} distinct incidents from {len(storm.causes)} problems",
        "",
        _row("", names),
        _row("notifications", [runs[n]["notifications"] for n in names]),
    ]
    channels = sorted({channel for f in runs.values() for channel in f["by_channel"]})
    lines += [_row(f"  {channel}", [runs[n]["by_channel"].get(channel, 0) for n in names]) for channel in channels]
    lines += [
        _row("per distinct incident", [runs[n]["notifications_per_incident"] for n in names]),
        _row("reduction vs one per event", [f"{runs[n]['reduction_percent']}%" for n in names]),
        _row("incidents notified", [runs[n]["incidents_notified"] for n in names]),
        _row("incidents never notified", [sum(runs[n]["never_notified"].values()) for n in names]),
    ]
    lines += [_row(f"  {why}", [runs[n]["never_notified"][why] for n in names]) for why in EXPLANATIONS]
    lines += [
        _row("wall time (s)", [runs[n]["wall_seconds"] for n in names]),
        _row("events/s", [runs[n]["events_per_second"] for n in names]),
    ]
    for name in names:
        lines += ["", f"{name}: notifications per problem", _row("", ["alerts", "events", "messages", "notified"])]
        for cause, row in runs[name]["per_problem"].items():
            lines.append(_row(cause, [row["alerts"], row["events"], row["notifications"], row["incidents_notified"]]))
        for title in runs[name]["unexplained"]:
            lines.append(f"  never notified, unexplained: {title}")
        if runs[name]["stuck_timers"]:
            lines.append(f"  dispatcher timers left in the past after a pass: {runs[name]['stuck_timers']}")
    return "\n".join(lines)


def _row(label: str, values: list[Any]) -> str:
    return f"{label:<28}" + "".join(f"{value!s:>14}" for value in values)


def _simulated_minutes(storm: Storm) -> int:
    last = storm.events[-1].tick if storm.events else 0
    return round((storm.at(last) - storm.start).total_seconds() / 60)


if __name__ == "__main__":
    sys.exit(main())
