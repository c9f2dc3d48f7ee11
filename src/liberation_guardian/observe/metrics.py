"""Prometheus metrics of one running instance, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Every counter and histogram `/metrics` shows."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_received = Counter(
            "guardian_events_received", "Webhook requests received, per source.", ["source"], registry=r
        )
        self.events_accepted = Counter(
            "guardian_events_accepted", "Events durably stored, per source.", ["source"], registry=r
        )
        self.events_rejected = Counter(
            "guardian_events_rejected",
            "Webhook requests refused, per source and status.",
            ["source", "status"],
            registry=r,
        )
        self.decisions = Counter("guardian_decisions", "Decisions taken, per action.", ["action"], registry=r)
        self.deliveries = Counter(
            "guardian_deliveries", "Notifications delivered, per channel.", ["channel"], registry=r
        )
        self.delivery_failures = Counter(
            "guardian_delivery_failures", "Failed delivery attempts, per channel.", ["channel"], registry=r
        )
        self.deliveries_dead = Counter(
            "guardian_deliveries_dead",
            "Deliveries given up after their last attempt, per channel.",
            ["channel"],
            registry=r,
        )
        self.processing_errors = Counter(
            "guardian_processing_errors",
            "Events a pipeline stage failed on, per stage.",
            ["stage"],
            registry=r,
        )
        self.pipeline_latency = Histogram(
            "guardian_pipeline_latency_seconds",
            "Time from an event's acceptance to the end of its processing.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_latency = Histogram(
            "guardian_webhook_seconds",
            "Time to answer a webhook request.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
