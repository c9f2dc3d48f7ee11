"""The `discord` channel: one embed per notification through a Discord execute-webhook URL.

`POST https://discord.com/api/webhooks/{id}/{token}?wait=true` (the whole URL is the
secret, read from `webhook_url_env`) with `content` (the headline, shown in push
notifications), one embed (title, summary and rationale as description, a field per
fact, the incident page as the title link, a footer naming instance, incident and
transition, the time of sending) coloured by severity, and `allowed_mentions:
{"parse": []}` so nothing in an alert can ping `@everyone`, a role or a user. Event
content is untrusted and also Markdown-escaped, so it cannot pose as a link either.

Colours: critical red, high orange, medium yellow, low blue, info grey; a resolution is
green whatever its severity.

Failures: 200 (with `wait=true` Discord answers the created message) and 204 are
delivered; 429 (`{"retry_after": <seconds, float>, "global": ...}` and a `Retry-After`
header) is retryable after that wait; 5xx, connection errors and timeouts are
retryable; a 400 (`{"code": 50035, "message": "Invalid Form Body", "errors": {...}}`),
401 `Invalid Webhook Token`, 404 `Unknown Webhook` and other 4xx are not, with Discord's
message, code and the offending field in the reason.
Format: https://discord.com/developers/docs/resources/webhook#execute-webhook
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, field_validator, model_validator

from liberation_guardian.act.notify._chat import (
    body_snippet,
    clip,
    escape_markdown,
    json_body,
    new_client,
    post_json,
    rejected,
    secret_webhook_url,
    webhook_secrets,
)
from liberation_guardian.act.notify._json_api import web_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, GroupedIncident, Notification
from liberation_guardian.act.notify.webhook import redact_url, retry_after_seconds
from liberation_guardian.events import Severity

# Discord's documented limits; a message over any of them is refused whole with a 400.
_CONTENT_MAX = 2000
_TITLE_MAX = 256
_DESCRIPTION_MAX = 4096
_FIELDS_MAX = 25
_FIELD_NAME_MAX = 256
_FIELD_VALUE_MAX = 1024
_FOOTER_MAX = 2048
_EMBED_TOTAL_MAX = 6000
_USERNAME_MAX = 80

COLOURS = {
    Severity.critical: 0xD7263D,
    Severity.high: 0xF46036,
    Severity.medium: 0xF4C430,
    Severity.low: 0x2E86DE,
    Severity.info: 0x95A5A6,
}
RESOLVED_COLOUR = 0x2EB67D

_GAP = "\n\n"
_SEPARATOR = " · "
_WHY = "**Why:** "
# Transitions after which the decision is history, not news.
_NO_DECISION = frozenset({"resolved", "acknowledged"})


class DiscordConfig(ChannelConfig):
    """Keys of `integrations.notifications.discord`.

    Usage::

        discord:
          webhook_url_env: DISCORD_WEBHOOK_URL
          username: Liberation Guardian
    """

    webhook_url_env: str | None = Field(
        default=None,
        description="Variable holding the webhook URL https://discord.com/api/webhooks/<id>/<token> (the secret).",
    )
    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=_USERNAME_MAX,
        description="Sender name shown instead of the webhook's own name.",
    )
    avatar_url: str | None = Field(default=None, description="Image URL shown as the sender's avatar.")

    @field_validator("username")
    @classmethod
    def _allowed_username(cls, value: str | None) -> str | None:
        # Discord refuses the whole message when the override names Discord itself.
        if value is not None and any(word in value.lower() for word in ("discord", "clyde")):
            raise ValueError("Discord refuses usernames containing 'discord' or 'clyde'")
        return value

    @field_validator("avatar_url")
    @classmethod
    def _http_avatar(cls, value: str | None) -> str | None:
        if value is not None and not web_url(value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _url_env_when_enabled(self) -> DiscordConfig:
        if self.enabled and not self.webhook_url_env:
            raise ValueError("webhook_url_env is required when the channel is enabled")
        return self


def _link(url: str, title: str) -> str:
    """A Markdown link for http(s) URLs; anything else is shown as escaped text, never made clickable."""
    if not web_url(url):
        return f"{escape_markdown(title)}: {escape_markdown(url)}"
    # These characters would end the link target early or break out of it.
    safe_url = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
    return f"[{escape_markdown(title)}]({safe_url})"


def build_embed(notification: Notification, sent_at: datetime) -> dict[str, Any]:
    """The one embed of the message for `notification`, sent at `sent_at`."""
    n = notification
    facts = [("Severity", n.severity.value)]
    if n.transition not in _NO_DECISION:
        facts.append(("Decision", f"{n.action} ({n.category or 'unknown'})"))
    facts.append(("Source", n.source))
    if n.service:
        facts.append(("Service", n.service))
    if n.environment:
        facts.append(("Environment", n.environment))
    facts.append(("Occurrences", str(n.occurrences)))
    fields: list[dict[str, Any]] = [
        {"name": name, "value": escape_markdown(value, _FIELD_VALUE_MAX), "inline": True}
        for name, value in facts[:_FIELDS_MAX]
    ]
    embed: dict[str, Any] = {
        "title": escape_markdown(n.title, _TITLE_MAX),
        "color": RESOLVED_COLOUR if n.transition == "resolved" else COLOURS[n.severity],
        "fields": fields,
        "footer": {"text": clip(f"{n.instance} · incident #{n.incident_id} · {n.transition}", _FOOTER_MAX)},
        "timestamp": sent_at.isoformat(timespec="seconds"),
    }
    if web_url(n.incident_url):
        embed["url"] = n.incident_url
    used = len(embed["title"]) + len(embed["footer"]["text"]) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    description = _description(n, min(_DESCRIPTION_MAX, _EMBED_TOTAL_MAX - used))
    if description:
        embed["description"] = description
    return embed


def _description(n: Notification, limit: int) -> str:
    """Note, grouped incidents, summary, rationale and links within `limit` characters.

    Links get their room first (at most half) and only whole ones are kept, because a cut
    link is a broken link; the free text then fills what is left, in order.
    """
    links = [_link(link.url, link.title) for link in n.links]
    if n.incident_url and web_url(n.incident_url):
        links.insert(0, _link(n.incident_url, f"Incident #{n.incident_id}"))
    while links and len(_SEPARATOR.join(links)) > limit // 2:
        links.pop()
    links_line = _SEPARATOR.join(links)
    room = limit - (len(links_line) + len(_GAP) if links_line else 0)
    pieces: list[tuple[str, str, str]] = []  # (separator before it, our own markup, untrusted text)
    if n.note:
        pieces.append((_GAP, "", n.note))
    pieces += [(_GAP if i == 0 else "\n", _grouped_prefix(item), item.title) for i, item in enumerate(n.incidents)]
    if n.summary and n.summary != n.title:
        pieces.append((_GAP, "", n.summary))
    if n.rationale and n.transition not in _NO_DECISION:
        pieces.append((_GAP, _WHY, n.rationale))
    text = ""
    for separator, markup, untrusted in pieces:
        lead = markup if not text else separator + markup
        left = room - len(text) - len(lead)
        if left <= 1:
            break
        text += lead + escape_markdown(untrusted, left)
    return _GAP.join(part for part in (text, links_line) if part)


def _grouped_prefix(item: GroupedIncident) -> str:
    """`#12 · critical · ` for one incident of a grouped message, the id linking to its page."""
    state = "resolved" if item.transition == "resolved" else item.severity.value
    ref = f"#{item.incident_id}"
    if item.incident_url and web_url(item.incident_url):
        ref = _link(item.incident_url, ref)
    return f"{ref} · {state} · "


def build_message(notification: Notification, config: DiscordConfig, sent_at: datetime) -> dict[str, Any]:
    """The JSON document POSTed to the webhook."""
    message: dict[str, Any] = {
        "content": escape_markdown(notification.headline(), _CONTENT_MAX),
        "embeds": [build_embed(notification, sent_at)],
        # Nothing in an alert may mention anyone: not @everyone, not a role, not a user.
        "allowed_mentions": {"parse": []},
    }
    if config.username:
        message["username"] = config.username
    if config.avatar_url:
        message["avatar_url"] = config.avatar_url
    return message


def error_detail(response: httpx.Response) -> str:
    """Discord's `message` and `code`, and the first field it objects to, e.g. `Invalid Form Body (code 50035; ...)`."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return body_snippet(response)
    detail = body["message"]
    notes = [f"code {body['code']}"] if "code" in body else []
    problem = _first_field_error(body.get("errors"), "")
    if problem:
        notes.append(problem)
    return f"{detail} ({'; '.join(notes)})" if notes else detail


