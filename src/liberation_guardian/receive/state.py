"""What the webhook route needs from the running app, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field

from liberation_guardian.observe.metrics import Metrics
from liberation_guardian.receive.guard import Guard
from liberation_guardian.receive.ingest import IngestWriter
from liberation_guardian.sources.base import Source


@dataclass
class Receiver:
    """Enabled sources by name, the ingest writer, the body limit, the metrics and the sender guard."""

    sources: dict[str, Source]
    writer: IngestWriter
    max_body_bytes: int
    metrics: Metrics
    guard: Guard = field(default_factory=Guard)
