"""The key under which an incident is an alert in a two-way tool, and the way back from it.

PagerDuty's `dedup_key` (echoed as `incident_key` in its webhooks) and Opsgenie's `alias`
are `<instance-slug>-incident-<id>`, the same for every transition of one incident. The
instance name is part of it so two installations sending to one vendor service never
address each other's alerts; reading a key back only accepts this instance's.
"""

from __future__ import annotations

import re

_KEY_MAX = 255
_SLUG_MAX = 100


def slug(instance: str) -> str:
    """The instance name as lower-case words joined by dashes."""
    found = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return found or "liberation-guardian"


def alert_key(instance: str, incident_id: int) -> str:
    """The alert key of an incident, e.g. `liberation-guardian-incident-42`."""
    return f"{slug(instance)}-incident-{incident_id}"[:_KEY_MAX]


def incident_of(instance: str, key: str | None) -> int | None:
    """The incident id an alert key of this instance names, or None for any other key."""
    if not key:
        return None
    found = re.fullmatch(re.escape(slug(instance)) + r"-incident-(\d{1,18})", key.strip())
    return int(found.group(1)) if found else None
