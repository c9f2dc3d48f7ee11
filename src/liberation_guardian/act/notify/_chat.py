"""What the chat channels (discord, teams, telegram) share: posting JSON, escaping, clipping.

Each of them POSTs one JSON document to a URL whose path or query holds a credential
(a Discord or Teams webhook URL, a Telegram bot token). `post_json` sends it through the
channel's own `httpx.Client`, turns connection errors and timeouts into retryable
`DeliveryFailed`, registers the URL with the httpx log redaction so the token never
reaches a log line, and leaves the answer to the channel, because each vendor says "no"
in its own shape. `rejected` then builds the failure from the vendor's own words.
(`_json_api.JsonApi` serves APIs with a fixed base URL whose errors share one shape and
whose key travels in a header; here the secret is the URL and every error differs.)

The text helpers escape untrusted event content for the Markdown of Discord and of
Adaptive Cards (both take a backslash before punctuation as a literal) and cut it to a
vendor limit without splitting an escape.

This is not a general HTTP client: bodies are JSON, redirects are never followed, and
nothing here retries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from liberation_guardian import __version__
from liberation_guardian.act.notify._json_api import web_url
from liberation_guardian.act.notify.webhook import _SECRET_URLS, scrub, status_retryable, url_secrets
from liberation_guardian.errors import DeliveryFailed

_DETAIL_MAX = 300

# Punctuation that means something anywhere in a line: emphasis, code, strike-through, spoilers,
# link brackets, `<@id>` mentions and autolinks, Discord's `@everyone`.
_MARKDOWN_ANYWHERE = frozenset("\\`*_~|<[]@")
# Punctuation that only means something at the start of a line: headings, quotes, list bullets,
# numbered lists (`1.`), setext underlines, Discord's `-#` subtext.
_LINE_START = re.compile(r"^[ \t]*(?:([-+=#>])|\d+([.)]))", re.MULTILINE)


def new_client(timeout: float) -> httpx.Client:
    """The one client a chat channel keeps: the channel's timeout, redirects not followed."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": f"liberation-guardian/{__version__}", "Accept": "application/json"},
    )


def post_json(
    client: httpx.Client,
    url: httpx.URL,
    body: Mapping[str, Any],
    *,
    channel: str,
    shown: str,
    secrets: Iterable[str],
) -> httpx.Response:
    """POST `body` as JSON and return whatever the server answered; raise `DeliveryFailed` if nothing came back.

    `shown` is how the request appears in a reason (a redacted URL); `secrets` are scrubbed
    from any reason as a second line of defence.
    """
    # httpx logs every request's URL at INFO; this one carries a token.
    _SECRET_URLS.urls.add(str(url))
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return client.post(url, content=content, headers={"Content-Type": "application/json"})
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
        raise failed(channel, f"{shown} refused locally: {exc}", secrets, retryable=False) from None
    except httpx.TimeoutException as exc:
        raise failed(channel, f"{shown} timed out ({type(exc).__name__})", secrets, retryable=True) from None
    except httpx.TransportError as exc:
        raise failed(channel, f"{shown} failed: {type(exc).__name__}: {exc}", secrets, retryable=True) from None


def rejected(
    channel: str,
    shown: str,
    response: httpx.Response,
    detail: str,
    secrets: Iterable[str],
    *,
    retry_after: float | None = None,
) -> DeliveryFailed:
    """The failure for an answer that is not a delivery: status, the vendor's `detail`, retryable by status."""
    retryable = status_retryable(response.status_code)
    text = f"{shown} answered {response.status_code} {response.reason_phrase}: {clip(detail, _DETAIL_MAX)}"
    return failed(channel, text, secrets, retryable=retryable, retry_after=retry_after if retryable else None)


def failed(
    channel: str, text: str, secrets: Iterable[str], *, retryable: bool, retry_after: float | None = None
) -> DeliveryFailed:
    """A `DeliveryFailed` whose reason names the channel and carries no secret."""
    return DeliveryFailed(f"{channel}: {scrub(text, secrets)}", retryable=retryable, retry_after=retry_after)


def secret_webhook_url(channel: str, secrets: Mapping[str, str], variable: str | None) -> httpx.URL:
    """The webhook URL from `secrets["webhook_url"]`; `DeliveryFailed` naming `variable` when unusable."""
    raw = secrets.get("webhook_url", "")
    problem = f"variable {variable} (webhook_url_env) is empty, unset or not an http(s) URL"
    if not web_url(raw):
        raise failed(channel, problem, (), retryable=False)
    try:
        return httpx.URL(raw)
    except httpx.InvalidURL:
        raise failed(channel, problem, (), retryable=False) from None


def webhook_secrets(secrets: Mapping[str, str]) -> list[str]:
    """Everything a reason must not show: the secrets, and the token-bearing parts of the webhook URL."""
    url = secrets.get("webhook_url")
    return [*secrets.values(), *(url_secrets(url) if url else [])]


def json_body(response: httpx.Response) -> Any:
    """The answer parsed as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def body_snippet(response: httpx.Response) -> str:
    """The start of the answer's text, for a reason when the vendor sent no structured error."""
    return clip(response.text.strip(), _DETAIL_MAX) or "(empty body)"


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_markdown(text: str, limit: int | None = None) -> str:
    """`text` with every Markdown control character backslash-escaped, cut to `limit` without splitting an escape.

    Neither Discord nor Adaptive Cards then sees emphasis, a link, a heading, a list or a
    mention in it: an alert title cannot ping `@everyone` or pose as a link.
    """
    at_line_start = {m.start(g) for m in _LINE_START.finditer(text) for g in (1, 2) if m.start(g) >= 0}
    tokens = ["\\" + c if c in _MARKDOWN_ANYWHERE or i in at_line_start else c for i, c in enumerate(text)]
    return _join_clipped(tokens, limit)


def _join_clipped(tokens: list[str], limit: int | None) -> str:
    if limit is None or sum(map(len, tokens)) <= limit:
        return "".join(tokens)
    out: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) > limit - 1:
            break
        out.append(token)
        used += len(token)
    return "".join(out) + "…"
