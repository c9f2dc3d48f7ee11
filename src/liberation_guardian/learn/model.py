"""The offline triage model: three linear classifiers over one set of features.

Features are the words of the event (numbers folded to 0, so ids and counts do not split
words) and a few structured tokens: the source, the kind, the tool's severity, the guessed
category, the environment, and the known pattern that matches, if any (its action,
severity and id). One TF-IDF vectorizer of single words (pairs of words did worse in cross-validation on so
few examples) feeds three logistic regressions, for the action,
the severity and the category. Logistic regression keeps the probabilities honest enough
to use as confidence (the eval reports their calibration error), trains on a few hundred
examples in well under a second, and its weights say which words drove a prediction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from liberation_guardian.learn.examples import Example
from liberation_guardian.triage.base import Case

# Inverse regularization strength, chosen by cross-validation on the shipped corpus.
REGULARIZATION = 30.0

_DIGITS = re.compile(r"\d+")
_PRODUCTION = {"prod", "production", "prd", "live"}
_NON_PRODUCTION = {"staging", "stage", "stg", "dev", "development", "test", "qa", "sandbox", "preview"}

# Names the known pattern matching a case (its action, severity and id), or "" for none.
PatternOf = Callable[[Case], str]


@dataclass(frozen=True)
class Guess:
    """One head's answer: the label, its probability, and the features that pushed it most."""

    label: str
    probability: float
    because: tuple[str, ...]


@dataclass(frozen=True)
class Prediction:
    """The model's answer for a case."""

    action: Guess
    severity: Guess
    category: Guess


def features(case: Case, pattern: str) -> str:
    """The document the vectorizer reads for a case."""
    tokens = [
        f"src_{case.source}",
        f"kind_{_slug(case.kind)}",
        f"sev_{case.severity.value}",
        f"cat_{case.category}",
        f"env_{_environment(case.environment)}",
        pattern or "pat_none",
    ]
    if case.exception_type:
        tokens.append(f"exc_{_slug(case.exception_type)}")
    return " ".join(tokens) + " " + _DIGITS.sub("0", case.text.lower())


def pattern_tokens(pattern_id: str | None, action: str = "", severity: str = "") -> str:
    """The structured tokens for a matched known pattern."""
    if pattern_id is None:
        return ""
    return f"pat_{action} patsev_{severity} patid_{_slug(pattern_id)}"


class TriageModel:
    """Action, severity and category classifiers trained together on weighted examples."""

    def __init__(self, pattern_of: PatternOf, *, regularization: float = REGULARIZATION) -> None:
        self.pattern_of = pattern_of
        self.regularization = regularization
        self.vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        self.heads: dict[str, LogisticRegression | str] = {}
        self.names: np.ndarray = np.array([])
        self.trained_on = 0

    def fit(self, examples: Sequence[Example]) -> None:
        """Train from scratch on the examples (a few hundred take a fraction of a second)."""
        if not examples:
            raise ValueError("the triage model needs at least one labeled example")
        documents = [features(example.case(), self.pattern_of(example.case())) for example in examples]
        matrix = self.vectorizer.fit_transform(documents)
        self.names = self.vectorizer.get_feature_names_out()
        weights = np.array([example.weight for example in examples])
        labels = {
            "action": [example.action for example in examples],
            "severity": [example.expected_severity for example in examples],
            "category": [example.category for example in examples],
        }
        self.heads = {}
        # One BLAS thread: on a busy machine, thread pools fighting over cores make a 0.1 s fit take seconds.
        with threadpool_limits(limits=1):
            self._fit_heads(matrix, labels, weights)
        self.trained_on = len(examples)

    def _fit_heads(self, matrix: object, labels: dict[str, list[str]], weights: np.ndarray) -> None:
        for head, values in labels.items():
            if len(set(values)) == 1:
                self.heads[head] = values[0]  # nothing to learn: every example agrees
                continue
            model = LogisticRegression(C=self.regularization, solver="newton-cg", max_iter=1000)
            model.fit(matrix, values, sample_weight=weights)
            self.heads[head] = model

    def predict(self, case: Case) -> Prediction | None:
        """The three guesses for a case, or None before training."""
        if not self.heads:
            return None
        row = self.vectorizer.transform([features(case, self.pattern_of(case))])
        guesses = {
            head: Guess(model, 1.0, ()) if isinstance(model, str) else _guess(model, row, self.names)
            for head, model in self.heads.items()
        }
        return Prediction(**guesses)


def _guess(model: LogisticRegression, row: object, names: np.ndarray) -> Guess:
    probabilities = model.predict_proba(row)[0]
    best = int(np.argmax(probabilities))
    # Which present features pushed the winning class most: weight times feature value.
    weights = model.coef_[best if len(model.classes_) > 2 else 0] * (1 if len(model.classes_) > 2 or best else -1)
    present = row.nonzero()[1]  # type: ignore[attr-defined]
    scores = sorted(((weights[i] * row[0, i], names[i]) for i in present), reverse=True)  # type: ignore[index]
    because = tuple(str(name) for score, name in scores[:3] if score > 0)
    return Guess(label=str(model.classes_[best]), probability=float(probabilities[best]), because=because)


def _environment(value: str | None) -> str:
    name = (value or "").lower()
    if name in _PRODUCTION:
        return "production"
    if name in _NON_PRODUCTION:
        return "nonproduction"
    return "unknown" if not name else "other"


def _slug(value: str) -> str:
    return re.sub(r"\W+", "_", value.lower()).strip("_")
