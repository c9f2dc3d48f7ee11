"""The `email` channel: one multipart message per notification over SMTP (standard library `smtplib`).

The message is multipart/alternative (the plain text of `Notification.text()` and an
escaped HTML rendering), its Subject the headline. `Message-ID` is derived from the
idempotency key, so a repeated delivery carries the same id and mail clients and
archives can recognise it; `References` names the incident so its messages thread.
`X-Guardian-Incident` and `X-Guardian-Idempotency-Key` let mail rules filter, and
`Auto-Submitted: auto-generated` keeps vacation responders quiet.

Transport security: `ssl: true` is implicit TLS (SMTPS, port 465 unless set);
otherwise `starttls: auto` upgrades when the server offers STARTTLS and insists on it
on port 587, `always` insists on it, `never` stays in clear. The password is never sent
unencrypted unless `starttls: never` says so. `ca_file` trusts a private CA.

Failures: refused connections, timeouts, dropped connections and SMTP 4xx replies are
retryable; 5xx replies, failed authentication with a 5xx reply, TLS certificate
failures and a missing STARTTLS are not. Recipients refused individually while others
were accepted are logged, not retried (a retry would send the others a duplicate).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

from pydantic import Field, FilePath, field_validator, model_validator

from liberation_guardian.act.notify import templates
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.errors import ConfigError, DeliveryFailed

logger = logging.getLogger(__name__)

_SUBMISSION_PORT = 587
_SMTPS_PORT = 465


def _address(value: str) -> str:
    """Check one `addr@host` or `Name <addr@host>` and return it unchanged."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{value!r} must be on one line")
    _, addr = parseaddr(value)
    if "@" not in addr or " " in addr:
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailConfig(ChannelConfig):
    """Keys of `integrations.notifications.email`.

    Usage::

        email:
          smtp_host: smtp.example.com
          smtp_port: 587
          username_env: EMAIL_USERNAME
          password_env: EMAIL_PASSWORD
          from_address: guardian@example.com
          to: [oncall@example.com]
    """

    smtp_host: str | None = Field(default=None, description="SMTP server to submit to.")
    smtp_port: int = Field(default=_SUBMISSION_PORT, ge=1, le=65535, description="587, or 465 with ssl: true.")
    username_env: str | None = Field(default=None, description="Variable holding the SMTP login; no AUTH without.")
    password_env: str | None = Field(default=None, description="Variable holding the SMTP password.")
    from_address: str = Field(default="liberation-guardian@localhost", description="Sender (From and envelope).")
    to: list[str] = Field(
        default_factory=list,
        description="Recipients; one address or a list. Default: the username, when it is an address.",
    )
    starttls: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: when offered, and always on port 587; always; never."
    )
    ssl: bool = Field(default=False, description="Implicit TLS (SMTPS) from the first byte.")
    ca_file: FilePath | None = Field(default=None, description="PEM bundle of the CA that signed the server.")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @field_validator("from_address")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @model_validator(mode="after")
    def _consistent(self) -> EmailConfig:
        if self.ssl and "smtp_port" not in self.model_fields_set:
            self.smtp_port = _SMTPS_PORT
        if self.ssl and self.starttls == "always":
            raise ValueError("ssl: true already encrypts; starttls: always cannot apply")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together")
        if self.enabled and not self.smtp_host:
            raise ValueError("smtp_host is required when the channel is enabled")
        return self


def message_id(idempotency_key: str, from_address: str) -> str:
    """A stable `Message-ID` for one delivery: the same key always gives the same id."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<guardian.{digest}@{_domain(from_address)}>"


def _domain(from_address: str) -> str:
    domain = parseaddr(from_address)[1].rpartition("@")[2]
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else "liberation-guardian.invalid"


def _one_line(text: str) -> str:
    """Collapse whitespace so untrusted titles cannot inject header lines."""
    return " ".join(text.split())


def build_html(notification: Notification) -> str:
    """The HTML part: template `email.html.j2`, in which every piece of event content is escaped."""
    return templates.render(templates.EMAIL_HTML, notification)


def build_message(notification: Notification, config: EmailConfig) -> EmailMessage:
    """The complete message for one notification."""
    n = notification
    domain = _domain(config.from_address)
    message = EmailMessage()
    message["Subject"] = _one_line(templates.render(templates.EMAIL_SUBJECT, n))
    message["From"] = config.from_address
    message["To"] = ", ".join(config.to)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(n.idempotency_key, config.from_address)
    message["References"] = f"<guardian.incident.{n.incident_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Guardian-Incident"] = str(n.incident_id)
    message["X-Guardian-Idempotency-Key"] = _one_line(n.idempotency_key)
    # quoted-printable keeps both parts 7-bit clean for servers without 8BITMIME.
    message.set_content(n.text(), cte="quoted-printable")
    message.add_alternative(build_html(n), subtype="html", cte="quoted-printable")
    return message


def _classify(exc: Exception) -> tuple[str, bool]:
    """Reason and retryability for an exception raised during an SMTP session."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {addr: (code, _text(msg)) for addr, (code, msg) in exc.recipients.items()}
        listed = "; ".join(f"{addr}: {code} {msg}" for addr, (code, msg) in replies.items())
        return f"every recipient refused: {listed}", all(400 <= code < 500 for code, _ in replies.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        what = "authentication failed" if isinstance(exc, smtplib.SMTPAuthenticationError) else "server replied"
        # 4xx is the server's "try again later"; 5xx (and 535 for a wrong password) is final.
        return f"{what}: {exc.smtp_code} {_text(exc.smtp_error)}", not 500 <= exc.smtp_code <= 599
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"server closed the connection: {exc}", True
    if isinstance(exc, smtplib.SMTPException):
        return f"SMTP: {exc}", False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message} (set ca_file for a private CA)", False
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return f"TLS connection dropped: {exc}", True
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}", False
    if isinstance(exc, TimeoutError):
        return "timed out", True
    return f"{type(exc).__name__}: {exc}", True


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