def _first_field_error(errors: Any, path: str) -> str | None:
    """`embeds.0.title: Must be 256 or fewer in length.` from Discord's nested `errors` object."""
    if not isinstance(errors, dict):
        return None
    found = errors.get("_errors")
    if isinstance(found, list) and found and isinstance(found[0], dict):
        return f"{path or 'body'}: {found[0].get('message', found[0].get('code', '?'))}"
    for key, value in errors.items():
        problem = _first_field_error(value, f"{path}.{key}" if path else str(key))
        if problem:
            return problem
    return None


def wait_seconds(response: httpx.Response) -> float | None:
    """How long a 429 asks to wait: the body's `retry_after` (fractional seconds), else the `Retry-After` header."""
    body = json_body(response)
    if isinstance(body, dict):
        value = body.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return retry_after_seconds(response)


class DiscordChannel(Channel):
    """Posts each notification to a Discord channel through its webhook, as one embed that mentions nobody."""

    name = "discord"
    config_model = DiscordConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, DiscordConfig):
            raise TypeError(f"discord channel needs a DiscordConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.discord_config = config
        self.client = new_client(config.timeout_seconds)

    def send(self, notification: Notification) -> None:
        """Execute the webhook; raise `DeliveryFailed` unless Discord answers 2xx."""
        url = self._url()
        shown = f"POST {redact_url(str(url))}"
        secrets = webhook_secrets(self.secrets)
        message = build_message(notification, self.discord_config, datetime.now(UTC))
        response = post_json(self.client, url, message, channel=self.name, shown=shown, secrets=secrets)
        if response.is_success:
            return
        raise rejected(self.name, shown, response, error_detail(response), secrets, retry_after=wait_seconds(response))

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _url(self) -> httpx.URL:
        """The webhook URL with `wait=true`, so Discord confirms the message was created instead of queued."""
        url = secret_webhook_url(self.name, self.secrets, self.discord_config.webhook_url_env)
        return url.copy_merge_params({"wait": "true"})
