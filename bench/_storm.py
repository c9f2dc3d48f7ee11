"""A simulated outage as Alertmanager would post it, and its replay through the pipeline.

The storm is two hours of Alertmanager webhooks. A database node (`db-1`) goes down a
couple of minutes in; the services that use it raise connection errors, latency alerts and
crash-looping pods, all labelled `node="db-1"`; some latency alerts flap; Alertmanager
re-sends every firing alert about every two minutes; meanwhile a few problems unrelated to the
outage come and go (one of them flapping, one covered by a planned maintenance silence,
one an expiring certificate the decision rules acknowledge); at the end the node recovers
and its dependents resolve a few minutes after it.

Time moves in 30-second ticks (Alertmanager's default `group_wait`, the pace at which it
batches what it sends): alerts start and stop on ticks, and all the alerts of one tick
arrive in one webhook. A seed always gives
the same storm, and the event count is exact: the firings, flaps and resolutions are laid
out first, then re-sends fill the rest of the budget, spread over the time each alert fires.

The replay uses the machinery the dispatcher tests use: the Alertmanager source parses each
webhook, the ingest writer stores it in a real SQLite file, the processor runs every stage
(grouping, triage, decision, dispatch), and the dispatcher's timer is fired at each moment
it is due as the simulated clock moves from one webhook to the next. Nothing is sent
anywhere: the product is the `deliveries` table, one row per message per channel, which is
what is counted. Every incident that never got a message is explained, from what the
dispatcher recorded while holding it back (inhibited, silenced, acknowledged, resolved
before its message was due) or from its decisions (auto-acknowledged).

Benchmark scaffolding shared by `bench/storm.py` and the storm test; not part of the package.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.config import load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.dispatch import silences
from liberation_guardian.dispatch.dispatcher import Dispatcher
from liberation_guardian.dispatch.matchers import Matcher
from liberation_guardian.events import NormalizedEvent
from liberation_guardian.group.fingerprint import fingerprint
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.receive.ingest import Submission, store
from liberation_guardian.sources.alertmanager import AlertmanagerConfig, AlertmanagerSource
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Delivery, GroupMember, Incident

TICK = timedelta(seconds=30)
DURATION_TICKS = int(timedelta(hours=2) / TICK)
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# The storm grows by services, so that re-sends stay about every two minutes whatever its size.
EVENTS_PER_SERVICE = 250
OUTAGE = "db-1 down"
SERVICES = (
    "checkout cart payments orders inventory shipping billing accounts auth catalog recommendations reviews "
    "notifications pricing promotions invoices ledger fraud loyalty wishlist returns warehouse-api support search-api"
).split()
# What each service on the lost node raises: alertname, severity label, summary, and the window
# (minutes after the node alert) in which it starts. Connection errors may beat the node alert
# by a tick; group_wait is what lets the node alert catch up.
DEPENDENTS = (
    ("DatabaseConnectionErrors", "error", "{service}: database connections failing", -0.5, 6),
    ("HighLatency", "warning", "{service}: p99 latency above 2s", 1, 6),
    ("PodCrashLooping", "warning", "Pod {pod} is crash-looping", 2, 8),
)
PODS_PER_SERVICE = 3
FLAPPING_SHARE = 0.25  # of the services, whose latency alert flaps
# Problems that happen to fall in the same two hours: problem, alertname, labels, severity
# label, summary, first and last minute (None: still firing at the end), flapping.
UNRELATED: tuple[tuple[str, str, dict[str, str], str, str, float, float | None, bool], ...] = (
    (
        "search disk",
        "DiskSpaceLow",
        {"node": "web-3", "service": "search"},
        "warning",
        "Disk /var/lib/search on web-3 is 91% full",
        20,
        80,
        False,
    ),
    (
        "checkout-worker memory",
        "HighMemoryUsage",
        {"node": "app-7", "service": "checkout-worker"},
        "warning",
        "checkout-worker on app-7 uses 94% of its memory limit",
        10,
        115,
        True,
    ),
    (
        "edge certificate",
        "CertificateExpiringSoon",
        {"service": "edge"},
        "warning",
        "TLS certificate for shop.example.com expires in 14 days",
        5,
        None,
        False,
    ),
    (
        "reporting maintenance",
        "ReportJobFailed",
        {"node": "warehouse-1", "service": "reporting"},
        "error",
        "Nightly report job failed on warehouse-1",
        35,
        85,
        False,
    ),
    (
        "reporting maintenance",
        "ReplicationLag",
        {"node": "warehouse-1", "service": "reporting"},
        "warning",
        "warehouse-1 replication lag above 10 minutes",
        35,
        85,
        False,
    ),
    (
        "payments-api errors",
        "HighErrorRate",
        {"node": "app-2", "service": "payments-api"},
        "critical",
        "payments-api 5xx ratio above 5%",
        60,
        75,
        False,
    ),
)


def minutes(value: float) -> int:
    """A number of minutes as ticks."""
    return round(value * 60 / TICK.total_seconds())


@dataclass(frozen=True)
class Alert:
    """One alert identity (a label set, as Alertmanager fingerprints it) and the problem it belongs to."""

    labels: tuple[tuple[str, str], ...]
    summary: str
    cause: str

    @property
    def label_map(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)

    @property
    def fingerprint(self) -> str:
        """Alertmanager's alert fingerprint: a hash of the label set."""
        text = ",".join(f"{name}={value}" for name, value in self.labels)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Span:
    """An alert firing from tick `start` until tick `end` (None: still firing when the storm ends)."""

    alert: Alert
    start: int
    end: int | None


