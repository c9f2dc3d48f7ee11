"""The `teams` channel: an Adaptive Card in a Microsoft Teams channel through a Workflows webhook.

The URL comes from a Power Automate workflow built from the template "Post to a channel
when a webhook request is received" (its `sig` query parameter is the secret, read from
`webhook_url_env`). The body is the message envelope that template expects, holding one
Adaptive Card 1.4:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
     "contentUrl": null, "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...], "actions": [...]}}]}

The card body is the headline (bold; red for critical and high, green once resolved),
a note and the grouped incidents when there are any, the summary, a fact set (severity,
decision, source, service, environment, occurrences), the rationale and a footer line;
each link becomes an `Action.OpenUrl` button, the incident page first. TextBlocks and
facts render a Markdown subset, so untrusted event content is backslash-escaped: an alert
title cannot pose as a link or restyle the card. Teams cannot be made to mention anyone
from a webhook card without a `msteams.entities` block, which is never sent.

Failures: a Workflows URL answers 202 Accepted, a legacy Office 365 connector URL 200
with body `1`; both are delivered. Legacy connectors also answer 200 with a body
`Webhook message delivery failed with error: ... HTTP error 429 ...` when Teams refused
the card: that is a failure, retryable when the named status is. 429 (honouring
`Retry-After`), 5xx, connection errors and timeouts are retryable; 400 (a card the flow
or Teams cannot read), 401/403 (wrong `sig`), 404 (flow deleted) and other 4xx are not,
with the flow's `error.code` and `error.message` in the reason.
Format: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, model_validator

from liberation_guardian.act.notify._chat import (
    body_snippet,
    clip,
    escape_markdown,
    failed,
    json_body,
    new_client,
    post_json,
    rejected,
    secret_webhook_url,
    webhook_secrets,
)
from liberation_guardian.act.notify._json_api import web_url
from liberation_guardian.act.notify.base import Channel, ChannelConfig, Notification
from liberation_guardian.act.notify.webhook import redact_url, retry_after_seconds, status_retryable
from liberation_guardian.events import Severity

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"

# Teams refuses messages over about 28 KB; these keep a card well inside that even when escaped.
_HEADLINE_MAX = 400
_TEXT_MAX = 3000
_FACT_MAX = 500
_GROUPED_MAX = 25
_ACTION_TITLE_MAX = 100
# Teams shows at most six actions on a card.
_ACTIONS_MAX = 6
_LEGACY_FAILURE = re.compile(r"^Webhook message delivery failed", re.IGNORECASE)
_LEGACY_STATUS = re.compile(r"HTTP error (\d{3})")
_NO_DECISION = frozenset({"resolved", "acknowledged"})


class TeamsConfig(ChannelConfig):
    """Keys of `integrations.notifications.teams`.

    Usage::

        teams:
          webhook_url_env: TEAMS_WEBHOOK_URL
    """

    webhook_url_env: str | None = Field(
        default=None,
        description="Variable holding the Workflows (or legacy connector) webhook URL; its `sig` is the secret.",
    )

    @model_validator(mode="after")
    def _url_env_when_enabled(self) -> TeamsConfig:
        if self.enabled and not self.webhook_url_env:
            raise ValueError("webhook_url_env is required when the channel is enabled")
        return self


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _headline_colour(n: Notification) -> dict[str, str]:
    if n.transition == "resolved":
        return {"color": "Good"}
    if n.transition != "acknowledged" and n.severity in (Severity.critical, Severity.high):
        return {"color": "Attention"}
    return {}


def build_card(notification: Notification) -> dict[str, Any]:
    """The Adaptive Card for one notification."""
    n = notification
    body: list[dict[str, Any]] = [
        _text(escape_markdown(n.headline(), _HEADLINE_MAX), weight="Bolder", size="Medium", **_headline_colour(n))
    ]
    if n.note:
        body.append(_text(escape_markdown(n.note, _TEXT_MAX), isSubtle=True))
    for item in n.incidents[:_GROUPED_MAX]:
        state = "resolved" if item.transition == "resolved" else item.severity.value
        body.append(_text(f"#{item.incident_id} · {state} · {escape_markdown(item.title, _FACT_MAX)}", spacing="None"))
    if n.summary and n.summary != n.title:
        body.append(_text(escape_markdown(n.summary, _TEXT_MAX)))
    facts = [("Severity", n.severity.value)]
    if n.transition not in _NO_DECISION:
        facts.append(("Decision", f"{n.action} ({n.category or 'unknown'})"))
    facts.append(("Source", n.source))
    if n.service:
        facts.append(("Service", n.service))
    if n.environment:
        facts.append(("Environment", n.environment))
    facts.append(("Occurrences", str(n.occurrences)))
    body.append({"type": "FactSet", "facts": [{"title": t, "value": escape_markdown(v, _FACT_MAX)} for t, v in facts]})
    if n.rationale and n.transition not in _NO_DECISION:
        body.append(_text("**Why:** " + escape_markdown(n.rationale, _TEXT_MAX)))
    footer = f"{escape_markdown(n.instance, _FACT_MAX)} · incident #{n.incident_id} · {n.transition.replace('_', ' ')}"
    body.append(_text(footer, isSubtle=True, size="Small"))
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    actions = _actions(n)
    if actions:
        card["actions"] = actions
    return card


def _actions(n: Notification) -> list[dict[str, str]]:
    """An `Action.OpenUrl` button per http(s) link, the incident page first; other schemes are left out."""
    links = [(link.title, link.url) for link in n.links]
    if n.incident_url:
        links.insert(0, ("Open incident", n.incident_url))
    return [
        {"type": "Action.OpenUrl", "title": clip(title, _ACTION_TITLE_MAX), "url": url}
        for title, url in links
        if web_url(url)
    ][:_ACTIONS_MAX]


def build_message(notification: Notification) -> dict[str, Any]:
    """The JSON document the workflow's webhook trigger expects: a message with the card attached."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": build_card(notification)}],
    }


