"""The contract every channel keeps: how failures are classified, and that secrets never leak.

Each HTTP channel is pointed at a local recorder whose URL path carries a token (as a
real Slack or webhook URL does), with a signing secret where the channel has one.
Every case runs with all loggers captured at DEBUG, so a library that logs the URL
(httpx does, at INFO) is caught too.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from liberation_guardian.act.notify.base import Channel, Notification
from liberation_guardian.act.notify.discord import DiscordChannel, DiscordConfig
from liberation_guardian.act.notify.email import EmailChannel, EmailConfig
from liberation_guardian.act.notify.opsgenie import OpsgenieChannel, OpsgenieConfig
from liberation_guardian.act.notify.pagerduty import PagerDutyChannel, PagerDutyConfig
from liberation_guardian.act.notify.slack import SlackChannel, SlackConfig
from liberation_guardian.act.notify.sms import SmsChannel, SmsConfig
from liberation_guardian.act.notify.teams import TeamsChannel, TeamsConfig
from liberation_guardian.act.notify.telegram import TelegramChannel, TelegramConfig
from liberation_guardian.act.notify.webhook import WebhookChannel, WebhookConfig
from liberation_guardian.errors import DeliveryFailed
from tests.fixtures.recorder import Recorder
from tests.fixtures.smtp import SmtpServer

URL_TOKEN = "Zq8uX3pTokenInThePath9k"
SIGNING_SECRET = "sign-Secret-4c5d6e7f"
TIMEOUT = 0.5


@dataclass(frozen=True)
class Subject:
    """A channel wired to a base URL, and the secrets it must never reveal."""

    build: Callable[[str], Channel]
    secrets: tuple[str, ...]
    success: str | dict[str, Any] = "ok"  # what the vendor answers to a delivered message


def slack(base_url: str) -> Channel:
    config = SlackConfig(webhook_url_env="SLACK_WEBHOOK_URL", timeout_seconds=TIMEOUT)
    return SlackChannel(config, {"webhook_url": f"{base_url}/services/T01/B01/{URL_TOKEN}"})


def slack_bot(base_url: str) -> Channel:
    config = SlackConfig(
        bot_token_env="SLACK_BOT_TOKEN",
        channel="C0123456789",
        signing_secret_env="SLACK_SIGNING_SECRET",
        api_url=base_url,
        timeout_seconds=TIMEOUT,
    )
    return SlackChannel(config, {"bot_token": f"xoxb-{URL_TOKEN}", "signing_secret": SIGNING_SECRET})


def webhook(base_url: str) -> Channel:
    config = WebhookConfig(url_env="HOOK_URL", secret_env="HOOK_SECRET", timeout_seconds=TIMEOUT)
    return WebhookChannel(config, {"url": f"{base_url}/hook/{URL_TOKEN}?key={URL_TOKEN}", "secret": SIGNING_SECRET})


def pagerduty(base_url: str) -> Channel:
    config = PagerDutyConfig(routing_key_env="PAGERDUTY_ROUTING_KEY", api_url=base_url, timeout_seconds=TIMEOUT)
    return PagerDutyChannel(config, {"routing_key": URL_TOKEN})


def opsgenie(base_url: str) -> Channel:
    config = OpsgenieConfig(api_key_env="OPSGENIE_API_KEY", api_url=base_url, timeout_seconds=TIMEOUT)
    return OpsgenieChannel(config, {"api_key": URL_TOKEN})


def discord(base_url: str) -> Channel:
    config = DiscordConfig(webhook_url_env="DISCORD_WEBHOOK_URL", timeout_seconds=TIMEOUT)
    return DiscordChannel(config, {"webhook_url": f"{base_url}/api/webhooks/1234567890/{URL_TOKEN}"})


def teams(base_url: str) -> Channel:
    config = TeamsConfig(webhook_url_env="TEAMS_WEBHOOK_URL", timeout_seconds=TIMEOUT)
    invoke = f"/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke?api-version=1&sv=1.0&sig={URL_TOKEN}"
    return TeamsChannel(config, {"webhook_url": base_url + invoke})


def telegram(base_url: str) -> Channel:
    config = TelegramConfig(
        bot_token_env="TELEGRAM_BOT_TOKEN", chat_id=-1001234, api_url=base_url, timeout_seconds=TIMEOUT
    )
    return TelegramChannel(config, {"bot_token": f"7012345678:{URL_TOKEN}"})


TWILIO_ACCOUNT_SID = "AC" + "5e6f7a8b9c0d1e2f" * 2


def sms(base_url: str) -> Channel:
    config = SmsConfig(
        account_sid_env="TWILIO_ACCOUNT_SID",
        auth_token_env="TWILIO_AUTH_TOKEN",
        from_number="+14155550100",
        to=["+14155550101"],
        api_url=base_url,
        timeout_seconds=TIMEOUT,
    )
    return SmsChannel(config, {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": URL_TOKEN})


HTTP_CHANNELS = {
    "slack": Subject(slack, (URL_TOKEN,)),
    "slack_bot": Subject(slack_bot, (URL_TOKEN, SIGNING_SECRET), {"ok": True, "channel": "C0123456789", "ts": "1.2"}),
    "discord": Subject(discord, (URL_TOKEN,)),
    "teams": Subject(teams, (URL_TOKEN,)),
    "telegram": Subject(telegram, (URL_TOKEN,)),
    "webhook": Subject(webhook, (URL_TOKEN, SIGNING_SECRET)),
    "pagerduty": Subject(pagerduty, (URL_TOKEN,)),
    "opsgenie": Subject(opsgenie, (URL_TOKEN,)),
    "sms": Subject(sms, (URL_TOKEN, TWILIO_ACCOUNT_SID)),
}


@pytest.fixture(params=sorted(HTTP_CHANNELS))
def subject(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Subject:
    """Each HTTP channel in turn, with every logger captured from DEBUG up."""
    caplog.set_level(logging.DEBUG)
    return HTTP_CHANNELS[request.param]


def assert_no_secret(subject_secrets: tuple[str, ...], *texts: str) -> None:
    for text in texts:
        for secret in subject_secrets:
            assert secret not in text


def failure(channel: Channel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(notification)
    return failed.value


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (429, True), (400, False), (404, False), (403, False)],
)
def test_http_status_classification(
    subject: Subject,
    recorder: Recorder,
    notification: Notification,
    caplog: pytest.LogCaptureFixture,
    status: int,
    retryable: bool,
) -> None:
    recorder.respond_with(status, f"error page mentioning {URL_TOKEN}")
    error = failure(subject.build(recorder.url), notification)

    assert error.retryable is retryable
    assert str(status) in error.reason
    assert len(recorder.requests) == 1  # retrying is the delivery stage's job, never the channel's
    assert_no_secret(subject.secrets, error.reason, str(error), repr(error), caplog.text)


def test_slow_server_is_retryable(
    subject: Subject, recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.respond_with(200, "ok", delay=TIMEOUT * 6)
    error = failure(subject.build(recorder.url), notification)

    assert error.retryable is True
    assert_no_secret(subject.secrets, error.reason, caplog.text)


def test_closed_port_is_retryable(
    subject: Subject, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    error = failure(subject.build(f"http://127.0.0.1:{closed_port()}"), notification)

    assert error.retryable is True
    assert_no_secret(subject.secrets, error.reason, caplog.text)


def test_success_logs_no_secret(
    subject: Subject, recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.respond_with(200, subject.success)
    subject.build(recorder.url).send(notification)

    assert len(recorder.wait_for(1)) == 1
    assert_no_secret(subject.secrets, caplog.text)


# SMTP: same contract, with the password as the secret.

PASSWORD = "correct-Horse-battery-9"


def email(port: int, password: str, ca_file: str | None = None, timeout: float = 2.0) -> EmailChannel:
    config = EmailConfig(
        smtp_host="127.0.0.1",
        smtp_port=port,
        to=["oncall@ops.example"],
        username_env="EMAIL_USERNAME",
        password_env="EMAIL_PASSWORD",
        ca_file=ca_file,
        timeout_seconds=timeout,
    )
    return EmailChannel(config, {"username": "guardian", "password": password})


def test_smtp_server_down_is_retryable(notification: Notification, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    error = failure(email(closed_port(), PASSWORD), notification)

    assert error.retryable is True
    assert_no_secret((PASSWORD,), error.reason, caplog.text)


def test_smtp_wrong_password_is_not_retryable(
    smtp_server_factory: Callable[..., SmtpServer], notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = smtp_server_factory(starttls=True, require_starttls=True, username="guardian", password=PASSWORD)
    wrong = "wrong-Password-123"
    error = failure(email(server.port, wrong, str(server.ca_file)), notification)

    assert error.retryable is False
    assert "authentication failed: 535" in error.reason
    assert server.messages == []
    assert_no_secret((wrong, PASSWORD), error.reason, caplog.text)


def test_smtp_silent_server_is_retryable(notification: Notification) -> None:
    # A listener that accepts but never greets: the SMTP banner wait runs into the timeout.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        error = failure(email(listener.getsockname()[1], PASSWORD, timeout=TIMEOUT), notification)
    assert error.retryable is True
    assert "timed out" in error.reason


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
