"""Why an incident must not be sent right now: a silence or another incident that explains it.

One `Mute` is a snapshot taken once per scheduler pass (active silences, open inhibition
sources), so checking hundreds of incidents in a storm costs no extra queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from liberation_guardian.dispatch import silences
from liberation_guardian.dispatch.inhibit import Inhibitor, InhibitRule


class Mute:
    """Silences and inhibitions in force at one moment."""

    def __init__(self, session: Session, rules: Sequence[InhibitRule], now: datetime) -> None:
        self.silences = silences.active(session, now)
        self.inhibitor = Inhibitor(rules)
        self.inhibitor.load(session)

    def reason(self, incident_id: int, labels: Mapping[str, str]) -> str | None:
        """`silenced by <id> until <end>` or `inhibited by incident #<id>`, or None when free to send."""
        silence = silences.muting(self.silences, labels)
        if silence is not None:
            return f"silenced by {silence.id} until {silence.ends_at.isoformat()}"
        source = self.inhibitor.inhibited_by(incident_id, labels)
        if source is not None:
            return f"inhibited by incident #{source}"
        return None

    def release_at(self, labels: Mapping[str, str]) -> datetime | None:
        """When the silence holding these labels ends (None when it is not a silence)."""
        silence = silences.muting(self.silences, labels)
        return silence.ends_at if silence else None
