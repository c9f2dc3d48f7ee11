"""The `console` channel: writes each notification to the service's own log.

Always available and needs no secrets, so a fresh install shows its decisions
somewhere before any real channel is set up. It logs `Notification.text()` on the
`liberation_guardian.notify` logger: WARNING when a human is needed (action
`escalate`, unless the incident is resolving), INFO otherwise, with the incident id,
idempotency key, action, severity and transition as structured `extra` fields for the
JSON log formatter. It never fails.
"""

from __future__ import annotations

import logging

from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification

logger = logging.getLogger("liberation_guardian.notify")


class ConsoleConfig(ChannelConfig):
    """Keys of `integrations.notifications.console`: only the common `enabled` and `timeout_seconds`."""


def level_for(notification: Notification) -> int:
    """WARNING for an escalation that still needs someone, INFO for everything else."""
    if notification.action == "escalate" and notification.transition != "resolved":
        return logging.WARNING
    return logging.INFO


class ConsoleChannel(Channel):
    """Logs each notification's plain text with structured fields."""

    name = "console"
    config_model = ConsoleConfig

    def send(self, notification: Notification) -> None:
        """Log the notification; this channel has nothing that can fail."""
        logger.log(
            level_for(notification),
            "%s",
            notification.text(),
            extra={
                "channel": self.name,
                "incident_id": notification.incident_id,
                "idempotency_key": notification.idempotency_key,
                "action": notification.action,
                "severity": notification.severity.value,
                "transition": notification.transition,
            },
        )