def error_detail(response: httpx.Response) -> str:
    """What the flow said: `error.code: error.message` of a Power Automate answer, else the start of the body."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        return ": ".join(str(error[key]) for key in ("code", "message") if error.get(key))
    return body_snippet(response)


class TeamsChannel(Channel):
    """Posts each notification to a Microsoft Teams channel as an Adaptive Card."""

    name = "teams"
    config_model = TeamsConfig

    def __init__(self, config: ChannelConfig, secrets: Mapping[str, str]) -> None:
        if not isinstance(config, TeamsConfig):
            raise TypeError(f"teams channel needs a TeamsConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.teams_config = config
        self.client = new_client(config.timeout_seconds)

    def send(self, notification: Notification) -> None:
        """Post the card; raise `DeliveryFailed` unless the workflow or connector accepts it."""
        url = self._url()
        shown = f"POST {redact_url(str(url))}"
        secrets = webhook_secrets(self.secrets)
        response = post_json(
            self.client, url, build_message(notification), channel=self.name, shown=shown, secrets=secrets
        )
        if not response.is_success:
            raise rejected(
                self.name, shown, response, error_detail(response), secrets, retry_after=retry_after_seconds(response)
            )
        text = response.text.strip()
        if _LEGACY_FAILURE.match(text):
            # A legacy connector says 200 and reports Teams' own refusal in the body.
            named = _LEGACY_STATUS.search(text)
            raise failed(
                self.name,
                f"{shown} answered {response.status_code} but did not post: {clip(text, 300)}",
                secrets,
                retryable=named is not None and status_retryable(int(named.group(1))),
            )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _url(self) -> httpx.URL:
        return secret_webhook_url(self.name, self.secrets, self.teams_config.webhook_url_env)
