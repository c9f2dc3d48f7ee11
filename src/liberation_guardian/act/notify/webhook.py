"""The `webhook` channel: one signed JSON POST per notification to any HTTP endpoint.

The body is the notification itself (`Notification.model_dump(mode="json")`) plus
`"version": "1"` and the plain-text rendering as `"text"`. Every request carries
`Idempotency-Key` so a receiver can drop a repeat; with `secret_env` configured it also
carries `X-Guardian-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

Failures: 2xx is delivered; 408, 425, 429, 5xx, connection errors and timeouts are
retryable; every other answer (other 4xx, 3xx: redirects are not followed) is not.

It also holds the two helpers the HTTP channels share to keep secrets out of reasons
and logs: `redact_url` and `scrub`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from liberation_guardian import __version__
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.errors import DeliveryFailed

SIGNATURE_HEADER = "X-Guardian-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAYLOAD_VERSION = "1"

# Headers the channel sets itself; letting configuration override them would break
# signatures or idempotency, so the config model refuses them.
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "idempotency-key", SIGNATURE_HEADER.lower()})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_BODY_SNIPPET = 200
# Path segments and query values at least this long are treated as possible tokens.
_TOKEN_MIN = 8


def redact_url(url: str) -> str:
    """Return `scheme://host[:port]/…`, dropping credentials, path and query that may hold a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return f"{parts.scheme or '?'}://{netloc}/…"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each non-empty secret in `text` with `…` (defence in depth)."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be a credential, for `scrub`: itself, path, query, password, long pieces."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return [url]
    found = [url, parts.path, parts.query, password or ""]
    found += [segment for segment in parts.path.split("/") if len(segment) >= _TOKEN_MIN]
    found += [value for _, value in parse_qsl(parts.query) if len(value) >= _TOKEN_MIN]
    return [f for f in found if f and f != "/"]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait in seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # `inf` and `nan` parse as floats but are no wait the delivery stage could schedule.
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def status_retryable(status: int) -> bool:
    """Whether an HTTP answer with this status is worth another attempt (408, 425, 429, 5xx)."""
    return status in _RETRYABLE_STATUSES or 500 <= status <= 599


class _RedactSecretUrls(logging.Filter):
    """Rewrites httpx's `HTTP Request: POST <url>` log line for URLs that came from a secret."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls and isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) and str(arg) in self.urls else arg
                for arg in record.args
            )
        return True


# httpx logs every request's full URL at INFO on the "httpx" logger and offers no
# per-client switch; a URL from `url_env` may carry its token in the path, so those
# (and only those) are redacted there.
_SECRET_URLS = _RedactSecretUrls()
logging.getLogger("httpx").addFilter(_SECRET_URLS)


class WebhookConfig(ChannelConfig):
    """Keys of `integrations.notifications.webhook`.

    Usage::

        webhook:
          url_env: GUARDIAN_WEBHOOK_URL
          secret_env: GUARDIAN_WEBHOOK_SECRET
          headers: {X-Team: platform}
    """

    url: str | None = Field(default=None, description="Where to POST; use url_env instead if it holds a token.")
    url_env: str | None = Field(default=None, description="Variable holding the URL to POST to.")
    headers: dict[str, str] = Field(default_factory=dict, description="Static extra headers (not secret).")
    secret_env: str | None = Field(
        default=None, description="Variable holding the key that signs the body (X-Guardian-Signature)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name} is set by the channel itself")
            if any(c in header_value for c in "\r\n\0") or not header_value.isascii():
                raise ValueError(f"value of {name} must be one line of ASCII")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if self.enabled and (self.url is None) == (self.url_env is None):
            raise ValueError("exactly one of url and url_env is required when the channel is enabled")
        return self


def build_body(notification: Notification) -> dict[str, Any]:
    """The JSON document POSTed for one notification."""
    return {"version": PAYLOAD_VERSION, **notification.model_dump(mode="json"), "text": notification.text()}


def sign(secret: str, body: bytes) -> str:
    """The `X-Guardian-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256 keyed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(Channel):
    """POSTs each notification as JSON to a configured URL, optionally HMAC-signed."""

    name = "webhook"
    config_model = WebhookConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, WebhookConfig):
            raise TypeError(f"webhook channel needs a WebhookConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.webhook_config = config
        # One client for the channel's life: building one loads the CA store (tens of milliseconds),
        # and keep-alive saves a TLS handshake per message. Only the channel's own loop uses it.
        self.client = httpx.Client(timeout=config.timeout_seconds, follow_redirects=False)

    def send(self, notification: Notification) -> None:
        """POST the notification; raise `DeliveryFailed` unless the receiver answers 2xx."""
        url = self._url()
        shown = redact_url(url)
        body = json.dumps(build_body(notification), separators=(",", ":"), ensure_ascii=False).encode()
        # httpx.Headers merges case-insensitively: a configured `user-agent` replaces ours, never doubles it.
        headers = httpx.Headers({"User-Agent": f"liberation-guardian/{__version__}"})
        headers.update(self.webhook_config.headers)
        headers["Content-Type"] = "application/json"
        headers[IDEMPOTENCY_HEADER] = notification.idempotency_key
        secret = self.secrets.get("secret")
        if self.webhook_config.secret_env:
            if not secret:
                raise DeliveryFailed(
                    f"webhook: variable {self.webhook_config.secret_env} (secret_env) is empty or unset",
                    retryable=False,
                )
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            response = self.client.post(url, content=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise DeliveryFailed(self._reason(f"POST {shown} refused locally: {exc}"), retryable=False) from None
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                self._reason(f"POST {shown} timed out ({type(exc).__name__})"), retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryFailed(
                self._reason(f"POST {shown} failed: {type(exc).__name__}: {exc}"), retryable=True
            ) from None
        if response.is_success:
            return
        snippet = response.text[:_BODY_SNIPPET].strip()
        reason = f"POST {shown} answered {response.status_code} {response.reason_phrase}"
        retryable = status_retryable(response.status_code)
        raise DeliveryFailed(
            self._reason(f"{reason}: {snippet}" if snippet else reason),
            retryable=retryable,
            retry_after=retry_after_seconds(response) if retryable else None,
        )

    def _url(self) -> str:
        """The URL to POST to, from the config or from the variable `url_env` names."""
        if self.webhook_config.url is not None:
            return self.webhook_config.url
        url = self.secrets.get("url")
        if not url:
            raise DeliveryFailed(
                f"webhook: variable {self.webhook_config.url_env} (url_env) is empty or unset",
                retryable=False,
            )
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https"):
            raise DeliveryFailed(
                f"webhook: variable {self.webhook_config.url_env} (url_env) is not an http(s) URL",
                retryable=False,
            )
        _SECRET_URLS.urls.add(str(parsed))
        return url

    def _reason(self, text: str) -> str:
        # A receiver may echo the request path or signature in its error page.
        url = self.secrets.get("url")
        return "webhook: " + scrub(text, [*self.secrets.values(), *(url_secrets(url) if url else [])])
