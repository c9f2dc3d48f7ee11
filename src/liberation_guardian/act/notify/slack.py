"""The `slack` channel: a Block Kit message through a Slack incoming webhook.

Sent with the official client (`slack_sdk.webhook.WebhookClient`) with its own retry
handlers switched off, because retrying is the delivery stage's job. The message is a
header (the headline), the summary, a field grid (severity, decision, source, service,
environment, occurrences), the rationale, the links as mrkdwn links and a context line
naming the instance and incident; `text` carries the headline as the notification
fallback. Event content is untrusted, so every mrkdwn string is escaped: an alert
title cannot ping `<!channel>` or forge a link.

Failures: 200 `ok` is delivered; 429, 5xx (and 408/425), connection errors and
timeouts are retryable; any other answer is not, with Slack's error code
(`invalid_payload`, `no_service`, `channel_not_found`...) in the reason.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient

from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import redact_url, scrub, status_retryable, url_secrets
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

# Slack's documented Block Kit limits; longer strings make the whole message fail.
_HEADER_MAX = 150
_TEXT_MAX = 3000
_FIELD_MAX = 2000
_BODY_SNIPPET = 200

_SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.high: ":large_orange_circle:",
    Severity.medium: ":large_yellow_circle:",
    Severity.low: ":large_blue_circle:",
    Severity.info: ":white_circle:",
}

# The SDK logs the full webhook URL (whose path is the secret) at DEBUG and repeats
# every error we already raise as DeliveryFailed, so it gets a logger that stays silent.
_SDK_LOGGER = logging.getLogger("liberation_guardian.notify.slack_sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL)


class SlackConfig(ChannelConfig):
    """Keys of `integrations.notifications.slack`.

    Usage::

        slack:
          webhook_url_env: SLACK_WEBHOOK_URL
          channel: "#ops-alerts"
    """

    webhook_url_env: str | None = Field(
        default=None, description="Variable holding the incoming-webhook URL (its path is the secret)."
    )
    channel: str | None = Field(
        default=None, description="Channel override; only legacy webhooks honour it, app webhooks ignore it."
    )
    username: str | None = Field(default=None, description="Sender name override (legacy webhooks only).")

    @model_validator(mode="after")
    def _url_env_when_enabled(self) -> SlackConfig:
        if self.enabled and not self.webhook_url_env:
            raise ValueError("webhook_url_env is required when the channel is enabled")
        return self


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, title: str) -> str:
    """A mrkdwn link for http(s) URLs; anything else is shown as escaped text, never made clickable."""
    if urlsplit(url).scheme not in ("http", "https"):
        return f"{escape(title)}: {escape(url)}"
    safe_url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe_url}|{escape(title.replace('|', '/'))}>"


def _mrkdwn(text: str, limit: int = _TEXT_MAX) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(text, limit)}


def build_blocks(notification: Notification) -> list[dict[str, Any]]:
    """The Block Kit blocks for one notification."""
    n = notification
    resolved = n.transition == "resolved"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(n.headline(), _HEADER_MAX), "emoji": True},
        }
    ]
    if n.summary and n.summary != n.title:
        blocks.append({"type": "section", "text": _mrkdwn(escape(n.summary))})
    emoji = ":white_check_mark:" if resolved else _SEVERITY_EMOJI[n.severity]
    fields = [f"*Severity*\n{emoji} {n.severity.value}"]
    if not resolved:
        fields.append(f"*Decision*\n{escape(n.action)} ({escape(n.category or 'unknown')})")
    fields.append(f"*Source*\n{escape(n.source)}")
    if n.service:
        fields.append(f"*Service*\n{escape(n.service)}")
    if n.environment:
        fields.append(f"*Environment*\n{escape(n.environment)}")
    fields.append(f"*Occurrences*\n{n.occurrences}")
    blocks.append({"type": "section", "fields": [_mrkdwn(f, _FIELD_MAX) for f in fields]})
    if n.rationale and not resolved:
        blocks.append({"type": "section", "text": _mrkdwn(f"*Why*\n{escape(n.rationale)}")})
    links = [_link(link.url, link.title) for link in n.links]
    if n.incident_url:
        links.insert(0, _link(n.incident_url, "Open incident"))
    if links:
        blocks.append({"type": "section", "text": _mrkdwn(" · ".join(links))})
    context = f"{escape(n.instance)} · incident #{n.incident_id} · {escape(n.transition)}"
    blocks.append({"type": "context", "elements": [_mrkdwn(context)]})
    return blocks


def build_payload(notification: Notification, config: SlackConfig) -> dict[str, Any]:
    """The JSON document sent to the incoming webhook."""
    payload: dict[str, Any] = {
        "text": escape(notification.headline()),
        "blocks": build_blocks(notification),
        # Previews of monitoring links are noise in an alert channel.
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if config.channel:
        payload["channel"] = config.channel
    if config.username:
        payload["username"] = config.username
    return payload


class SlackChannel(Channel):
    """Posts each notification to a Slack incoming webhook as a Block Kit message."""

    name = "slack"
    config_model = SlackConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, SlackConfig):
            raise TypeError(f"slack channel needs a SlackConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.slack_config = config

    def send(self, notification: Notification) -> None:
        """Post the message; raise `DeliveryFailed` unless Slack answers 200 `ok`."""
        url = self.secrets.get("webhook_url")
        if not url or urlsplit(url).scheme not in ("http", "https"):
            raise DeliveryFailed(
                f"slack: variable {self.slack_config.webhook_url_env} (webhook_url_env) "
                "is empty, unset or not an http(s) URL",
                retryable=False,
            )
        shown = redact_url(url)
        client = WebhookClient(
            url,
            # urllib takes float seconds; the SDK's annotation says int only.
            timeout=self.slack_config.timeout_seconds,  # type: ignore[arg-type]
            logger=_SDK_LOGGER,
            retry_handlers=[],
        )
        try:
            response = client.send_dict(build_payload(notification, self.slack_config))
        except (SlackRequestError, ValueError) as exc:
            raise DeliveryFailed(self._reason(f"{shown} refused locally: {exc}"), retryable=False) from None
        except (OSError, http.client.HTTPException) as exc:
            # URLError, timeouts, refused and reset connections, TLS failures: all transient or at least
            # not caused by this message.
            raise DeliveryFailed(self._reason(f"{shown} failed: {type(exc).__name__}: {exc}"), retryable=True) from None
        body = (response.body or "").strip()
        if response.status_code == 200 and body == "ok":
            return
        raise DeliveryFailed(
            self._reason(f"{shown} answered {response.status_code}: {body[:_BODY_SNIPPET] or '(empty body)'}"),
            retryable=status_retryable(response.status_code),
        )

    def _reason(self, text: str) -> str:
        # The URL path is the credential, and an error page may echo it.
        url = self.secrets.get("webhook_url")
        return "slack: " + scrub(text, [*self.secrets.values(), *(url_secrets(url) if url else [])])