@dataclass(frozen=True)
class StormEvent:
    """One alert in one webhook: a firing (first or re-sent) or a resolution."""

    tick: int
    span: Span
    resolved: bool
    repeat: bool

    def as_alert(self, start: datetime) -> dict[str, Any]:
        """The entry of the webhook's `alerts` list."""
        alert = self.span.alert
        ends = "0001-01-01T00:00:00Z" if not self.resolved else _iso(start + self.tick * TICK)
        return {
            "status": "resolved" if self.resolved else "firing",
            "labels": alert.label_map,
            "annotations": {"summary": alert.summary},
            "startsAt": _iso(start + self.span.start * TICK),
            "endsAt": ends,
            "fingerprint": alert.fingerprint,
        }


@dataclass(frozen=True)
class PlannedSilence:
    """A silence the operators set before the storm (a maintenance window)."""

    matchers: tuple[str, ...]
    start: int
    end: int
    comment: str


@dataclass
class Storm:
    """The whole simulated outage: its alerts, its events in arrival order, and the silences in force."""

    seed: int
    start: datetime
    alerts: list[Alert]
    events: list[StormEvent]
    silences: list[PlannedSilence]
    causes: list[str]

    def at(self, tick: int) -> datetime:
        """The simulated time of a tick."""
        return self.start + tick * TICK

    def webhooks(self) -> list[tuple[int, bytes]]:
        """The events as Alertmanager webhook bodies, one per tick that has any, in order."""
        bodies: list[tuple[int, bytes]] = []
        index = 0
        while index < len(self.events):
            tick = self.events[index].tick
            batch = []
            while index < len(self.events) and self.events[index].tick == tick:
                batch.append(self.events[index].as_alert(self.start))
                index += 1
            status = "firing" if any(a["status"] == "firing" for a in batch) else "resolved"
            body = {"version": "4", "status": status, "receiver": "guardian", "groupKey": "{}:{}", "alerts": batch}
            bodies.append((tick, json.dumps(body).encode()))
        return bodies


@dataclass
class _Plan:
    rng: random.Random
    spans: list[Span] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def alert(self, cause: str, summary: str, labels: dict[str, str]) -> Alert:
        alert = Alert(tuple(sorted(labels.items())), summary, cause)
        self.alerts.append(alert)
        return alert

    def fire(self, alert: Alert, start: int, end: int | None, *, flapping: bool = False) -> None:
        """Fire from `start` to `end`; flapping, fire for 2 to 5 minutes, stay resolved for 1 to 4, and so on."""
        if not flapping or end is None:
            self.spans.append(Span(alert, start, end))
            return
        while start < end:
            stop = min(start + self.rng.randint(minutes(2), minutes(5)), end)
            self.spans.append(Span(alert, start, stop))
            start = stop + self.rng.randint(minutes(1), minutes(4))


