"""The `apprise` channel: every service this project has no module of its own for, through Apprise.

Apprise (https://github.com/caronc/apprise) knows some hundred services by URL:
`mailgun://...`, `gotify://...`, `ntfy://...`, `matrix://...`, `pover://...`. Each configured
URL gets the notification with the headline as title, the plain text as body (declared
as text, so Apprise escapes it for services that render Markdown or HTML) and a notify
type chosen by transition and severity:

    transition resolved        success
    transition acknowledged    info
    otherwise, by severity     critical, high -> failure; medium -> warning; low, info -> info

`@everyone`, `@here`, `@channel` and `@all` in the text are broken with a zero-width space:
some services (Discord through Apprise) turn them into mentions.

Apprise reports only success or failure per service, with no status code, so a failure
is always retryable; its reason names the service by URL schema (`tgram://`), never the
URL, which usually carries a token. With several URLs a retry reaches only the services
that failed (see `_fanout`). Apprise's own log lines (which show URLs and payloads) and
those of urllib3 during a send are dropped.

Services with failure details Apprise cannot pass on (Retry-After, permanent versus
temporary errors), idempotency or two-way semantics have their own modules: `slack`,
`discord`, `teams`, `telegram`, `sms`, `pagerduty`, `opsgenie`, `email`, `webhook`.
"""

from __future__ import annotations

import contextvars
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from apprise import Apprise, AppriseAsset, NotifyFormat, NotifyType
from apprise.plugins.base import NotifyBase
from apprise.utils.parse import parse_urls
from pydantic import Field, field_validator, model_validator

from liberation_guardian.act.notify._fanout import Reached, Target, fan_out
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

_SCHEMA = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]{0,31})://")
_MENTION = re.compile(r"@(?=(?:everyone|here|channel|all)\b)", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"

_SEVERITY_TYPE = {
    Severity.critical: NotifyType.FAILURE,
    Severity.high: NotifyType.FAILURE,
    Severity.medium: NotifyType.WARNING,
    Severity.low: NotifyType.INFO,
    Severity.info: NotifyType.INFO,
}

_ASSET = AppriseAsset(app_id="Liberation Guardian", app_desc="Liberation Guardian incident notifications")

# Set while this channel talks through Apprise, so only our own calls are silenced.
_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("apprise_sending", default=False)


class _DropWhileSending(logging.Filter):
    """Drops every record while this channel is inside Apprise: they show URLs, tokens and payloads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _SENDING.get()


_QUIET = _DropWhileSending()
# Filters are per logger, not inherited: urllib3 logs each request line (path and all) on its connectionpool child.
for _name in ("apprise", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_QUIET)


@contextmanager
def _quiet() -> Iterator[None]:
    token = _SENDING.set(True)
    try:
        yield
    finally:
        _SENDING.reset(token)


def schema(url: str) -> str:
    """`tgram://` for a Telegram URL: the part of an Apprise URL that names the service and holds no secret."""
    match = _SCHEMA.match(url)
    return f"{match.group(1).lower()}://" if match else "(no schema)"


def split_urls(value: str) -> list[str]:
    """The Apprise URLs in `value`, separated by whitespace or commas (a comma inside a query stays)."""
    found: list[str] = parse_urls(value)  # type: ignore[no-untyped-call]  # Apprise leaves it unannotated
    return found


def _instantiate(url: str) -> NotifyBase | None:
    with _quiet(), warnings.catch_warnings():
        # Apprise imports its plugins on first use; its e-mail plugin imports `imghdr`, deprecated since
        # Python 3.11. That warning is Apprise's to act on and tells an operator nothing.
        warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
        return Apprise.instantiate(url, asset=_ASSET)


class AppriseConfig(ChannelConfig):
    """Keys of `integrations.notifications.apprise`.

    Usage::

        apprise:
          urls_env: APPRISE_URLS          # e.g. "ntfy://ntfy.sh/ops-alerts gotify://push.example/AbCdEf"
          urls: ["json://automation.internal:8080/guardian"]
    """

    urls_env: str | None = Field(
        default=None,
        description="Variable holding one or more Apprise URLs separated by spaces or commas (they carry tokens).",
    )
    urls: list[str] = Field(default_factory=list, description="Apprise URLs that hold no secret, written in the file.")

    @field_validator("urls")
    @classmethod
    def _understood(cls, value: list[str]) -> list[str]:
        for url in value:
            if _instantiate(url) is None:
                raise ValueError(
                    f"Apprise does not understand {url!r}: unknown schema, missing part, or its plugin "
                    "needs a package that is not installed"
                )
        return value

    @model_validator(mode="after")
    def _some_url_when_enabled(self) -> AppriseConfig:
        if self.enabled and not self.urls_env and not self.urls:
            raise ValueError("urls_env or urls is required when the channel is enabled")
        return self


def notify_type(notification: Notification) -> NotifyType:
    """Apprise's notify type for a notification: by transition, else by severity."""
    if notification.transition == "resolved":
        return NotifyType.SUCCESS
    if notification.transition == "acknowledged":
        return NotifyType.INFO
    return _SEVERITY_TYPE[notification.severity]


def defuse_mentions(text: str) -> str:
    """`text` with `@everyone`, `@here`, `@channel` and `@all` broken so no service turns them into a ping."""
    return _MENTION.sub("@" + _ZERO_WIDTH_SPACE, text)


class AppriseChannel(Channel):
    """Sends each notification to every configured Apprise URL."""

    name = "apprise"
    config_model = AppriseConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, AppriseConfig):
            raise TypeError(f"apprise channel needs an AppriseConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.apprise_config = config
        self.reached = Reached()

    def send(self, notification: Notification) -> None:
        """Notify every service not reached yet; raise `DeliveryFailed` unless all were."""
        title = defuse_mentions(notification.headline())
        body = defuse_mentions(notification.text())
        kind = notify_type(notification)

        def send_one(target: Target) -> None:
            self._notify(target.key, title, body, kind)

        fan_out(self.name, notification.idempotency_key, self._targets(), send_one, self.reached)

    def _targets(self) -> list[Target]:
        config = self.apprise_config
        targets = [Target(key=url, label=f"{schema(url)} (urls[{i}])") for i, url in enumerate(config.urls)]
        if config.urls_env:
            from_env = split_urls(self.secrets.get("urls", ""))
            if not from_env:
                raise DeliveryFailed(
                    f"apprise: variable {config.urls_env} (urls_env) is empty, unset or holds no URL",
                    retryable=False,
                )
            targets += [
                Target(key=url, label=f"{schema(url)} (URL {i + 1} of {config.urls_env})")
                for i, url in enumerate(from_env)
            ]
        return targets

    def _notify(self, url: str, title: str, body: str, kind: NotifyType) -> None:
        """One service; `DeliveryFailed` (reason without the channel prefix and without the URL) unless it succeeds."""
        service = _instantiate(url)
        if service is None:
            raise DeliveryFailed(
                "Apprise does not understand this URL (unknown schema, missing part, or a plugin package "
                "that is not installed)",
                retryable=False,
            )
        timeout = self.apprise_config.timeout_seconds
        service.socket_connect_timeout = timeout
        service.socket_read_timeout = timeout
        try:
            with _quiet():
                sent = service.notify(body=body, title=title, notify_type=kind, body_format=NotifyFormat.TEXT)
        except Exception as exc:  # a plugin bug; its message may quote the URL, so only the type is kept
            raise DeliveryFailed(f"Apprise raised {type(exc).__name__}", retryable=True) from None
        if not sent:
            raise DeliveryFailed("Apprise reported a failure (it gives no detail)", retryable=True)
