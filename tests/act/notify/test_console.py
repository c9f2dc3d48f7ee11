"""The console channel logs each notification at a level that says whether someone is needed."""

from __future__ import annotations

import logging

import pytest

from liberation_guardian.act.notify import registry
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.console import ConsoleChannel, ConsoleConfig


def test_every_channel_module_is_registered() -> None:
    assert {"console", "slack", "webhook", "email"} <= set(registry())
    assert registry()["console"] is ConsoleChannel


def test_escalation_is_logged_at_warning_with_structured_fields(
    notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="liberation_guardian.notify")
    ConsoleChannel(ConsoleConfig(), {}).send(notification)

    (record,) = [r for r in caplog.records if r.name == "liberation_guardian.notify"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == notification.text()
    assert record.__dict__["incident_id"] == 42
    assert record.__dict__["idempotency_key"] == "incident-42:opened:1"
    assert record.__dict__["action"] == "escalate"
    assert record.__dict__["severity"] == "critical"


@pytest.mark.parametrize(
    ("action", "transition", "level"),
    [
        ("investigate", "opened", logging.INFO),
        ("auto_acknowledge", "opened", logging.INFO),
        ("auto_fix", "reopened", logging.INFO),
        ("escalate", "severity_raised", logging.WARNING),
        ("escalate", "resolved", logging.INFO),
    ],
)
def test_level_follows_the_decision(
    notification: Notification, caplog: pytest.LogCaptureFixture, action: str, transition: str, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="liberation_guardian.notify")
    ConsoleChannel(ConsoleConfig(), {}).send(
        notification.model_copy(update={"action": action, "transition": transition})
    )
    assert [r.levelno for r in caplog.records if r.name == "liberation_guardian.notify"] == [level]


def test_config_takes_only_the_common_keys() -> None:
    assert ConsoleConfig.model_validate({"enabled": True}).enabled
    with pytest.raises(ValueError, match="extra"):
        ConsoleConfig.model_validate({"level": "debug"})
