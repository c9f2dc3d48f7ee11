"""The performance agent: identify the bottleneck, then the optimisation for its type.

The bottleneck is read from the words of the event, first match wins (the `database`
category is always a database bottleneck):

- `database`: query, SQL, database names, lock waits, deadlocks, the pool; find the slow
  query, index or rewrite it, size the pool;
- `memory`: memory, heap, GC, swap; find what allocates, bound caches, then tune the GC;
- `io`: I/O wait, IOPS, read/write latency; find the heavy writer, batch or cache, faster volume;
- `cpu`: CPU, throttling, load average; profile the hot path, scale out meanwhile;
- `network`: upstream or dependency calls, DNS, bandwidth, packets; find the slow call,
  pool connections, time out;
- `code`: anything else slow (an endpoint's latency, a timeout); profile, fix the hot spot.

Each becomes kind `bottleneck_<type>`. The endpoint or transaction and the measured value
come from the labels (`transaction`, `endpoint`, `route`, `url`; `p95`, `value`, `threshold`)
when the source sets them. The first step names them; the playbook that applies (CPU
saturation, connections exhausted, a queue backlog, ...) replaces the generic rest.
"""

from __future__ import annotations

import re

from liberation_guardian.agents.base import Advice, Situation, impact_of, playbook_evidence, with_playbook

NAME = "performance"

BOTTLENECKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "database",
        re.compile(
            r"\bquery\b|queries|\bsql\b|\bdb\b|database|postgres|mysql|mongo|redis|deadlock|lock wait"
            r"|connection pool|n\+1",
            re.I,
        ),
    ),
    ("memory", re.compile(r"\bmemory\b|\bheap\b|\bgc\b|garbage collect|\bswap\b|\boom\b", re.I)),
    ("io", re.compile(r"\bi/?o\b|iowait|io wait|\biops\b|disk (read|write|latency)|(read|write) latency", re.I)),
    ("cpu", re.compile(r"\bcpu\b|throttl|load average", re.I)),
    ("network", re.compile(r"upstream|dependency|\bdns\b|bandwidth|packet|network|external (api|call)", re.I)),
)


class PerformanceAgent:
    """Concrete optimisation by bottleneck type; see the module docstring."""

    name = NAME

    def advise(self, situation: Situation) -> Advice:
        """The optimisation for the situation's bottleneck."""
        bottleneck = identify_bottleneck(situation)
        where = _where(situation)
        measured = _measured(situation)
        summary, plan, prevention, template = _HANDLERS[bottleneck](situation, where)
        if measured:
            summary = f"{summary} Measured: {measured}."
        return Advice(
            agent=NAME,
            kind=f"bottleneck_{bottleneck}",
            summary=summary,
            impact=impact_of(situation),
            plan=tuple(plan),
            prevention=tuple(prevention),
            evidence={
                "event_id": situation.event_id,
                "where": where,
                "measured": measured,
                "playbook": playbook_evidence(situation.playbook),
            },
            details={"bottleneck": bottleneck, "fix_template": template},
        )


def identify_bottleneck(situation: Situation) -> str:
    """`database`, `memory`, `io`, `cpu`, `network`, or `code` when nothing names a resource."""
    if situation.category == "database":
        return "database"
    for name, words in BOTTLENECKS:
        if words.search(situation.text):
            return name
    return "code"


def _where(s: Situation) -> str:
    endpoint = s.label("transaction", "endpoint", "route", "url", "operation")
    if endpoint:
        return f"{endpoint}{' in ' + s.service if s.service else ''}"
    return s.service or "the slow path"


def _measured(s: Situation) -> str | None:
    parts = []
    for name in ("p99", "p95", "p90", "latency", "value", "threshold", "duration"):
        value = s.label(name)
        if value:
            parts.append(f"{name} {value}")
    return ", ".join(parts) or None


Handling = tuple[str, list[str], list[str], str | None]


def _database(s: Situation, where: str) -> Handling:
    specific = [
        f"Find the slowest queries behind {where} (pg_stat_statements / slow query log / APM spans), by total time."
    ]
    generic = [
        "EXPLAIN ANALYZE the worst one: add the missing index, or rewrite it (no SELECT *, no N+1 loops).",
        "Check lock waits and long transactions holding locks; shorten or split them.",
        "Size the connection pool to the database's capacity, not the number of app workers.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Track query time per endpoint; fail review on a new sequential scan of a large table."]
    return f"Database bottleneck in {where}: find and fix the slow query.", plan, prevention, "raise-pool-size"


def _memory(s: Situation, where: str) -> Handling:
    specific = [f"Take a heap profile of {where} under load; find the largest and fastest-growing allocations."]
    generic = [
        "Bound what grows: caches with a size limit and TTL, paginated reads instead of whole result sets.",
        "Tune the garbage collector or heap size only after the allocations are under control.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Alert on memory growth rate, not only on the limit."]
    return f"Memory bottleneck in {where}: find what allocates and bound it.", plan, prevention, "raise-memory-limit"


def _io(s: Situation, where: str) -> Handling:
    specific = [f"Find what reads or writes most on the volume of {where} (iotop, cloud volume metrics)."]
    generic = [
        "Batch small writes, cache hot reads, move logs and temp files off the data volume.",
        "If the volume is at its IOPS limit, move to provisioned or faster storage.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Alert on I/O wait and volume queue length."]
    return f"I/O bottleneck in {where}: reduce or move the heavy reads and writes.", plan, prevention, None


def _cpu(s: Situation, where: str) -> Handling:
    specific = [f"Profile {where} under load (py-spy, perf, async-profiler) and find the hottest functions."]
    generic = [
        "Fix the hot spot (an algorithm, repeated serialisation, regex backtracking) or move it off the request path.",
        "Scale out meanwhile; raise the CPU limit if the container is being throttled.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Load-test the busiest endpoints before each release."]
    return f"CPU bottleneck in {where}: profile the hot path, scale out meanwhile.", plan, prevention, "scale-out"


def _network(s: Situation, where: str) -> Handling:
    specific = [f"Trace a slow request through {where} and find the call that waits (APM spans, client timings)."]
    generic = [
        "Reuse connections (keep-alive, pooling), call in parallel where independent, cache stable answers.",
        "Set a timeout and a circuit breaker on the slow dependency so it cannot hold every worker.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Give each dependency a latency budget and alert when it is spent."]
    summary = f"Network bottleneck in {where}: find the slow call, pool and time it out."
    return summary, plan, prevention, "raise-timeout"


def _code(s: Situation, where: str) -> Handling:
    specific = [f"Profile {where} with a production-like request and find where the time goes."]
    generic = [
        "Fix the hot spot: avoid repeated work in loops, cache computed results, move slow work to a background job.",
        "Compare with the last fast release; if it regressed with a deploy, bisect the change.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Add a latency check for this endpoint to CI or a nightly load test."]
    return f"Slow code in {where}: profile it and fix the hot spot.", plan, prevention, None


_HANDLERS = {
    "database": _database,
    "memory": _memory,
    "io": _io,
    "cpu": _cpu,
    "network": _network,
    "code": _code,
}
