"""The offline classifier: decides what rules and patterns left open, explains itself, and learns from feedback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from liberation_guardian.events import Frequency, Severity
from liberation_guardian.knowledge.match import PatternIndex
from liberation_guardian.learn.examples import Example, shipped_examples
from liberation_guardian.triage.base import Action, Case
from liberation_guardian.triage.classify import MIN_CONFIDENCE, Classifier
from liberation_guardian.triage.known import shipped_index
from tests.triage.test_impact import case as ci_case


def example(title: str, action: str, severity: str = "medium", category: str = "ci", n: int = 0) -> Example:
    return Example(
        id=f"x-{n}",
        source="generic",
        kind="event",
        severity="medium",
        title=title,
        message="",
        action=action,
        expected_severity=severity,
        category=category,
    )


TRAINING = [
    *(example(f"nightly export {n} wrote an empty file", "investigate", n=n) for n in range(6)),
    *(example(f"build {n} passed on main", "auto_acknowledge", "info", n=10 + n) for n in range(6)),
    *(example(f"lint failed on branch {n}", "auto_fix", "low", n=20 + n) for n in range(6)),
]


def case(title: str, severity: Severity = Severity.medium, source: str = "generic") -> Case:
    return replace(ci_case(title, severity=severity, source=source), kind="event")


def classifier(threshold: float = 0.7, examples: list[Example] = TRAINING, weight: float = 2.0) -> Classifier:
    return Classifier(examples, index=PatternIndex([]), threshold=threshold, feedback_weight=weight)


def test_it_decides_with_its_probability_and_the_words_that_weighed_most() -> None:
    verdict = classifier(threshold=0.3).decide(case("build 77 passed on main", severity=Severity.medium))
    assert verdict is not None
    assert verdict.action == Action.auto_acknowledge and verdict.decided_by == "classifier"
    assert verdict.severity == Severity.info
    assert MIN_CONFIDENCE <= verdict.confidence == pytest.approx(verdict.details["action_probability"], abs=1e-3)
    assert "passed" in " ".join(verdict.details["features"])
    assert "learned from 18 labeled events" in verdict.rationale


def test_quiet_handling_under_the_threshold_is_investigated() -> None:
    verdict = classifier(threshold=0.99).decide(case("build 77 passed on main"))
    assert verdict is not None and verdict.action == Action.investigate
    assert "under the threshold for acting alone" in verdict.rationale


def test_an_unsure_model_passes_to_the_next_decider() -> None:
    few = [example("alpha", "investigate", n=1), example("beta", "auto_fix", n=2), example("gamma", "escalate", n=3)]
    assert classifier(examples=few).decide(case("something else entirely")) is None


def test_the_shipped_model_places_a_new_bug_for_investigation() -> None:
    chain = Classifier(shipped_examples(), index=shipped_index(), threshold=0.7, feedback_weight=2.0)
    verdict = chain.decide(case("ZeroDivisionError: division by zero", severity=Severity.medium, source="sentry"))
    assert verdict is not None and verdict.action == Action.investigate


def test_training_file_is_the_corpus_reduced() -> None:
    from liberation_guardian.learn.examples import SHIPPED, corpus_examples, dump

    corpus = Path(__file__).resolve().parents[2] / "eval" / "corpus"
    assert SHIPPED.read_text(encoding="utf-8") == dump(corpus_examples(corpus)), (
        "knowledge/training.jsonl is stale: python -m liberation_guardian.learn.examples eval/corpus "
        "> src/liberation_guardian/knowledge/training.jsonl"
    )
    assert all(json.loads(line)["id"] for line in SHIPPED.read_text().splitlines())


def test_a_frequent_incident_is_not_acknowledged_and_spent_fixes_go_to_a_person() -> None:
    quiet = classifier(threshold=0.3)
    frequent = replace(case("build 77 passed on main"), frequency=Frequency.frequent)
    verdict = quiet.decide(frequent)
    assert verdict is not None and verdict.action == Action.investigate and "frequent" in verdict.rationale
    spent = replace(case("lint failed on branch 9"), fix_attempts=3)
    verdict = quiet.decide(spent)
    assert verdict is not None and verdict.action == Action.escalate and "3 fix attempts" in verdict.rationale
