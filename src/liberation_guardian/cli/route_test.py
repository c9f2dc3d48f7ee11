"""`liberation-guardian route-test LABEL=VALUE...`: which receivers an incident would reach, and when.

Like `amtool config routes test`: give the labels an incident would have (`severity`,
`service`, `action`, `category`, any event label) and it prints every route that matches,
its receiver and channels, the notification group the incident joins and the group's
timing, and the escalation policy that would chase it. `--tree` prints the whole tree.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from liberation_guardian.cli._common import config_option, fail, load
from liberation_guardian.dispatch.dispatcher import Dispatcher
from liberation_guardian.dispatch.routes import Route


@click.command("route-test")
@click.argument("labels", nargs=-1)
@click.option("--tree", is_flag=True, help="Print the whole routing tree instead.")
@config_option
@click.pass_context
def route_test(ctx: click.Context, labels: tuple[str, ...], tree: bool, config_path: Path | None) -> None:
    """Show where an incident with LABELS (name=value ...) is sent, grouped how and when."""
    config = load(ctx, config_path)
    dispatcher = Dispatcher(config)
    if tree:
        _print_tree(dispatcher, dispatcher.tree.root, 0)
        return
    if not labels:
        fail("give the incident's labels, e.g. severity=critical service=payments action=escalate")
    given: dict[str, str] = {}
    for item in labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"{item!r} is not a label; write it as name=value")
        given[name] = value.strip('"')
    targets = dispatcher.targets(given, given.get("action", ""))
    if not targets:
        click.echo("nobody: every matching receiver is empty (the incident is recorded, not sent)")
        return
    policies = config.settings.routing.escalation_policies
    for route, receiver in targets:
        channels = dispatcher.tree.channels(receiver) or ["(none)"]
        owner = "" if receiver == route.receiver else " (service owner)"
        click.echo(f"{receiver}{owner}: {', '.join(channels)}")
        click.echo(f"  route {route.id}  {_matchers(route)}")
        click.echo(f"  group {route.group_key({'incident': '<its id>', **given})}")
        click.echo(
            f"  group_wait {_duration(route.group_wait)}, group_interval {_duration(route.group_interval)}, "
            f"repeat_interval {_duration(route.repeat_interval)}"
        )
        if route.escalation_policy and given.get("action") == "escalate":
            policy = policies[route.escalation_policy]
            click.echo(f"  escalation policy {route.escalation_policy} (repeat {policy.repeat}):")
            for index, step in enumerate(policy.steps, 1):
                click.echo(f"    step {index}: {', '.join(step.notify)}, then wait {_duration(step.wait)}")


def _print_tree(dispatcher: Dispatcher, route: Route, depth: int) -> None:
    indent = "  " * depth
    flags = " continue" if route.continue_ else ""
    policy = f" escalation_policy={route.escalation_policy}" if route.escalation_policy else ""
    click.echo(
        f"{indent}{route.id} {_matchers(route)} -> {route.receiver} "
        f"[{', '.join(dispatcher.tree.channels(route.receiver)) or 'none'}] "
        f"group_by={','.join(route.group_by)} wait={_duration(route.group_wait)} "
        f"interval={_duration(route.group_interval)} repeat={_duration(route.repeat_interval)}{policy}{flags}"
    )
    for child in route.children:
        _print_tree(dispatcher, child, depth + 1)


def _matchers(route: Route) -> str:
    return "{" + ", ".join(str(m) for m in route.matchers) + "}"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
