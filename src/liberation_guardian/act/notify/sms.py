"""The `sms` channel: a short text message per recipient through Twilio Programmable Messaging.

Each recipient gets its own `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
form-encoded `To`, `From` (or `MessagingServiceSid`) and `Body`, authenticated with HTTP
Basic auth: the Account SID and Auth Token, or an API key SID and secret. The body is
the headline and the incident URL (or `<instance> #<id>` without one), at most 320
characters, i.e. two segments when it is plain GSM-7 text: SMS is billed per segment,
so there is no more. Clipping ends in `...`, not `…`, which is outside GSM-7 and would
make every segment of the message shorter.

The recipients are the numbers the routing receiver chose (its `to.sms`), else the
channel's `to`. Only notifications of severity `min_severity` (default high) or worse
are sent; the others are dropped here, logged at INFO, and count as delivered. The
default routing sends this channel escalations only (when it is named in
`decision_rules.escalate.conditions.notification_channels`), so by default a phone
hears of high and critical escalations and of their acknowledgement and resolution.

Failures: a 2xx (Twilio answers 201 with the message resource) is delivered; 429, 5xx,
connection errors and timeouts are retryable, and so is Twilio error 21611 (the sender's
queue is full, answered with a 400); other 4xx are not, with Twilio's error
(`{code, message, more_info, status}`) in the reason. With several recipients a retry
texts only those not reached yet (see `_fanout`). Neither the token nor the Account
SID appears in a reason or a log line.
Format: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, field_validator, model_validator

from liberation_guardian import __version__
from liberation_guardian.act.notify._fanout import Reached, Target, fan_out
from liberation_guardian.act.notify._json_api import check_base_url, web_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import _SECRET_URLS, retry_after_seconds, scrub, status_retryable
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"
BODY_MAX = 320

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")
# Twilio's alphanumeric sender IDs: up to 11 letters, digits and spaces, at least one letter.
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# A 400 that means "later", not "never": the sender's queue holds more than it can send in time.
_RETRYABLE_CODES = frozenset({21611})
_DETAIL_MAX = 300
# The incident URL is dropped for the instance and number when it would leave too little for the headline.
_URL_MAX = BODY_MAX // 2


class SmsConfig(ChannelConfig):
    """Keys of `integrations.notifications.sms`.

    Usage::

        sms:
          account_sid_env: TWILIO_ACCOUNT_SID
          auth_token_env: TWILIO_AUTH_TOKEN
          from_number: "+14155550100"
          to: ["+14155550199", "+447700900123"]
    """

    account_sid_env: str | None = Field(
        default=None, description="Variable holding the Twilio Account SID (AC...); it is part of the API path."
    )
    auth_token_env: str | None = Field(
        default=None, description="Variable holding the account's Auth Token (or use an API key instead)."
    )
    api_key_sid_env: str | None = Field(
        default=None, description="Variable holding an API key SID (SK...), used with api_key_secret_env."
    )
    api_key_secret_env: str | None = Field(default=None, description="Variable holding that API key's secret.")
    from_number: str | None = Field(
        default=None,
        description="Sender: a Twilio number in E.164 form, a short code or an alphanumeric sender ID.",
    )
    messaging_service_sid: str | None = Field(
        default=None, description="Send through this Messaging Service (MG...) instead of from_number."
    )
    to: list[str] = Field(
        default_factory=list,
        description="Recipients, E.164 numbers such as +14155550199; a routing receiver's to.sms replaces them.",
    )
    min_severity: Severity = Field(
        default=Severity.high, description="Send only notifications of this severity or worse; the rest are dropped."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Twilio REST API base URL; messages go to <api_url>/2010-04-01/..."
    )

    @field_validator("to")
    @classmethod
    def _e164_recipients(cls, value: list[str]) -> list[str]:
        for number in value:
            if not _E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number such as +14155550199 (plus sign, digits only)")
        duplicates = sorted({number for number in value if value.count(number) > 1})
        if duplicates:
            raise ValueError(f"{', '.join(duplicates)} listed more than once")
        return value

    @field_validator("from_number")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and not (_E164.match(value) or _SHORT_CODE.match(value) or _SENDER_ID.match(value)):
            raise ValueError(f"{value!r} is not an E.164 number, a short code or an alphanumeric sender ID")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE_SID.match(value):
            raise ValueError("must be a Messaging Service SID: MG followed by 32 hex digits")
        return value

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> SmsConfig:
        if not self.enabled:
            return self
        if not self.account_sid_env:
            raise ValueError("account_sid_env is required when the channel is enabled")
        api_key = (self.api_key_sid_env is not None, self.api_key_secret_env is not None)
        if api_key in ((True, False), (False, True)):
            raise ValueError("api_key_sid_env and api_key_secret_env go together")
        if (self.auth_token_env is not None) == all(api_key):
            raise ValueError("exactly one of auth_token_env and api_key_sid_env/api_key_secret_env is required")
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("exactly one of from_number and messaging_service_sid is required")
        return self


def build_body(notification: Notification) -> str:
    """The text of the message: headline and incident link, one line each, at most `BODY_MAX` characters."""
    n = notification
    # SMS has no layout to keep; every character counts.
    headline = " ".join(n.headline().split())
    if web_url(n.incident_url) and len(n.incident_url or "") <= _URL_MAX:
        tail = n.incident_url or ""
    else:
        tail = " ".join(f"{n.instance} #{n.incident_id}".split())[:_URL_MAX]
    room = BODY_MAX - len(tail) - 1
    if len(headline) > room:
        headline = headline[: room - 3].rstrip() + "..."
    return f"{headline}\n{tail}"


def build_form(config: SmsConfig, recipient: str, body: str) -> dict[str, str]:
    """The form fields of one Create Message request."""
    form = {"To": recipient}
    if config.messaging_service_sid:
        form["MessagingServiceSid"] = config.messaging_service_sid
    else:
        form["From"] = config.from_number or ""
    form["Body"] = body
    return form


def error_detail(response: httpx.Response) -> tuple[str, int | None]:
    """Twilio's error as text (`Twilio error <code>: <message> (<more_info>)`) and its code, if it sent one."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code") if isinstance(body.get("code"), int) else None
        detail = f"Twilio error {code}: {body['message']}" if code is not None else body["message"]
        if isinstance(body.get("more_info"), str):
            detail += f" ({body['more_info']})"
        return detail[:_DETAIL_MAX], code
    return response.text.strip()[:_DETAIL_MAX] or "(empty body)", None


