"""The `slack` channel: a Block Kit message through an incoming webhook or a bot token.

Two ways in, both through the official client (`slack_sdk`) with its own retry handlers
switched off, because retrying is the delivery stage's job:

- webhook mode (`webhook_url_env`): `WebhookClient` posts to an incoming webhook, whose
  URL path is the credential;
- bot mode (`bot_token_env` + `channel`): `WebClient.chat_postMessage` posts to
  `{api_url}/chat.postMessage` with `Authorization: Bearer <token>`.

The message is a header (the headline), the summary, a field grid (severity, decision,
source, service, environment, occurrences), the rationale, the links as mrkdwn links and
a context line naming the instance and incident; `text` carries the headline as the
notification fallback. Messages about an open incident get an actions block with the
buttons Acknowledge and Resolve, answered by `receive/slack_actions.py`: by default in
bot mode, in webhook mode only with `interactive: true` (a Slack app's webhook can carry
buttons). Event content is untrusted, so every mrkdwn string is escaped: an alert title
cannot ping `<!channel>` or forge a link.

Failures in webhook mode: 200 `ok` is delivered; 429 (its Retry-After passed on), 5xx
(and 408/425), connection errors and timeouts are retryable; any other answer is not,
with Slack's error code (`invalid_payload`, `no_service`, `channel_not_found`...) in the
reason. In bot mode the Web API answers `{"ok": false, "error": ...}`: `ratelimited`
(HTTP 429, with Retry-After) and Slack's transient `internal_error`, `fatal_error`,
`service_unavailable`, `request_timeout` are retryable; `invalid_auth`,
`channel_not_found`, `not_in_channel` and every other error code are not.

The SDK speaks urllib, which follows a redirect from `api_url`; Slack never sends one,
so `api_url` must be Slack or a stand-in you trust with the token.
"""

from __future__ import annotations

import http.client
import logging
import math
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from liberation_guardian.act.notify._json_api import check_base_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import redact_url, scrub, status_retryable, url_secrets
from liberation_guardian.errors import DeliveryFailed
from liberation_guardian.events import Severity

DEFAULT_API_URL = "https://slack.com/api/"
ACKNOWLEDGE_ACTION = "guardian_acknowledge"
RESOLVE_ACTION = "guardian_resolve"
ACTIONS_BLOCK_ID = "guardian_incident_actions"

# Slack's documented Block Kit limits; longer strings make the whole message fail.
_HEADER_MAX = 150
_TEXT_MAX = 3000
_FIELD_MAX = 2000
_BODY_SNIPPET = 200
# Pieces of a bot token at least this long are scrubbed from reasons on their own, too.
_TOKEN_PIECE_MIN = 8

_SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.high: ":large_orange_circle:",
    Severity.medium: ":large_yellow_circle:",
    Severity.low: ":large_blue_circle:",
    Severity.info: ":white_circle:",
}

# Transitions after which the incident is open and a button press can still change it.
_OPEN_TRANSITIONS = frozenset({"opened", "reopened", "severity_raised"})

# Web API error codes Slack documents as "try again later"; every other code fails the same way again.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_ERROR_HINTS = {
    "invalid_auth": "check the bot token in bot_token_env",
    "not_authed": "check the bot token in bot_token_env",
    "token_revoked": "the bot token was revoked; install the app again",
    "account_inactive": "the bot token belongs to a deactivated app or user",
    "channel_not_found": "check `channel`; a private channel needs the app invited first",
    "not_in_channel": "invite the app to the channel with /invite @app",
    "is_archived": "the channel is archived",
}

