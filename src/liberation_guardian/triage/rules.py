"""The configured `decision_rules`: escalate, auto_fix and auto_acknowledge patterns.

Patterns are regular expressions matched case-insensitively against the event's
title and message. Escalate patterns are checked first (they always win), then
auto_fix, then auto_acknowledge. A rule match has a confidence of 0.95 when the
pattern matches the title (the problem's own headline) and 0.85 when it matches only
the message body, where the words may be incidental; a rule whose
`confidence_threshold` is above that passes the case on to the next decider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from liberation_guardian.config.schema import DecisionRules
from liberation_guardian.triage.base import Action, Case, Verdict

TITLE_MATCH_CONFIDENCE = 0.95
BODY_MATCH_CONFIDENCE = 0.85


@dataclass(frozen=True)
class _Match:
    pattern: str
    confidence: float
    where: str


def _compile(patterns: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    return [(pattern, re.compile(pattern, re.I)) for pattern in patterns]


class ConfigRules:
    """Decides from the `decision_rules` section of the configuration."""

    name = "rules"

    def __init__(self, rules: DecisionRules) -> None:
        self.rules = rules
        self._escalate = _compile(rules.escalate.patterns)
        self._auto_fix = _compile(rules.auto_fix.patterns)
        self._auto_ack = _compile(rules.auto_acknowledge.patterns)

    def decide(self, case: Case) -> Verdict | None:
        """Apply escalate, then auto_fix, then auto_acknowledge; pass when none applies."""
        return self._escalation(case) or self._fix(case) or self._acknowledgement(case)

    def _escalation(self, case: Case) -> Verdict | None:
        match = _first_match(self._escalate, case)
        if match is None or not self.rules.escalate.conditions.always_escalate:
            return None
        return self._verdict(
            case,
            Action.escalate,
            match,
            f"It matches the escalate pattern {match.pattern!r} in its {match.where}; problems of this kind "
            "always go to a human.",
        )

    def _fix(self, case: Case) -> Verdict | None:
        match = _first_match(self._auto_fix, case)
        if match is None:
            return None
        conditions = self.rules.auto_fix.conditions
        details = {
            "confidence_threshold": conditions.confidence_threshold,
            "max_fix_attempts": conditions.max_fix_attempts,
            "require_tests": conditions.require_tests,
            "fix_attempts": case.fix_attempts,
        }
        if match.confidence < conditions.confidence_threshold:
            return None
        if case.fix_attempts >= conditions.max_fix_attempts:
            return self._verdict(
                case,
                Action.escalate,
                match,
                f"It matches the auto_fix pattern {match.pattern!r}, but {case.fix_attempts} fix attempts "
                f"already reached max_fix_attempts ({conditions.max_fix_attempts}), so a human takes over.",
                details,
            )
        tests = "with its tests required to pass" if conditions.require_tests else "without a test gate"
        return self._verdict(
            case,
            Action.auto_fix,
            match,
            f"It matches the auto_fix pattern {match.pattern!r} in its {match.where} with confidence "
            f"{match.confidence:.2f} (threshold {conditions.confidence_threshold:.2f}); a fix is proposed {tests}, "
            f"attempt {case.fix_attempts + 1} of {conditions.max_fix_attempts}.",
            details,
        )

    def _acknowledgement(self, case: Case) -> Verdict | None:
        match = _first_match(self._auto_ack, case)
        if match is None:
            return None
        conditions = self.rules.auto_acknowledge.conditions
        impact = case.user_impact
        if match.confidence < conditions.confidence_threshold:
            return None
        if case.frequency.rank > conditions.frequency.rank:
            return None
        if impact is not None and impact.rank > conditions.user_impact.rank:
            return None
        known_impact = impact.value if impact is not None else "not reported"
        return self._verdict(
            case,
            Action.auto_acknowledge,
            match,
            f"It matches the auto_acknowledge pattern {match.pattern!r} in its {match.where}; it is "
            f"{case.frequency.value} (limit {conditions.frequency.value}) and its user impact is {known_impact} "
            f"(limit {conditions.user_impact.value}), so it is recorded without disturbing anyone.",
            {"frequency": case.frequency.value, "user_impact": known_impact},
        )

    def _verdict(
        self,
        case: Case,
        action: Action,
        match: _Match,
        rationale: str,
        details: Mapping[str, object] | None = None,
    ) -> Verdict:
        return Verdict(
            action=action,
            severity=case.severity,
            category=case.category,
            confidence=match.confidence,
            decided_by=self.name,
            matched=f"decision_rules.{_RULE_KEY[action]}: {match.pattern}",
            rationale=rationale,
            details=dict(details or {}),
        )


_RULE_KEY = {
    Action.escalate: "escalate",
    Action.auto_fix: "auto_fix",
    Action.auto_acknowledge: "auto_acknowledge",
    Action.investigate: "investigate",
}


def _first_match(patterns: list[tuple[str, re.Pattern[str]]], case: Case) -> _Match | None:
    body_match: _Match | None = None
    for source, pattern in patterns:
        if pattern.search(case.title):
            return _Match(source, TITLE_MATCH_CONFIDENCE, "title")
        if body_match is None and case.message and pattern.search(case.text):
            body_match = _Match(source, BODY_MATCH_CONFIDENCE, "message")
    return body_match
