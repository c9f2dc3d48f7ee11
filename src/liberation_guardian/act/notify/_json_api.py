"""What the channels that call a vendor's JSON API share: one client, one failure classification.

`JsonApi` wraps one `httpx.Client` per channel instance (no redirects followed, the
channel's timeout) and turns every way a request can go wrong into `DeliveryFailed`:
connection errors and timeouts are retryable, answers are classified by
`status_retryable`, a `Retry-After` header becomes `retry_after`, and the vendor's error
message (the `message` and `errors` fields PagerDuty and Opsgenie both answer with) is
quoted in the reason with every secret scrubbed out.

Also here: the stable per-incident key two-way channels use to address the same alert
on trigger, acknowledge and resolve, and the clipping helpers for vendor field limits.
It is not a general HTTP client: bodies are JSON and only 2xx means delivered.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from liberation_guardian import __version__
from liberation_guardian.act.alert_keys import alert_key
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.webhook import retry_after_seconds, scrub, status_retryable
from liberation_guardian.errors import DeliveryFailed

_REASON_DETAIL = 300


def check_base_url(value: str) -> str:
    """Validate an API base URL (http(s), a host, no credentials, query or fragment); drop a trailing `/`."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; keys go in the *_env setting")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


def incident_key(notification: Notification) -> str:
    """The alert key for one incident, e.g. `liberation-guardian-incident-42`: the same for every transition.

    The instance name is part of it so two installations sending to one vendor service
    never address each other's alerts.
    """
    return alert_key(notification.instance, notification.incident_id)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_escaped(text: str, limit: int) -> str:
    """`text` HTML-escaped and cut to at most `limit` characters without splitting an entity like `&amp;`."""
    escaped = html.escape(text, quote=False)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    room = limit - 1  # for the ellipsis
    for char in text:
        piece = html.escape(char, quote=False)
        if len(piece) > room:
            break
        pieces.append(piece)
        room -= len(piece)
    return "".join(pieces) + "…"


def web_url(url: str | None) -> bool:
    """Whether `url` is an http(s) URL, the only kind a channel hands on as a link."""
    if not url:
        return False
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:
        return False


def error_detail(response: httpx.Response) -> str:
    """What the vendor said went wrong: `message` plus `errors` of a JSON answer, else the start of the body."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        detail = body["message"]
        errors = body.get("errors")
        if isinstance(errors, dict):
            errors = [f"{key}: {value}" for key, value in errors.items()]
        if isinstance(errors, list) and errors:
            detail += " (" + "; ".join(str(error) for error in errors) + ")"
        return clip(detail, _REASON_DETAIL)
    return clip(response.text.strip(), _REASON_DETAIL) or "(empty body)"


class JsonApi:
    """One vendor API: sends JSON requests and raises `DeliveryFailed` for anything but a 2xx answer.

    Usage::

        api = JsonApi("pagerduty", "https://events.pagerduty.com", timeout=10.0, secrets=[routing_key])
        api.request("POST", "/v2/enqueue", {"routing_key": routing_key, ...})
    """

    def __init__(
        self,
        channel: str,
        base_url: str,
        *,
        timeout: float,
        secrets: Iterable[str] = (),
    ) -> None:
        self.channel = channel
        self.base_url = base_url.rstrip("/")
        self.secrets = [secret for secret in secrets if secret]
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"liberation-guardian/{__version__}", "Accept": "application/json"},
        )

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send `body` as JSON to `base_url + path`; return the 2xx answer or raise `DeliveryFailed`."""
        url = self.base_url + path
        shown = f"{method} {url}"
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = self.client.request(
                method,
                url,
                content=content,
                params=params,
                headers={**(headers or {}), "Content-Type": "application/json"},
            )
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise self.failed(f"{shown} refused locally: {exc}", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise self.failed(f"{shown} timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise self.failed(f"{shown} failed: {type(exc).__name__}: {exc}", retryable=True) from None
        if response.is_success:
            return response
        retryable = status_retryable(response.status_code)
        raise self.failed(
            f"{shown} answered {response.status_code} {response.reason_phrase}: {error_detail(response)}",
            retryable=retryable,
            retry_after=retry_after_seconds(response) if retryable else None,
        )

    def failed(self, text: str, *, retryable: bool, retry_after: float | None = None) -> DeliveryFailed:
        """A `DeliveryFailed` whose reason names the channel and carries no secret."""
        return DeliveryFailed(
            f"{self.channel}: {scrub(text, self.secrets)}", retryable=retryable, retry_after=retry_after
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
