"""Inhibition: an open incident that matches a rule's source mutes the incidents it explains.

A node that is down explains its pods' alerts; with a rule whose `source_matchers` pick the
node alert, `target_matchers` the pod alerts and `equal: [node]`, only the node alert is
sent. As in Alertmanager an incident never inhibits itself, and a target is muted only
while a source is open (not resolved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.routing import InhibitRuleConfig
from liberation_guardian.dispatch.matchers import Matcher, all_match, parse_all
from liberation_guardian.dispatch.routes import RoutingProblem
from liberation_guardian.group.incidents import IncidentStatus
from liberation_guardian.store.models import Incident


@dataclass(frozen=True)
class InhibitRule:
    """One compiled rule."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def compile(cls, config: InhibitRuleConfig, index: int) -> InhibitRule:
        """Compile `routing.inhibit_rules[index]`; `RoutingProblem` names a matcher that does not parse."""
        where = ("routing", "inhibit_rules", index)
        try:
            source = parse_all(config.source_matchers, "source_matchers")
            target = parse_all(config.target_matchers, "target_matchers")
        except ValueError as exc:
            raise RoutingProblem(where, str(exc)) from None
        return cls(source, target, tuple(config.equal))


class Inhibitor:
    """Answers "is this incident muted by another?" over a snapshot of the open incidents."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = list(rules)
        self._sources: list[list[tuple[int, Mapping[str, str]]]] | None = None

    def load(self, session: Session) -> None:
        """Take the snapshot of open incidents that match each rule's source side."""
        self._sources = [[] for _ in self.rules]
        if not self.rules:
            return
        rows = session.execute(
            select(Incident.id, Incident.labels).where(Incident.status != IncidentStatus.resolved.value)
        ).all()
        for incident_id, labels in rows:
            for index, rule in enumerate(self.rules):
                if all_match(rule.source, labels or {}):
                    self._sources[index].append((incident_id, labels))

    def inhibited_by(self, incident_id: int, labels: Mapping[str, str]) -> int | None:
        """The id of an open incident that mutes this one, if any."""
        if self._sources is None:
            raise RuntimeError("Inhibitor.load must run first")
        for rule, sources in zip(self.rules, self._sources, strict=True):
            if not all_match(rule.target, labels):
                continue
            for source_id, source_labels in sources:
                if source_id != incident_id and all(
                    source_labels.get(name, "") == labels.get(name, "") for name in rule.equal
                ):
                    return source_id
        return None
