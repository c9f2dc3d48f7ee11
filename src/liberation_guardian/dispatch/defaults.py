"""The receivers and routing tree used when the configuration does not define them.

Built-in receivers (a configured receiver of the same name replaces one):

- `escalation`: the channels in `decision_rules.escalate.conditions.notification_channels`
  that are enabled, plus the log, so an escalation is never silent;
- `default`: Slack and the outgoing webhook when enabled, else the log;
- `log`: the console log only; `none`: nobody.

Built-in tree: auto-acknowledged incidents go to `none`, escalations to `escalation` at
once (repeated every 4 hours while open and unacknowledged), informational ones to
`log`, everything else to `default`; one group per incident, no wait, one minute between
messages about the same group, repeated daily while open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from liberation_guardian.config.routing import ReceiverConfig, RouteConfig
from liberation_guardian.dispatch.routes import RoutingTree, compile_route

if TYPE_CHECKING:
    from liberation_guardian.config.load import LoadedConfig

LOG_CHANNEL = "console"
ROUTINE_CHANNELS = ("slack", "webhook")


def builtin_receivers(config: LoadedConfig) -> dict[str, ReceiverConfig]:
    """The four built-in receivers for this configuration's enabled channels."""
    enabled = set(config.channels)
    named = config.settings.decision_rules.escalate.conditions.notification_channels
    escalation = [name for name in named if name in enabled and name != LOG_CHANNEL] + [LOG_CHANNEL]
    routine = [name for name in ROUTINE_CHANNELS if name in enabled] or [LOG_CHANNEL]
    return {
        "escalation": ReceiverConfig(channels=escalation),
        "default": ReceiverConfig(channels=routine),
        "log": ReceiverConfig(channels=[LOG_CHANNEL]),
        "none": ReceiverConfig(channels=[]),
    }


def builtin_route() -> RouteConfig:
    """The routing tree used when `routing.route` is not configured."""
    return RouteConfig(
        receiver="default",
        group_by=["incident"],
        group_wait=timedelta(0),
        group_interval=timedelta(minutes=1),
        repeat_interval=timedelta(hours=24),
        routes=[
            RouteConfig(matchers=['action="auto_acknowledge"'], receiver="none"),
            RouteConfig(matchers=['action="escalate"'], receiver="escalation", repeat_interval=timedelta(hours=4)),
            RouteConfig(matchers=['severity="info"'], receiver="log"),
        ],
    )


def build_tree(config: LoadedConfig) -> RoutingTree:
    """The routing tree of this configuration, with the built-in receivers filled in."""
    routing = config.settings.routing
    receivers = {**builtin_receivers(config), **routing.receivers}
    root = compile_route(routing.route or builtin_route(), None, "0")
    return RoutingTree(root, receivers)
