"""Fixtures for channel tests: a recording HTTP server, a recording SMTP server, a sample notification."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.events import Link, Severity
from tests.fixtures.recorder import Recorder
from tests.fixtures.smtp import SmtpServer


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A `Recorder` HTTP server on 127.0.0.1, answering 200 `ok` unless told otherwise."""
    with Recorder() as server:
        yield server


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start `SmtpServer(**options)` servers on demand; all are stopped after the test."""
    started: list[SmtpServer] = []

    def start(**options: Any) -> SmtpServer:
        server = SmtpServer(**options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain `SmtpServer` on 127.0.0.1: no TLS, no AUTH."""
    return smtp_server_factory()


@pytest.fixture
def notification() -> Notification:
    """An escalation with every field set, including characters that need escaping."""
    return Notification(
        idempotency_key="incident-42:opened:1",
        incident_id=42,
        transition="opened",
        action="escalate",
        severity=Severity.critical,
        title="Instance down <api-1> & friends",
        summary="api-1:9100 has not answered a scrape for 5 minutes.",
        rationale="Critical severity escalates at once.\nNo known pattern matches.",
        category="availability",
        source="alertmanager",
        service="api",
        environment="production",
        occurrences=3,
        links=[Link(title="Alertmanager", url="http://alertmanager.example/#/alerts?x=1|2")],
        incident_url="http://guardian.example/incidents/42",
        instance="Guardian Test",
    )
