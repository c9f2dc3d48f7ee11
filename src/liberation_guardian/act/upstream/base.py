"""What every upstream action provides: when it is wanted, the tool's id of an incident, and `send`.

An upstream action tells the tool an incident came from what Liberation Guardian did about
it (Sentry: set the issue's status; PagerDuty: acknowledge the incident). It is a
`Channel`, so the delivery stage drives it like any notification channel: the message is a
row in the durable outbox, retried with backoff, and announced on the fallback channel
when it is given up. Unlike a notification channel it is not configured under
`integrations.notifications`: it is built from its source's config and secrets, and it is
named `upstream-<source>`.

`send` raises `DeliveryFailed` the way the HTTP channels do: 2xx is done; 408, 425, 429,
5xx, timeouts and connection errors are worth another attempt (with the tool's
`Retry-After`); any other answer is not. The API token never appears in a reason.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from liberation_guardian import __version__
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import retry_after_seconds, scrub, status_retryable
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.sources.base import SourceConfig

_DETAIL_MAX = 300


class UpstreamAction(Channel):
    """Tells one source tool about an incident it reported; subclasses say how and when.

    Usage::

        action = SentryIssueStatus(sentry_config, {"api_token": token})
        action.send(notification)  # notification.upstream == {"issue_id": "1170820242"}
    """

    source: ClassVar[str]

    def __init__(self, source_config: SourceConfig, secrets: Mapping[str, str]) -> None:
        # Timeout and rate limit are the channel defaults: the source's config has no such keys.
        super().__init__(ChannelConfig(), secrets)
        self.source_config = source_config
        self.client = httpx.Client(
            timeout=self.config.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": f"liberation-guardian/{__version__}"},
        )

    @classmethod
    @abstractmethod
    def wanted(cls, config: SourceConfig) -> bool:
        """Whether this source's configuration asks for the tool to be told."""

    @classmethod
    @abstractmethod
    def reference(cls, extra: Mapping[str, Any]) -> dict[str, str]:
        """The tool's ids of the incident, read from one of its events' `extra`; empty when it names none."""

    @classmethod
    @abstractmethod
    def knows(cls, extra: Mapping[str, Any]) -> bool:
        """Whether this event of the tool (its latest about the incident) says it is acknowledged there already."""

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Tell the tool; raise `DeliveryFailed` saying whether a retry may help."""

    def token(self, setting: str | None) -> str:
        """The API token, or a non-retryable `DeliveryFailed` naming the variable when it is unset."""
        token = self.secrets.get("api_token")
        if not token:
            raise DeliveryFailed(f"{self.name}: variable {setting} (api_token_env) is empty or unset", retryable=False)
        return token

    def upstream_id(self, notification: Notification, key: str, valid: re.Pattern[str]) -> str:
        """`notification.upstream[key]` when `valid` matches all of it; else a failure no retry can mend."""
        value = notification.upstream.get(key, "")
        if not valid.fullmatch(value):
            raise DeliveryFailed(
                f"{self.name}: the message carries no usable {key} (got {value[:40]!r})", retryable=False
            )
        return value

    def put(self, url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> httpx.Response:
        """PUT `body` as JSON to `url`; return the 2xx answer or raise a scrubbed `DeliveryFailed`."""
        shown = f"PUT {url}"
        content = json.dumps(body, separators=(",", ":")).encode()
        try:
            response = self.client.put(url, content=content, headers={**headers, "Content-Type": "application/json"})
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise self._failed(f"{shown} refused locally: {exc}", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise self._failed(f"{shown} timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise self._failed(f"{shown} failed: {type(exc).__name__}: {exc}", retryable=True) from None
        if response.is_success:
            return response
        retryable = status_retryable(response.status_code)
        raise self._failed(
            f"{shown} answered {response.status_code} {response.reason_phrase}: {self._detail(response)}",
            retryable=retryable,
            retry_after=retry_after_seconds(response) if retryable else None,
        )

    def error_message(self, body: Any) -> str | None:
        """What the tool's JSON error answer says went wrong; None to quote the start of the body instead."""
        return None

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _detail(self, response: httpx.Response) -> str:
        try:
            message = self.error_message(response.json())
        except (ValueError, UnicodeDecodeError):
            message = None
        text = message or response.text.strip() or "(empty body)"
        return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"

    def _failed(self, text: str, *, retryable: bool, retry_after: float | None = None) -> DeliveryFailed:
        return DeliveryFailed(
            f"{self.name}: {scrub(text, self.secrets.values())}", retryable=retryable, retry_after=retry_after
        )