def generate(events: int = 10_000, seed: int = 1, start: datetime = START) -> Storm:
    """The storm with exactly `events` events; `ValueError` when the count cannot hold the outage."""
    plan = _Plan(random.Random(seed))
    node_down, node_up = minutes(2), minutes(95)
    root = {"alertname": "NodeDown", "node": "db-1", "service": "postgres", "severity": "critical"}
    plan.fire(plan.alert(OUTAGE, "Node db-1 is down", root), node_down, node_up)
    for service in service_names(max(3, events // EVENTS_PER_SERVICE)):
        _dependents(plan, service, node_down, node_up)
    for cause, alertname, labels, severity, summary, first, last, flapping in UNRELATED:
        alert = plan.alert(cause, summary, {"alertname": alertname, "severity": severity, **labels})
        plan.fire(alert, minutes(first), None if last is None else minutes(last), flapping=flapping)
    maintenance = PlannedSilence(('service="reporting"',), minutes(30), minutes(100), "warehouse migration")
    causes = list(dict.fromkeys(alert.cause for alert in plan.alerts))
    return Storm(seed, start, plan.alerts, _with_resends(plan, events), [maintenance], causes)


def service_names(count: int) -> list[str]:
    """`count` service names, numbered once the list runs out."""
    names = []
    for i in range(count):
        lap = i // len(SERVICES)
        names.append(SERVICES[i % len(SERVICES)] + (f"-{lap + 1}" if lap else ""))
    return names


def _dependents(plan: _Plan, service: str, node_down: int, node_up: int) -> None:
    """One service's alerts about the lost database: they start around the node alert and end after it."""
    rng = plan.rng
    flapping = rng.random() < FLAPPING_SHARE
    for alertname, severity, summary, earliest, latest in DEPENDENTS:
        pods = [f"{service}-{n}" for n in range(PODS_PER_SERVICE)] if "{pod}" in summary else [None]
        for pod in pods:
            labels = {"alertname": alertname, "node": "db-1", "service": service, "severity": severity}
            if pod:
                labels["pod"] = pod
            alert = plan.alert(OUTAGE, summary.format(service=service, pod=pod), labels)
            start = node_down + rng.randint(minutes(earliest), minutes(latest))
            # The node alert resolves first; its dependents follow within four minutes.
            end = node_up + rng.randint(minutes(0.5), minutes(4))
            plan.fire(alert, start, end, flapping=flapping and alertname == "HighLatency")


def _with_resends(plan: _Plan, total: int) -> list[StormEvent]:
    """The firings and resolutions, plus as many re-sends as make `total`, in arrival order."""
    events = [StormEvent(span.start, span, resolved=False, repeat=False) for span in plan.spans]
    events += [StormEvent(span.end, span, resolved=True, repeat=False) for span in plan.spans if span.end is not None]
    room = [_interior(span) for span in plan.spans]
    budget = total - len(events)
    if budget < 0:
        raise ValueError(f"events: {total} is too few; the outage alone has {len(events)} firings and resolutions")
    if budget > sum(room):
        raise ValueError(f"events: {total} is too many; this outage holds at most {len(events) + sum(room)}")
    for span, count in zip(plan.spans, _share(budget, room), strict=True):
        # Evenly spaced with a random phase, as a sender on a fixed interval.
        phase = plan.rng.random()
        room_ticks = _interior(span)
        events += [
            StormEvent(span.start + 1 + int((j + phase) * room_ticks / count), span, resolved=False, repeat=True)
            for j in range(count)
        ]
    order = {id(span): index for index, span in enumerate(plan.spans)}
    events.sort(key=lambda e: (e.tick, order[id(e.span)]))
    return events


def _interior(span: Span) -> int:
    """Ticks strictly between a span's first firing and its resolution (or the end of the storm)."""
    end = span.end if span.end is not None else DURATION_TICKS + 1
    return max(0, end - span.start - 1)


def _share(budget: int, room: list[int]) -> list[int]:
    """Split `budget` in proportion to `room` (largest remainders first), never above a span's room."""
    whole = sum(room)
    exact = [budget * r / whole if whole else 0.0 for r in room]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(room)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: budget - sum(counts)]:
        counts[i] += 1
    return counts


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- the replay ------------------------------------------------------------------------------------------

BASE = """
integrations:
  notifications:
    slack: {webhook_url_env: SLACK_URL}
    pagerduty: {routing_key_env: PD_KEY}
    email: {smtp_host: 127.0.0.1, to: [ops@example.com], from_address: guardian@example.com}
decision_rules:
  auto_acknowledge:
    patterns: ['certificate .* expires in \\d+ days']
"""
ENV = {"SLACK_URL": "http://127.0.0.1:9/slack", "PD_KEY": "storm"}

# What docs/benchmarks.md recommends for an Alertmanager feed: one group per alert name and
# service, Alertmanager's own timings, and a node that is down explaining everything on it.
RECOMMENDED = """
routing:
  receivers:
    team: {channels: [slack]}
    oncall: {channels: [pagerduty, slack]}
  route:
    receiver: team
    group_by: [alertname, service]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    routes:
      - matchers: ['action="auto_acknowledge"']
        receiver: none
      - matchers: ['action="escalate"']
        receiver: oncall
  inhibit_rules:
    - source_matchers: ['alertname="NodeDown"']
      target_matchers: ['alertname!="NodeDown"']
      equal: [node]
"""
BUILT_IN = ""  # no routing section: the built-in tree
CONFIGS = {"recommended": RECOMMENDED, "built-in": BUILT_IN}
# After the last webhook the clock runs on this long, so pending resolutions go out.
DRAIN = timedelta(minutes=30)
EXPLANATIONS = ("inhibited", "silenced", "auto_acknowledged", "acknowledged", "resolved_before_due", "unexplained")


@dataclass
class Clock:
    """The simulated time, moved by the replay."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Result:
    """What one replay put in the outbox, and why each incident without a message had none."""

    config: str
    events: int
    incidents: int
    by_channel: dict[str, int]
    notified: set[str]
    never_notified: dict[str, list[str]]
    per_cause: dict[str, dict[str, int]]
    wall_seconds: float
    stuck_timers: int

    @property
    def notifications(self) -> int:
        """Messages queued, one per channel (the console log included)."""
        return sum(self.by_channel.values())

    @property
    def reduction(self) -> float:
        """The share of messages saved against one notification per event."""
        return 1 - self.notifications / self.events


class Replay:
    """One storm through one configuration, over a fresh database in `workdir`."""

    def __init__(self, storm: Storm, routing_yaml: str, workdir: Path, name: str = "") -> None:
        self.storm = storm
        self.name = name
        config = load_text(BASE + routing_yaml, ENV, base_dir=workdir)
        self.engine = make_engine(f"sqlite:///{workdir / ('storm-' + (name or 'run') + '.db')}")
        migrate(self.engine)
        self.sessions: sessionmaker[Session] = sessions(self.engine)
        self.clock = Clock(storm.start)
        self.policy = Policy(config, clock=self.clock)
        self.dispatcher: Dispatcher = self.policy.dispatcher
        self.processor = Processor(
            self.sessions, build_stages(config, self.policy), dispatcher=self.dispatcher, clock=self.clock
        )
        self.source = AlertmanagerSource(AlertmanagerConfig(), {})
        self.seen: dict[int, set[str]] = {}
        self.stuck = 0
        self.last_pass: datetime | None = None

    def run(self) -> Result:
        """Replay every webhook at its time, then let the timers run out; returns the counts."""
        started = time.perf_counter()
        self._add_silences()
        for tick, body in self.storm.webhooks():
            at = self.storm.at(tick)
            self._fire_timers(at)
            self.clock.now = at
            events = self.source.parse({"content-type": "application/json"}, body)
            with transaction(self.sessions) as session:
                store(session, [Submission("alertmanager", "application/json", body.decode(), events, at)])
            # One pass over the whole webhook; the processor runs the dispatcher's timer after it.
            self.processor.run_once(limit=len(events))
            self._passed()
        self._fire_timers(self.clock.now + DRAIN)
        wall = time.perf_counter() - started
        try:
            return self._count(wall)
        finally:
            self.engine.dispose()

    def _add_silences(self) -> None:
        with transaction(self.sessions) as session:
            for planned in self.storm.silences:
                matchers = [Matcher.parse(text) for text in planned.matchers]
                start, end = self.storm.at(planned.start), self.storm.at(planned.end)
                silences.create(session, matchers, start, end, "ops", planned.comment, self.clock())

    def _fire_timers(self, until: datetime) -> None:
        """Run the dispatcher at every moment a group or escalation timer is due, up to `until`."""
        while True:
            with self.sessions() as session:
                due = self.dispatcher.next_due(session)
            if due is None or due > until:
                return
            if self.last_pass is not None and due <= self.last_pass:
                # A pass left a timer at or before its own time: a live scheduler would spin on it.
                # Count it and leave it to the next webhook, so the replay ends.
                self.stuck += 1
                return
            self.clock.now = due
            with transaction(self.sessions) as session:
                self.dispatcher.run_due(session, self.clock.now)
            self._passed()

    def _passed(self) -> None:
        """Note that the dispatcher ran at the current time, and every reason it gave for holding an incident back."""
        self.last_pass = self.clock.now
        with self.sessions() as session:
            rows = session.execute(
                select(GroupMember.incident_id, GroupMember.suppressed).where(GroupMember.suppressed.is_not(None))
            ).all()
        for incident_id, reason in rows:
            self.seen.setdefault(incident_id, set()).add(reason or "")

    def _count(self, wall: float) -> Result:
        with self.sessions() as session:
            deliveries = session.execute(select(Delivery.channel, Delivery.notification)).all()
            incidents = session.execute(select(Incident.id, Incident.fingerprint, Incident.title)).all()
            actions = session.execute(select(Decision.incident_id, Decision.action)).all()
        cause_of_fp = {_incident_fingerprint(alert.fingerprint): alert.cause for alert in self.storm.alerts}
        cause_of = {incident_id: cause_of_fp[fp] for incident_id, fp, _ in incidents}
        by_channel = Counter(channel for channel, _ in deliveries)
        notified: set[int] = set()
        title_of = {incident_id: title for incident_id, _, title in incidents}
        per_cause = {
            cause: {"alerts": 0, "events": 0, "notifications": 0, "incidents_notified": 0}
            for cause in self.storm.causes
        }
        for alert in self.storm.alerts:
            per_cause[alert.cause]["alerts"] += 1
        for event in self.storm.events:
            per_cause[event.span.alert.cause]["events"] += 1
        for _, note in deliveries:
            ids = _incident_ids(note)
            notified.update(ids)
            for cause in {cause_of[i] for i in ids}:
                per_cause[cause]["notifications"] += 1
        for incident_id in notified:
            per_cause[cause_of[incident_id]]["incidents_notified"] += 1
        decided = _actions_by_incident(actions)
        never: dict[str, list[str]] = {}
        for incident_id, _, title in incidents:
            if incident_id not in notified:
                reason = _explain(self.seen.get(incident_id, set()), decided.get(incident_id, set()))
                never.setdefault(reason, []).append(title)
        return Result(
            config=self.name,
            events=len(self.storm.events),
            incidents=len(incidents),
            by_channel=dict(by_channel),
            notified={title_of[i] for i in notified},
            never_notified=never,
            per_cause=per_cause,
            wall_seconds=wall,
            stuck_timers=self.stuck,
        )


def _incident_fingerprint(alert_fingerprint: str) -> str:
    """The incident fingerprint Liberation Guardian derives from an Alertmanager alert fingerprint."""
    identity = NormalizedEvent(
        source="alertmanager", kind="alert", title="", grouping_key=f"alertmanager:{alert_fingerprint}"
    )
    return fingerprint(identity)


def _incident_ids(note: dict[str, Any]) -> list[int]:
    """The incidents one message is about: the listed ones of a group message, else its own."""
    items = note.get("incidents") or []
    return [item["incident_id"] for item in items] or [note["incident_id"]]


def _actions_by_incident(rows: Iterable[tuple[int, str]]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for incident_id, action in rows:
        found.setdefault(incident_id, set()).add(action)
    return found


def _explain(reasons: set[str], actions: set[str]) -> str:
    """Why an incident never got a message, from the dispatcher's recorded reasons and its decisions."""
    if actions == {"auto_acknowledge"}:
        return "auto_acknowledged"
    for prefix, name in (("silenced", "silenced"), ("inhibited", "inhibited"), ("acknowledged", "acknowledged")):
        if any(reason.startswith(prefix) for reason in reasons):
            return name
    if any(reason.startswith("resolved before") for reason in reasons):
        return "resolved_before_due"
    return "unexplained"


def replay(storm: Storm, config: str, workdir: Path) -> Result:
    """Replay `storm` with one of `CONFIGS` in a fresh database under `workdir`."""
    return Replay(storm, CONFIGS[config], workdir, config).run()