# The SDK logs the full webhook URL (whose path is the secret) at DEBUG and repeats
# every error we already raise as DeliveryFailed, so it gets a logger that stays silent.
_SDK_LOGGER = logging.getLogger("liberation_guardian.notify.slack_sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL)


class SlackConfig(ChannelConfig):
    """Keys of `integrations.notifications.slack`.

    Usage (webhook mode, then bot mode with buttons)::

        slack:
          webhook_url_env: SLACK_WEBHOOK_URL

        slack:
          bot_token_env: SLACK_BOT_TOKEN
          channel: C0123456789
          signing_secret_env: SLACK_SIGNING_SECRET
    """

    webhook_url_env: str | None = Field(
        default=None, description="Variable holding the incoming-webhook URL (its path is the secret)."
    )
    bot_token_env: str | None = Field(
        default=None,
        description="Variable holding a bot token (xoxb-...); posts with chat.postMessage instead of a webhook.",
    )
    channel: str | None = Field(
        default=None,
        description="Channel id (C0123456789) or name (#ops-alerts): required with bot_token_env; "
        "with a webhook only legacy webhooks honour it.",
    )
    username: str | None = Field(
        default=None,
        description="Sender name override (legacy webhooks; bot mode needs the chat:write.customize scope).",
    )
    api_url: str = Field(default=DEFAULT_API_URL, description="Slack Web API base URL (bot mode).")
    interactive: bool | None = Field(
        default=None,
        description="Add Acknowledge and Resolve buttons to messages about open incidents; "
        "default: on in bot mode, off in webhook mode. Needs signing_secret_env.",
    )
    signing_secret_env: str | None = Field(
        default=None,
        description="Variable holding the Slack app's signing secret; POST /slack/interactions verifies "
        "button presses with it and answers 404 without it.",
    )

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackConfig:
        if not self.enabled:
            return self
        if self.webhook_url_env and self.bot_token_env:
            raise ValueError("webhook_url_env and bot_token_env exclude each other; configure one")
        if not self.webhook_url_env and not self.bot_token_env:
            raise ValueError("webhook_url_env is required when the channel is enabled (or bot_token_env and channel)")
        if self.bot_token_env and not self.channel:
            raise ValueError("channel is required with bot_token_env: a channel id (C0123456789) or a name (#ops)")
        if self.buttons and not self.signing_secret_env:
            raise ValueError(
                "signing_secret_env is required for the Acknowledge and Resolve buttons "
                "(set it, or set interactive: false)"
            )
        return self

    @property
    def buttons(self) -> bool:
        """Whether messages about open incidents carry the Acknowledge and Resolve buttons."""
        return self.interactive if self.interactive is not None else bool(self.bot_token_env)


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


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def wants_buttons(notification: Notification) -> bool:
    """Whether a button press could still change the incident this message is about.

    Not for acknowledged or resolved incidents, informational ones, auto-acknowledged
    ones, nor a grouped message (one pair of buttons could not say which incident).
    """
    n = notification
    return (
        n.transition in _OPEN_TRANSITIONS
        and n.severity != Severity.info
        and n.action != "auto_acknowledge"
        and not n.incidents
    )


def actions_block(incident_id: int) -> dict[str, Any]:
    """The Acknowledge and Resolve buttons for one incident; the value is the incident id."""
    value = str(incident_id)
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "action_id": ACKNOWLEDGE_ACTION,
                "text": _plain("Acknowledge"),
                "style": "primary",
                "value": value,
            },
            {
                "type": "button",
                "action_id": RESOLVE_ACTION,
                "text": _plain("Resolve"),
                "value": value,
                # Resolving stops every escalation, so a stray click asks first.
                "confirm": {
                    "title": _plain("Resolve this incident?"),
                    "text": _plain(f"Incident #{incident_id} will be marked resolved for everyone."),
                    "confirm": _plain("Resolve"),
                    "deny": _plain("Cancel"),
                },
            },
        ],
    }


def build_blocks(notification: Notification, *, buttons: bool = False) -> list[dict[str, Any]]:
    """The Block Kit blocks for one notification; `buttons` adds the actions block where it makes sense."""
    n = notification
    resolved = n.transition == "resolved"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(n.headline(), _HEADER_MAX), "emoji": True},
        }
    ]
    if n.note:
        blocks.append({"type": "context", "elements": [_mrkdwn(escape(n.note))]})
    if n.incidents:
        # A grouped message lists its incidents, worst first, each linked when the instance has a public URL.
        lines = [
            f"• #{item.incident_id} "
            f"{'resolved' if item.transition == 'resolved' else item.severity.value}: "
            + (_link(item.incident_url, item.title) if item.incident_url else escape(item.title))
            for item in n.incidents
        ]
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
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
    if buttons and wants_buttons(n):
        blocks.append(actions_block(n.incident_id))
    context = f"{escape(n.instance)} · incident #{n.incident_id} · {escape(n.transition)}"
    blocks.append({"type": "context", "elements": [_mrkdwn(context)]})
    return blocks