class EmailChannel(Channel):
    """Sends each notification as an email through one SMTP server."""

    name = "email"
    config_model = EmailConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, EmailConfig):
            raise TypeError(f"email channel needs an EmailConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        if not config.to:
            # A configuration may name only a login; a mailbox login is where its owner reads mail.
            username = secrets.get("username", "")
            if "@" not in username:
                raise ConfigError(
                    "no recipients: set `to`, or use an email address as the username",
                    path="integrations.notifications.email.to",
                )
            config = config.model_copy(update={"to": [username]})
        self.email_config = config

    def send(self, notification: Notification) -> None:
        """Submit the message to the SMTP server; raise `DeliveryFailed` unless it accepts it."""
        config = self.email_config
        username, password = self._credentials()
        context = self._tls_context()
        message = build_message(notification, config)
        try:
            smtp = self._connect(context)
        except DeliveryFailed:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failure(exc) from None
        try:
            refused = self._session(smtp, context, message, username, password)
        except DeliveryFailed:
            smtp.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # No QUIT after a failure: on a dead or slow connection it would only wait another timeout.
            smtp.close()
            raise self._failure(exc) from None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # the message was accepted; a failed goodbye changes nothing
        if refused:
            logger.warning(
                "email: some recipients refused, the others got the message: %s",
                "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items()),
                extra={"channel": self.name, "incident_id": notification.incident_id},
            )

    def _credentials(self) -> tuple[str | None, str | None]:
        config = self.email_config
        if config.username_env is None:
            return None, None
        username, password = self.secrets.get("username"), self.secrets.get("password")
        if not username or password is None:
            missing = config.username_env if not username else config.password_env
            raise DeliveryFailed(f"email: variable {missing} is empty or unset", retryable=False)
        return username, password

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.email_config.ca_file
        try:
            return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(f"email: ca_file {ca_file} cannot be loaded: {exc}", retryable=False) from None

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        config = self.email_config
        if not config.smtp_host:  # only possible for a disabled channel; the model requires it otherwise
            raise DeliveryFailed("email: smtp_host is not configured", retryable=False)
        if config.ssl:
            return smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds, context=context)
        return smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds)

    def _session(
        self,
        smtp: smtplib.SMTP,
        context: ssl.SSLContext,
        message: EmailMessage,
        username: str | None,
        password: str | None,
    ) -> dict[str, tuple[int, bytes]]:
        """EHLO, STARTTLS and AUTH as configured, then submit; return the recipients refused one by one."""
        config = self.email_config
        smtp.ehlo()
        encrypted = config.ssl
        if not config.ssl and config.starttls != "never":
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                encrypted = True
            elif config.starttls == "always" or config.smtp_port == _SUBMISSION_PORT:
                raise DeliveryFailed(
                    f"email: {config.smtp_host}:{config.smtp_port} does not offer STARTTLS "
                    f"(starttls: {config.starttls})",
                    retryable=False,
                )
        if username is not None and password is not None:
            if not encrypted and config.starttls != "never":
                raise DeliveryFailed(
                    "email: refusing to send the password over an unencrypted connection "
                    "(the server offers no STARTTLS; set starttls: never to allow it)",
                    retryable=False,
                )
            smtp.login(username, password)
        return smtp.send_message(
            message,
            from_addr=parseaddr(config.from_address)[1],
            to_addrs=[parseaddr(addr)[1] for addr in config.to],
        )

    def _failure(self, exc: Exception) -> DeliveryFailed:
        reason, retryable = _classify(exc)
        where = f"{self.email_config.smtp_host}:{self.email_config.smtp_port}"
        password = self.secrets.get("password")
        if password:
            reason = reason.replace(password, "…")
        return DeliveryFailed(f"email: {where}: {reason}", retryable=retryable)
