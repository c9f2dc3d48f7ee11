"""A full instance wired to a recording Slack endpoint, a recording webhook receiver and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from liberation_guardian.config import load_text
from tests.fixtures.recorder import Recorder
from tests.fixtures.server import RunningServer, running_server
from tests.fixtures.smtp import SmtpServer

TOKEN = "test-admin-token"
SECRETS = {
    "SENTRY_WEBHOOK_SECRET": "sentry-client-secret",
    "GRAFANA_WEBHOOK_SECRET": "grafana-hmac-secret",
    "GENERIC_API_KEY": "generic-api-key",
    "EMAIL_USERNAME": "oncall@example.com",
    "EMAIL_PASSWORD": "smtp-password",
}

CONFIG = """\
core:
  name: "Guardian under test"
  environment: "production"
  database_url: "sqlite:///{tmp}/guardian.db"
  admin_token_env: "GUARDIAN_ADMIN_TOKEN"
  max_body_bytes: 1048576
integrations:
  observability:
    sentry:
      enabled: true
      webhook_secret_env: "SENTRY_WEBHOOK_SECRET"
    prometheus:
      enabled: true
    grafana:
      enabled: true
      webhook_secret_env: "GRAFANA_WEBHOOK_SECRET"
  custom:
    generic:
      enabled: true
      api_key_env: "GENERIC_API_KEY"
  notifications:
    slack:
      enabled: true
      webhook_url_env: "SLACK_WEBHOOK_URL"
    email:
      enabled: true
      smtp_host: "127.0.0.1"
      smtp_port: {smtp_port}
      starttls: "never"
      username_env: "EMAIL_USERNAME"
      password_env: "EMAIL_PASSWORD"
      from_address: "guardian@example.com"
    webhook:
      enabled: true
      url_env: "OUTGOING_WEBHOOK_URL"
      timeout_seconds: 1
delivery:
  initial_backoff_seconds: 0.1
  max_backoff_seconds: 0.5
  fallback_channel: email
routing:
  route:
    receiver: default
    group_interval: 0s
    routes:
      - matchers: ['action="auto_acknowledge"']
        receiver: none
      - matchers: ['action="escalate"']
        receiver: escalation
      - matchers: ['severity="info"']
        receiver: log
decision_rules:
  auto_acknowledge:
    patterns: ["Rate limit exceeded.*temporary"]
  auto_fix:
    patterns: ["Missing environment variable"]
  escalate:
    patterns: ["Database connection failed"]
    conditions:
      - always_escalate: true
      - notification_channels: ["email", "sms", "slack"]
"""


@dataclass
class Stack:
    """The server and the three recording peers it notifies."""

    server: RunningServer
    slack: Recorder
    hooks: Recorder
    smtp: SmtpServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with (
        Recorder() as slack,
        Recorder() as hooks,
        SmtpServer(username="oncall@example.com", password="smtp-password") as smtp,
    ):
        env = {
            **SECRETS,
            "GUARDIAN_ADMIN_TOKEN": TOKEN,
            "SLACK_WEBHOOK_URL": slack.url + "/services/T000/B000/XXXXSECRET",
            "OUTGOING_WEBHOOK_URL": hooks.url + "/hook",
        }
        config = load_text(CONFIG.format(tmp=tmp_path, smtp_port=smtp.port), env, base_dir=tmp_path)
        config.require_secrets()
        with running_server(config) as server:
            yield Stack(server=server, slack=slack, hooks=hooks, smtp=smtp)
