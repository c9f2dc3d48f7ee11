"""The routing tree, compiled: which receivers an incident goes to, grouped how, and when.

Matching walks the tree as Alertmanager does: the root matches everything; a node hands
the incident to the first child that matches (and to later ones too while the matching
child says `continue`); a node none of whose children match is the answer itself. Every
answer carries its full timing, inherited from the nearest ancestor that set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from liberation_guardian.config.routing import ReceiverConfig, RouteConfig, RoutingConfig
from liberation_guardian.dispatch.matchers import Matcher, all_match, parse_all

GROUP_BY_INCIDENT = "incident"
GROUP_ALL = "..."
DIGEST_EVERY = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


@dataclass(frozen=True)
class Route:
    """One compiled node with its inherited settings; `id` is its position, e.g. `0.2.1`."""

    id: str
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    escalation_policy: str | None
    digest: str | None
    children: tuple[Route, ...] = field(default=())

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The notification group an incident with `labels` joins on this route."""
        if GROUP_ALL in self.group_by:
            return "{}"
        return "{" + ",".join(f'{name}="{labels.get(name, "")}"' for name in self.group_by) + "}"

    def walk(self) -> list[Route]:
        """This node and every descendant, depth first."""
        found = [self]
        for child in self.children:
            found += child.walk()
        return found


class RoutingTree:
    """The compiled tree and the receivers it names."""

    def __init__(self, root: Route, receivers: Mapping[str, ReceiverConfig]) -> None:
        self.root = root
        self.receivers = dict(receivers)
        self.by_id = {route.id: route for route in root.walk()}

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an incident with these labels is notified through, in tree order."""
        return _match(self.root, labels)

    def channels(self, receiver: str) -> list[str]:
        """The channel names of a receiver (none for an unknown one)."""
        found = self.receivers.get(receiver)
        return list(found.channels) if found else []


def _match(node: Route, labels: Mapping[str, str]) -> list[Route]:
    found: list[Route] = []
    for child in node.children:
        if not all_match(child.matchers, labels):
            continue
        found += _match(child, labels)
        if not child.continue_:
            break
    return found or [node]


Path = tuple[str | int, ...]


class RoutingProblem(ValueError):
    """A routing setting that cannot work; `path` is its key path in the config file."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{'.'.join(map(str, path))}: {message}")


def route_path(route_id: str) -> Path:
    """The config key path of the route with this id (`0.2` is `routing.route.routes[2]`)."""
    path: list[str | int] = ["routing", "route"]
    for index in route_id.split(".")[1:]:
        path += ["routes", int(index)]
    return tuple(path)


def compile_route(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    """Compile one config node and its children, inheriting unset settings from `parent`."""
    try:
        matchers = parse_all(config.matchers, "matchers")
    except ValueError as exc:
        raise RoutingProblem(route_path(route_id), str(exc)) from None
    digest = config.digest or (parent.digest if parent else None)

    def pick(own: timedelta | None, inherited: timedelta | None, fallback: timedelta) -> timedelta:
        if own is not None:
            return own
        return inherited if inherited is not None else fallback

    every = DIGEST_EVERY.get(config.digest or "")
    group_by = tuple(config.group_by) if config.group_by is not None else None
    if group_by is None:
        group_by = (GROUP_ALL,) if every else parent.group_by if parent else (GROUP_BY_INCIDENT,)
    node = Route(
        id=route_id,
        receiver=config.receiver or (parent.receiver if parent else "default"),
        matchers=matchers,
        continue_=config.continue_,
        group_by=group_by,
        group_wait=pick(config.group_wait, every or (parent.group_wait if parent else None), timedelta(0)),
        group_interval=pick(
            config.group_interval, every or (parent.group_interval if parent else None), timedelta(minutes=1)
        ),
        repeat_interval=pick(
            config.repeat_interval,
            (timedelta(days=1) if every else None) or (parent.repeat_interval if parent else None),
            timedelta(hours=24),
        ),
        escalation_policy=config.escalation_policy or (parent.escalation_policy if parent else None),
        digest=digest,
    )
    children = tuple(compile_route(child, node, f"{route_id}.{i}") for i, child in enumerate(config.routes))
    return Route(**{**node.__dict__, "children": children})


def check_references(tree: RoutingTree, routing: RoutingConfig, channels: set[str]) -> list[RoutingProblem]:
    """Every name the routing config refers to that does not exist, each with its key path."""
    problems: list[RoutingProblem] = []
    enabled = ", ".join(sorted(channels)) or "none"
    for name, receiver in tree.receivers.items():
        problems += [
            RoutingProblem(("routing", "receivers", name, "channels", i), f"no enabled channel {channel!r} ({enabled})")
            for i, channel in enumerate(receiver.channels)
            if channel not in channels
        ]
    for route in tree.root.walk():
        if route.receiver not in tree.receivers:
            problems.append(RoutingProblem(route_path(route.id), f"no receiver {route.receiver!r}"))
        if route.escalation_policy and route.escalation_policy not in routing.escalation_policies:
            problems.append(RoutingProblem(route_path(route.id), f"no escalation policy {route.escalation_policy!r}"))
    targets = set(tree.receivers) | set(routing.schedules)
    for name, policy in routing.escalation_policies.items():
        for s, step in enumerate(policy.steps):
            problems += [
                RoutingProblem(
                    ("routing", "escalation_policies", name, "steps", s, "notify", n),
                    f"no receiver or schedule {target!r}",
                )
                for n, target in enumerate(step.notify)
                if target not in targets
            ]
    for name, schedule in routing.schedules.items():
        problems += [
            RoutingProblem(("routing", "schedules", name, "participants", i), f"no receiver {who!r}")
            for i, who in enumerate(schedule.participants)
            if who not in tree.receivers
        ]
    problems += [
        RoutingProblem(("routing", "services", name, "receiver"), f"no receiver {service.receiver!r}")
        for name, service in routing.services.items()
        if service.receiver and service.receiver not in tree.receivers
    ]
    return problems
