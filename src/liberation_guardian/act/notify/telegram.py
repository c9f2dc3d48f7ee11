"""The `telegram` channel: one message per notification through the Telegram Bot API `sendMessage`.

`POST {api_url}/bot<token>/sendMessage` with JSON `{chat_id, message_thread_id?, text,
parse_mode: "HTML", link_preview_options: {"is_disabled": true}, disable_notification}`.
The token (from `bot_token_env`) sits in the URL path, so that URL is redacted from
httpx's log line and every piece of it is scrubbed from reasons; a reason shows
`{api_url}/bot…/sendMessage`.

The text is built here as HTML: every piece of event content is HTML-escaped and the
only tags are the `<b>` and `<a href>` this module writes, so an alert cannot forge a
link or break the markup (which would make Telegram refuse the whole message). It is cut
to Telegram's 4096 characters, counted as Telegram counts them (UTF-16 code units after
the markup is parsed), without cutting a link. Info and low severities are sent silently
(`disable_notification`).

Failures: Telegram answers `{"ok": true, "result": {...}}`, and errors as
`{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}` with the
same HTTP status. 429 (`parameters.retry_after` seconds, or `Retry-After`), 5xx,
connection errors and timeouts are retryable; 400, 401 (token revoked), 403 (bot removed
from the chat) and other 4xx are not, with Telegram's description in the reason (and the
new chat id when a group became a supergroup).
Format: https://core.telegram.org/bots/api#sendmessage
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, field_validator, model_validator

from liberation_guardian.act.notify._chat import (
    body_snippet,
    failed,
    json_body,
    new_client,
    post_json,
    rejected,
)
from liberation_guardian.act.notify._json_api import check_base_url, web_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import retry_after_seconds
from liberation_guardian.events import Severity

DEFAULT_API_URL = "https://api.telegram.org"

_TEXT_MAX = 4096
# Caps (in UTF-16 code units) on the free-text pieces, so long ones cannot push the links and the
# footer out of the message.
_HEADLINE_MAX = 300
_NOTE_MAX = 500
_FREE_TEXT_MAX = 1000
_SILENT = frozenset({Severity.info, Severity.low})
_NO_DECISION = frozenset({"resolved", "acknowledged"})
_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_CHANNEL_USERNAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")
_CHAT_NUMBER = re.compile(r"-?[0-9]+")


class TelegramConfig(ChannelConfig):
    """Keys of `integrations.notifications.telegram`.

    Usage::

        telegram:
          bot_token_env: TELEGRAM_BOT_TOKEN
          chat_id: -1001234567890      # or "@ops_alerts" for a public channel
          message_thread_id: 42        # optional: a topic of a forum supergroup
    """

    bot_token_env: str | None = Field(
        default=None, description="Variable holding the bot token from @BotFather (123456:ABC-...)."
    )
    chat_id: int | str | None = Field(
        default=None,
        description="Chat to post to: a numeric id (groups are negative, e.g. -1001234567890) or @channelusername.",
    )
    message_thread_id: int | None = Field(
        default=None, gt=0, description="Topic of a forum supergroup to post in; the General topic when unset."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Bot API base URL; a self-hosted Bot API server goes here."
    )

    @field_validator("chat_id")
    @classmethod
    def _valid_chat(cls, value: int | str | None) -> int | str | None:
        if value is None or isinstance(value, int):
            return value
        value = value.strip()
        if _CHAT_NUMBER.fullmatch(value):
            return int(value)
        if not _CHANNEL_USERNAME.fullmatch(value):
            raise ValueError("must be a numeric chat id or @channelusername (5 to 32 letters, digits or _)")
        return value

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _required_when_enabled(self) -> TelegramConfig:
        if self.enabled:
            missing = [key for key in ("bot_token_env", "chat_id") if getattr(self, key) in (None, "")]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required when enabled"
                )
        return self


@dataclass(frozen=True)
class _Part:
    """A piece of the message: plain text, shown bold or as a link to `href` when set."""

    text: str
    bold: bool = False
    href: str | None = None

    def markup(self, text: str) -> str:
        """`text` (this part's text, or a cut of it) escaped and styled as this part is."""
        escaped = html.escape(text, quote=False)
        if self.href:
            return f'<a href="{html.escape(self.href, quote=True)}">{escaped}</a>'
        return f"<b>{escaped}</b>" if self.bold else escaped


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` within `units` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += _units(char)
        if used > units:
            return text[:index]
    return text


def _capped(text: str, units: int) -> str:
    """`text` cut to `units` UTF-16 code units, ending in `…` when cut."""
    return text if _units(text) <= units else _cut(text, units - 1) + "…"


def render(parts: list[_Part], limit: int = _TEXT_MAX) -> str:
    """The HTML text of `parts`, its visible text cut to `limit` and ending in `…` when cut.

    A text part is cut mid-way; a link that does not fit whole is left out, since a cut
    title would misname its target.
    """
    if sum(_units(part.text) for part in parts) <= limit:
        return "".join(part.markup(part.text) for part in parts)
    out: list[str] = []
    left = limit - 1  # room kept for the `…`
    for part in parts:
        size = _units(part.text)
        if size > left:
            out.append(part.markup(_cut(part.text, left) + "…") if left and not part.href else "…")
            break
        out.append(part.markup(part.text))
        left -= size
    return "".join(out)


def build_parts(notification: Notification) -> list[_Part]:
    """The message for `notification` as parts, most important first (the cut happens at the end)."""
    n = notification
    parts = [_Part(_capped(n.headline(), _HEADLINE_MAX), bold=True)]
    if n.note:
        parts.append(_Part("\n" + _capped(n.note, _NOTE_MAX)))
    if n.incidents:
        parts.append(_Part("\n"))
    for item in n.incidents:
        state = "resolved" if item.transition == "resolved" else item.severity.value
        ref = f"#{item.incident_id}"
        parts.append(_Part("\n"))
        parts.append(_Part(ref, href=item.incident_url) if web_url(item.incident_url) else _Part(ref))
        parts.append(_Part(f" [{state}] {item.title}"))
    if n.summary and n.summary != n.title:
        parts.append(_Part("\n\n" + _capped(n.summary, _FREE_TEXT_MAX)))
    facts = [f"source {n.source}"]
    if n.service:
        facts.append(f"service {n.service}")
    if n.environment:
        facts.append(f"environment {n.environment}")
    facts.append(f"{n.occurrences} occurrence{'s' if n.occurrences != 1 else ''}")
    parts += [_Part("\n\n"), _Part("Severity: ", bold=True), _Part(n.severity.value + ", " + ", ".join(facts))]
    if n.transition not in _NO_DECISION:
        parts += [_Part("\n"), _Part("Decision: ", bold=True), _Part(f"{n.action} ({n.category or 'unknown'})")]
        if n.rationale:
            parts += [_Part("\n"), _Part("Why: ", bold=True), _Part(_capped(n.rationale, _FREE_TEXT_MAX))]
    links = [(link.title, link.url) for link in n.links]
    if n.incident_url:
        links.insert(0, (f"Incident #{n.incident_id}", n.incident_url))
    if links:
        parts.append(_Part("\n"))
    for index, (title, url) in enumerate(links):
        parts.append(_Part("\n" if index == 0 else " · "))
        # Only http(s) becomes a link; anything else is shown as text Telegram will not open.
        parts.append(_Part(title, href=url) if web_url(url) else _Part(f"{title}: {url}"))
    parts.append(_Part(f"\n\n{n.instance} · incident #{n.incident_id} · {n.transition}"))
    return parts


def build_request(notification: Notification, config: TelegramConfig) -> dict[str, Any]:
    """The JSON body of `sendMessage` for one notification."""
    body: dict[str, Any] = {"chat_id": config.chat_id}
    if config.message_thread_id is not None:
        body["message_thread_id"] = config.message_thread_id
    body["text"] = render(build_parts(notification))
    body["parse_mode"] = "HTML"
    # Previews of monitoring links are noise in an alert chat.
    body["link_preview_options"] = {"is_disabled": True}
    body["disable_notification"] = notification.severity in _SILENT
    return body


def error_detail(response: httpx.Response) -> str:
    """Telegram's `description`, plus the new chat id when a group was upgraded to a supergroup."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("description"), str):
        return body_snippet(response)
    detail: str = body["description"]
    parameters = body.get("parameters")
    if isinstance(parameters, dict) and "migrate_to_chat_id" in parameters:
        detail += f" (set chat_id to {parameters['migrate_to_chat_id']})"
    return detail


def wait_seconds(response: httpx.Response) -> float | None:
    """How long a 429 asks to wait: `parameters.retry_after`, else the `Retry-After` header."""
    body = json_body(response)
    parameters = body.get("parameters") if isinstance(body, dict) else None
    if isinstance(parameters, dict):
        value = parameters.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return retry_after_seconds(response)


class TelegramChannel(Channel):
    """Sends each notification to a Telegram chat, channel or forum topic as a bot message."""

    name = "telegram"
    config_model = TelegramConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, TelegramConfig):
            raise TypeError(f"telegram channel needs a TelegramConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.telegram_config = config
        self.client = new_client(config.timeout_seconds)

    def send(self, notification: Notification) -> None:
        """Call `sendMessage`; raise `DeliveryFailed` unless Telegram answers 2xx and not `"ok": false`."""
        token = self.secrets.get("bot_token", "")
        if not _BOT_TOKEN.fullmatch(token):
            raise failed(
                self.name,
                f"variable {self.telegram_config.bot_token_env} (bot_token_env) is empty, unset "
                "or not a bot token (<digits>:<letters, digits, - and _>)",
                (),
                retryable=False,
            )
        # The part after the colon is the credential; a server may echo it without the bot id.
        secrets = [*self.secrets.values(), token.partition(":")[2]]
        base = self.telegram_config.api_url
        url = httpx.URL(f"{base}/bot{token}/sendMessage")
        shown = f"POST {base}/bot…/sendMessage"
        body = build_request(notification, self.telegram_config)
        response = post_json(self.client, url, body, channel=self.name, shown=shown, secrets=secrets)
        if not response.is_success:
            raise rejected(
                self.name, shown, response, error_detail(response), secrets, retry_after=wait_seconds(response)
            )
        answer = json_body(response)
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise failed(self.name, f"{shown} answered ok: false: {error_detail(response)}", secrets, retryable=False)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
