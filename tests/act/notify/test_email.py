"""The email channel against a real local SMTP server: content, STARTTLS, SMTPS, AUTH and failures."""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.email import EmailChannel, EmailConfig, message_id
from liberation_guardian.errors import ConfigError, DeliveryFailed
from tests.fixtures.smtp import SmtpServer

StartServer = Callable[..., SmtpServer]


def channel(server: SmtpServer, secrets: dict[str, str] | None = None, **config: Any) -> EmailChannel:
    settings: dict[str, Any] = {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "from_address": "Guardian <guardian@ops.example>",
        "to": ["oncall@ops.example", "Lead <lead@ops.example>"],
        "timeout_seconds": 5,
        **config,
    }
    return EmailChannel(EmailConfig.model_validate(settings), secrets or {})


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None and body.get_content_type() == f"text/{subtype}"
    content = body.get_content()
    assert isinstance(content, str)
    return content


def test_sends_a_multipart_message(smtp_server: SmtpServer, notification: Notification) -> None:
    channel(smtp_server).send(notification)

    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "guardian@ops.example"
    assert mail.rcpt_tos == ["oncall@ops.example", "lead@ops.example"]
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == notification.headline()
    assert message["From"] == "Guardian <guardian@ops.example>"
    assert message["To"] == "oncall@ops.example, Lead <lead@ops.example>"
    assert message["Message-ID"] == message_id(notification.idempotency_key, "guardian@ops.example")
    assert message["Message-ID"].endswith("@ops.example>")
    assert message["X-Guardian-Incident"] == "42"
    assert message["X-Guardian-Idempotency-Key"] == "incident-42:opened:1"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["References"] == "<guardian.incident.42@ops.example>"
    assert message["Date"]
    assert part(message, "plain").replace("\r\n", "\n").rstrip("\n") == notification.text()
    html = part(message, "html")
    assert "<h2>[CRITICAL] Instance down &lt;api-1&gt; &amp; friends (needs a human)</h2>" in html
    assert "Critical severity escalates at once.<br>No known pattern matches." in html
    assert '<a href="http://guardian.example/incidents/42">Incident</a>' in html
    assert "<api-1>" not in html
    assert not mail.tls
    assert mail.auth_login is None


def test_a_repeat_has_the_same_message_id(smtp_server: SmtpServer, notification: Notification) -> None:
    email = channel(smtp_server)
    email.send(notification)
    email.send(notification)
    email.send(notification.model_copy(update={"idempotency_key": "incident-42:resolved:1"}))

    first, second, third = (m.message["Message-ID"] for m in smtp_server.wait_for(3))
    assert first == second
    assert third != first


def test_untrusted_title_cannot_inject_headers(smtp_server: SmtpServer, notification: Notification) -> None:
    channel(smtp_server).send(notification.model_copy(update={"title": "down\r\nBcc: victim@example.com"}))

    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Bcc"] is None
    assert mail.message["Subject"] == "[CRITICAL] down Bcc: victim@example.com (needs a human)"
    assert mail.rcpt_tos == ["oncall@ops.example", "lead@ops.example"]


def test_javascript_links_stay_text(smtp_server: SmtpServer, notification: Notification) -> None:
    odd = Notification.model_validate(
        {**notification.model_dump(), "links": [{"title": "x", "url": "javascript:alert(1)"}]}
    )
    channel(smtp_server).send(odd)

    html = part(smtp_server.wait_for(1)[0].message, "html")
    assert "<li>x: javascript:alert(1)</li>" in html
    assert 'href="javascript' not in html


def test_starttls_is_negotiated_and_auth_used(start_server: StartServer, notification: Notification) -> None:
    server = start_server(starttls=True, require_starttls=True, username="guardian", password="hunter2-long")
    email = channel(
        server,
        {"username": "guardian", "password": "hunter2-long"},
        username_env="EMAIL_USERNAME",
        password_env="EMAIL_PASSWORD",
        ca_file=str(server.ca_file),
    )
    email.send(notification)

    (mail,) = server.wait_for(1)
    assert mail.tls
    assert mail.tls_version is not None and mail.tls_version.startswith("TLS")
    assert mail.auth_login == "guardian"


def test_auto_uses_starttls_whenever_offered(start_server: StartServer, notification: Notification) -> None:
    server = start_server(starttls=True)
    channel(server, ca_file=str(server.ca_file)).send(notification)

    assert server.wait_for(1)[0].tls


def test_implicit_tls(start_server: StartServer, notification: Notification) -> None:
    server = start_server(implicit_tls=True, username="guardian", password="pw-pw-pw")
    email = channel(
        server,
        {"username": "guardian", "password": "pw-pw-pw"},
        ssl=True,
        username_env="U",
        password_env="P",
        ca_file=str(server.ca_file),
    )
    email.send(notification)

    (mail,) = server.wait_for(1)
    assert mail.tls and mail.auth_login == "guardian"


def test_untrusted_certificate_is_permanent(start_server: StartServer, notification: Notification) -> None:
    server = start_server(starttls=True)
    with pytest.raises(DeliveryFailed, match="certificate") as failed:
        channel(server).send(notification)  # no ca_file: the trustme CA is unknown to the system store
    assert failed.value.retryable is False
    assert server.messages == []