class SmsChannel(Channel):
    """Texts each recipient the headline and incident link through Twilio."""

    name = "sms"
    config_model = SmsConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, SmsConfig):
            raise TypeError(f"sms channel needs an SmsConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.sms_config = config
        self.client = httpx.Client(
            timeout=config.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": f"liberation-guardian/{__version__}", "Accept": "application/json"},
        )
        self.reached = Reached()

    def send(self, notification: Notification) -> None:
        """Text every recipient not reached yet; raise `DeliveryFailed` unless all (or some, for good) were."""
        config = self.sms_config
        if notification.severity.rank < config.min_severity.rank:
            log.info(
                "sms not sent: severity below min_severity",
                extra={
                    "channel": self.name,
                    "incident_id": notification.incident_id,
                    "severity": notification.severity.value,
                    "min_severity": config.min_severity.value,
                },
            )
            return
        numbers = notification.recipients or config.to
        if not numbers:
            raise DeliveryFailed(
                "sms: no recipients: set integrations.notifications.sms.to, or to.sms on the routing receiver",
                retryable=False,
            )
        url = self._messages_url()
        auth = self._auth()
        body = build_body(notification)

        def send_one(target: Target) -> None:
            # A receiver's numbers come from the routing section, which does not know what this channel accepts.
            if not _E164.match(target.key):
                raise DeliveryFailed("not an E.164 number such as +14155550199", retryable=False)
            self._post(url, auth, build_form(config, target.key, body))

        targets = [Target(key=number, label=number) for number in numbers]
        fan_out(self.name, notification.idempotency_key, targets, send_one, self.reached)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _messages_url(self) -> str:
        account_sid = self.secrets.get("account_sid", "")
        if not _ACCOUNT_SID.match(account_sid):
            raise DeliveryFailed(
                f"sms: variable {self.sms_config.account_sid_env} (account_sid_env) is empty, unset "
                "or not an Account SID (AC followed by 32 hex digits)",
                retryable=False,
            )
        url = f"{self.sms_config.api_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        # httpx logs every request URL at INFO; this one carries the Account SID.
        _SECRET_URLS.urls.add(str(httpx.URL(url)))
        return url

    def _auth(self) -> tuple[str, str]:
        config = self.sms_config
        if config.auth_token_env:
            named = (("account_sid", "account_sid_env"), ("auth_token", "auth_token_env"))
        else:
            named = (("api_key_sid", "api_key_sid_env"), ("api_key_secret", "api_key_secret_env"))
        values = []
        for secret, key in named:
            value = self.secrets.get(secret)
            if not value:
                raise DeliveryFailed(f"sms: variable {getattr(config, key)} ({key}) is empty or unset", retryable=False)
            values.append(value)
        return values[0], values[1]

    def _post(self, url: str, auth: tuple[str, str], form: dict[str, str]) -> None:
        """One Create Message request; `DeliveryFailed` (reason without the channel prefix) unless 2xx."""
        shown = f"POST {self.sms_config.api_url}/2010-04-01/Accounts/…/Messages.json"
        try:
            response = self.client.post(url, data=form, auth=auth)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise self._failed(f"{shown} refused locally: {exc}", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise self._failed(f"{shown} timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise self._failed(f"{shown} failed: {type(exc).__name__}: {exc}", retryable=True) from None
        if response.is_success:
            return
        detail, code = error_detail(response)
        retryable = status_retryable(response.status_code) or code in _RETRYABLE_CODES
        raise self._failed(
            f"{shown} answered {response.status_code} {response.reason_phrase}: {detail}",
            retryable=retryable,
            retry_after=retry_after_seconds(response) if retryable else None,
        )

    def _failed(self, text: str, *, retryable: bool, retry_after: float | None = None) -> DeliveryFailed:
        # An error page may echo the request path (the Account SID) or a credential.
        return DeliveryFailed(scrub(text, self.secrets.values()), retryable=retryable, retry_after=retry_after)
