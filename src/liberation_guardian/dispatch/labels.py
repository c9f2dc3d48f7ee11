"""The label set of an incident: what routes, silences and inhibition rules match on.

The event's own labels come first; the normalized fields then override labels of the
same name, so `severity` is always Liberation Guardian's severity (what every message
shows), whatever a tool called its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liberation_guardian.config.routing import ServiceConfig
from liberation_guardian.store.models import Incident


def incident_labels(
    incident: Incident,
    event_labels: Mapping[str, Any],
    *,
    category: str,
    action: str,
    services: Mapping[str, ServiceConfig],
) -> dict[str, str]:
    """Every label of `incident` as of its latest event and decision."""
    labels = {str(name): str(value) for name, value in event_labels.items() if value is not None}
    owner = services.get(incident.service or "")
    normalized = {
        "incident": str(incident.id),
        "fingerprint": incident.fingerprint,
        "source": incident.source,
        "kind": incident.kind,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "service": incident.service or "",
        "environment": incident.environment or "",
        "category": category,
        "action": action,
        "team": owner.team if owner else labels.get("team", ""),
    }
    labels.update(normalized)
    return {name: value for name, value in labels.items() if value != ""}