def test_starttls_always_needs_a_server_that_offers_it(smtp_server: SmtpServer, notification: Notification) -> None:
    with pytest.raises(DeliveryFailed, match="does not offer STARTTLS") as failed:
        channel(smtp_server, starttls="always").send(notification)
    assert failed.value.retryable is False
    assert smtp_server.messages == []


def test_password_is_not_sent_in_clear_unless_asked(start_server: StartServer, notification: Notification) -> None:
    server = start_server(username="guardian", password="pw-pw-pw")
    secrets = {"username": "guardian", "password": "pw-pw-pw"}
    with pytest.raises(DeliveryFailed, match="unencrypted") as failed:
        channel(server, secrets, username_env="U", password_env="P").send(notification)
    assert failed.value.retryable is False
    assert server.messages == []

    channel(server, secrets, username_env="U", password_env="P", starttls="never").send(notification)
    assert server.wait_for(1)[0].auth_login == "guardian"


def test_no_login_without_username(start_server: StartServer, notification: Notification) -> None:
    server = start_server(username="guardian", password="pw-pw-pw")
    channel(server).send(notification)

    assert server.wait_for(1)[0].auth_login is None


@pytest.mark.parametrize(("reply", "retryable"), [("451 4.3.0 try again later", True), ("554 5.7.1 rejected", False)])
def test_data_reply_classification(
    smtp_server: SmtpServer, notification: Notification, reply: str, retryable: bool
) -> None:
    smtp_server.data_reply = reply
    with pytest.raises(DeliveryFailed) as failed:
        channel(smtp_server).send(notification)
    assert failed.value.retryable is retryable
    assert reply in failed.value.reason


@pytest.mark.parametrize(("reply", "retryable"), [("450 4.2.1 mailbox busy", True), ("550 5.1.1 no such user", False)])
def test_every_recipient_refused(
    smtp_server: SmtpServer, notification: Notification, reply: str, retryable: bool
) -> None:
    smtp_server.refuse_recipients = {"oncall@ops.example": reply, "lead@ops.example": reply}
    with pytest.raises(DeliveryFailed, match="every recipient refused") as failed:
        channel(smtp_server).send(notification)
    assert failed.value.retryable is retryable


def test_some_recipients_refused_is_delivered_and_logged(
    smtp_server: SmtpServer, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.refuse_recipients = {"lead@ops.example": "550 5.1.1 no such user"}
    with caplog.at_level(logging.WARNING, logger="liberation_guardian.act.notify.email"):
        channel(smtp_server).send(notification)

    assert smtp_server.wait_for(1)[0].rcpt_tos == ["oncall@ops.example"]
    assert "lead@ops.example: 550" in caplog.text


def test_missing_password_variable_is_permanent(smtp_server: SmtpServer, notification: Notification) -> None:
    email = channel(smtp_server, {"username": "guardian"}, username_env="U", password_env="EMAIL_PASSWORD")
    with pytest.raises(DeliveryFailed, match="EMAIL_PASSWORD") as failed:
        email.send(notification)
    assert failed.value.retryable is False


def test_config_defaults_and_shortcuts() -> None:
    config = EmailConfig.model_validate({"smtp_host": "smtp.example.com", "to": "oncall@example.com"})
    assert config.to == ["oncall@example.com"]
    assert config.smtp_port == 587
    assert config.starttls == "auto"
    assert config.from_address == "liberation-guardian@localhost"
    assert EmailConfig.model_validate({"smtp_host": "h", "to": ["a@b"], "ssl": True}).smtp_port == 465
    assert (
        EmailConfig.model_validate({"smtp_host": "h", "to": ["a@b"], "ssl": True, "smtp_port": 2465}).smtp_port == 2465
    )
    assert EmailConfig.model_validate({"enabled": False}).to == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"to": ["a@b"]}, "smtp_host is required"),
        ({"smtp_host": "h", "to": ["not-an-address"]}, "not an email address"),
        ({"smtp_host": "h", "to": ["a@b\r\nBcc: c@d"]}, "one line"),
        ({"smtp_host": "h", "to": ["a@b"], "username_env": "U"}, "go together"),
        ({"smtp_host": "h", "to": ["a@b"], "ssl": True, "starttls": "always"}, "cannot apply"),
        ({"smtp_host": "h", "to": ["a@b"], "starttls": "sometimes"}, "starttls"),
        ({"smtp_host": "h", "to": ["a@b"], "ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"smtp_host": "h", "to": ["a@b"], "password": "x"}, "extra"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EmailConfig.model_validate(config)


def test_spec_example_keys_are_accepted() -> None:
    spec = {
        "enabled": True,
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 587,
        "username_env": "EMAIL_USERNAME",
        "password_env": "EMAIL_PASSWORD",
    }
    config = EmailConfig.model_validate({**spec, "to": ["oncall@example.com"]})
    assert config.username_env == "EMAIL_USERNAME"


@pytest.fixture
def start_server(smtp_server_factory: StartServer) -> StartServer:
    """Shorter name for the factory in this module."""
    return smtp_server_factory


def test_without_to_the_mail_goes_to_the_login_address_or_start_up_fails() -> None:
    config = EmailConfig.model_validate({"smtp_host": "h", "username_env": "U", "password_env": "P"})
    channel = EmailChannel(config, {"username": "ops@example.com", "password": "pw"})
    assert channel.email_config.to == ["ops@example.com"]
    with pytest.raises(ConfigError, match="no recipients"):
        EmailChannel(config, {"username": "ops", "password": "pw"})