def build_payload(notification: Notification, config: SlackConfig) -> dict[str, Any]:
    """The JSON document sent to the incoming webhook or to chat.postMessage."""
    payload: dict[str, Any] = {
        "text": escape(notification.headline()),
        "blocks": build_blocks(notification, buttons=config.buttons),
        # Previews of monitoring links are noise in an alert channel.
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if config.channel:
        payload["channel"] = config.channel
    if config.username:
        payload["username"] = config.username
    return payload


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    """The seconds a `Retry-After` header asks to wait (Slack sends delta-seconds), or None."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                seconds = float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                return None
            return max(seconds, 0.0) if math.isfinite(seconds) else None
    return None


class SlackChannel(Channel):
    """Posts each notification to Slack as a Block Kit message, by incoming webhook or by bot token."""

    name = "slack"
    config_model = SlackConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, SlackConfig):
            raise TypeError(f"slack channel needs a SlackConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.slack_config = config
        # Loading the CA store takes tens of milliseconds; load it once, not per message.
        self._ssl = ssl.create_default_context()
        self._web: WebClient | None = None
        token = secrets.get("bot_token")
        if config.bot_token_env and token:
            self._web = WebClient(
                token=token,
                base_url=config.api_url + "/",
                # urllib takes float seconds; the SDK's annotation says int only.
                timeout=config.timeout_seconds,  # type: ignore[arg-type]
                ssl=self._ssl,
                logger=_SDK_LOGGER,
                retry_handlers=[],
            )

    def send(self, notification: Notification) -> None:
        """Post the message; raise `DeliveryFailed` unless Slack accepts it."""
        if self.slack_config.bot_token_env:
            self._post_message(notification)
        else:
            self._post_webhook(notification)

    def _post_message(self, notification: Notification) -> None:
        if self._web is None:
            raise DeliveryFailed(
                f"slack: variable {self.slack_config.bot_token_env} (bot_token_env) is empty or unset",
                retryable=False,
            )
        shown = f"POST {self.slack_config.api_url}/chat.postMessage"
        try:
            self._web.chat_postMessage(**build_payload(notification, self.slack_config))
        except SlackApiError as exc:
            raise self._api_failure(shown, exc.response) from None
        except (SlackRequestError, ValueError) as exc:
            raise DeliveryFailed(self._reason(f"{shown} refused locally: {exc}"), retryable=False) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryFailed(self._reason(f"{shown} failed: {type(exc).__name__}: {exc}"), retryable=True) from None

    def _api_failure(self, shown: str, response: SlackResponse) -> DeliveryFailed:
        """Classify a Web API answer that is not `ok` by its HTTP status and Slack's error code."""
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or "(no error code)")
        status = response.status_code
        if status == 429 or error == "ratelimited":
            retryable = True
        elif status != 200:
            retryable = status_retryable(status)
        else:
            retryable = error in _TRANSIENT_ERRORS
        hint = _ERROR_HINTS.get(error)
        if error == "missing_scope" and data.get("needed"):
            hint = f"the bot token needs the scope {data['needed']}"
        text = f"{shown} answered {status}: {_clip(error, _BODY_SNIPPET)}" + (f" ({hint})" if hint else "")
        return DeliveryFailed(
            self._reason(text), retryable=retryable, retry_after=_retry_after(response.headers) if retryable else None
        )

    def _post_webhook(self, notification: Notification) -> None:
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
            ssl=self._ssl,
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
        retryable = status_retryable(response.status_code)
        raise DeliveryFailed(
            self._reason(f"{shown} answered {response.status_code}: {body[:_BODY_SNIPPET] or '(empty body)'}"),
            retryable=retryable,
            retry_after=_retry_after(response.headers) if retryable else None,
        )

    def _reason(self, text: str) -> str:
        # The webhook URL path and the bot token are credentials, and an error page may echo either,
        # or a piece of the token (`xoxb-<team>-<bot>-<secret>`).
        url = self.secrets.get("webhook_url")
        token = self.secrets.get("bot_token")
        pieces = [piece for piece in token.split("-") if len(piece) >= _TOKEN_PIECE_MIN] if token else []
        return "slack: " + scrub(text, [*self.secrets.values(), *pieces, *(url_secrets(url) if url else [])])
