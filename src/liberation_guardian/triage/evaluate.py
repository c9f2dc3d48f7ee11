"""Score the triage chain against a labeled corpus: how often it is right, and how safely it is wrong.

A corpus is a folder of JSON Lines files (or one file); each line is one payload as a tool
sends it, with the labels a careful operator gave it (see docs/eval.md):

    {"id": "sentry-001", "source": "sentry", "headers": {...}, "payload": {...},
     "expected": {"action": "escalate", "severity": "critical", "category": "database"},
     "must_escalate": true, "why": "..."}

Every event the payload parses into (only those of the `kinds` a line may name) is decided
as a first occurrence (`opened`), by the same chain the pipeline uses, and compared with
the labels; a recovery or a person's acknowledgement is not triaged by the pipeline (it
resolves or acknowledges its incident quietly) and counts as a quiet acknowledgement. A
chain that learns from the shipped corpus is scored by 5-fold cross-validation (see
`evaluate`). The figures:

- action and severity accuracy; category macro-F1 (the mean F1 over the categories that
  occur in the labels or the answers);
- critical recall: of the events that must escalate, the share that did (target 1.0);
- unsafe acknowledgements: events that must escalate but were acknowledged (target 0);
- expected calibration error of the decisions' confidence against action correctness
  (10 equal-width bins).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liberation_guardian import sources
from liberation_guardian.errors import SourceError
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.learn.examples import case_for
from liberation_guardian.triage.base import Action, Case, TriageChain, Verdict
from liberation_guardian.triage.category import categorize

BINS = 10
FOLDS = 5


@dataclass(frozen=True)
class Labeled:
    """One corpus line."""

    id: str
    source: str
    headers: dict[str, str]
    payload: Any
    action: str
    severity: str
    category: str
    must_escalate: bool
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One event's decision next to its labels."""

    item: Labeled
    verdict: Verdict


@dataclass
class Report:
    """The figures of one evaluation, and the cases it could not run."""

    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.outcomes)

    def action_accuracy(self) -> float:
        return _share(o.verdict.action.value == o.item.action for o in self.outcomes)

    def severity_accuracy(self) -> float:
        return _share(o.verdict.severity.value == o.item.severity for o in self.outcomes)

    def category_macro_f1(self) -> float:
        labels = {o.item.category for o in self.outcomes} | {o.verdict.category for o in self.outcomes}
        scores = []
        for label in sorted(labels):
            tp = sum(o.item.category == label and o.verdict.category == label for o in self.outcomes)
            fp = sum(o.item.category != label and o.verdict.category == label for o in self.outcomes)
            fn = sum(o.item.category == label and o.verdict.category != label for o in self.outcomes)
            scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        return sum(scores) / len(scores) if scores else 0.0

    def critical_recall(self) -> float:
        must = [o for o in self.outcomes if o.item.must_escalate]
        return _share(o.verdict.action == Action.escalate for o in must) if must else 1.0

    def unsafe_acknowledgements(self) -> int:
        return sum(o.item.must_escalate and o.verdict.action == Action.auto_acknowledge for o in self.outcomes)

    def calibration_error(self) -> float:
        """Expected calibration error of confidence against action correctness."""
        if not self.outcomes:
            return 0.0
        bins: dict[int, list[Outcome]] = {}
        for outcome in self.outcomes:
            index = min(int(outcome.verdict.confidence * BINS), BINS - 1)
            bins.setdefault(index, []).append(outcome)
        total = 0.0
        for members in bins.values():
            accuracy = _share(o.verdict.action.value == o.item.action for o in members)
            confidence = sum(o.verdict.confidence for o in members) / len(members)
            total += len(members) / self.events * abs(accuracy - confidence)
        return total

    def decided_by(self) -> Counter[str]:
        return Counter(o.verdict.decided_by for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready data."""
        return {
            "events": self.events,
            "action_accuracy": round(self.action_accuracy(), 4),
            "severity_accuracy": round(self.severity_accuracy(), 4),
            "category_macro_f1": round(self.category_macro_f1(), 4),
            "critical_recall": round(self.critical_recall(), 4),
            "unsafe_acknowledgements": self.unsafe_acknowledgements(),
            "expected_calibration_error": round(self.calibration_error(), 4),
            "decided_by": dict(sorted(self.decided_by().items())),
            "errors": self.errors,
        }


def _share(hits: Iterator[bool] | Any) -> float:
    values = list(hits)
    return sum(values) / len(values) if values else 0.0


def read_corpus(path: Path) -> Iterator[Labeled]:
    """Every labeled line of a corpus file or folder (`*.jsonl`, sorted); ValueError names file and line."""
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no *.jsonl files")
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                expected = raw["expected"]
                yield Labeled(
                    id=str(raw["id"]),
                    source=str(raw["source"]),
                    headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
                    payload=raw["payload"],
                    action=str(expected["action"]),
                    severity=str(expected["severity"]),
                    category=str(expected["category"]),
                    must_escalate=bool(raw.get("must_escalate", False)),
                    kinds=tuple(str(kind) for kind in raw.get("kinds") or ()),
                )
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{file}:{number}: not a corpus line ({type(exc).__name__}: {exc})") from None


ChainFor = Callable[[frozenset[str]], TriageChain]


def labeled_events(corpus: Iterable[Labeled], errors: list[str]) -> Iterator[tuple[Labeled, NormalizedEvent]]:
    """Every scored event of every corpus line; lines that cannot be parsed are named in `errors`."""
    classes = sources.registry()
    for item in corpus:
        cls = classes.get(item.source)
        if cls is None:
            errors.append(f"{item.id}: no source named {item.source!r}")
            continue
        source = cls(cls.config_model(), {})
        headers = {"content-type": "application/json", **{k.lower(): v for k, v in item.headers.items()}}
        try:
            events = source.parse(headers, json.dumps(item.payload).encode())
        except SourceError as exc:
            errors.append(f"{item.id}: {exc.status} {exc.reason}")
            continue
        for event in events:
            if not item.kinds or event.kind in item.kinds:  # a line may name which event carries the labels
                yield item, event


def evaluate(chain: TriageChain | ChainFor, corpus: Iterable[Labeled], *, folds: int = FOLDS) -> Report:
    """Decide every event of every corpus line and collect the outcomes.

    `chain` may be a function of the corpus ids to hold out: the corpus is then split into
    `folds` parts by a hash of each id, and each part is decided by a chain that did not
    learn from it, so a classifier trained on the shipped corpus is never scored on its own
    training lines (k-fold cross-validation).
    """
    report = Report()
    items = list(labeled_events(corpus, report.errors))
    ids = sorted({item.id for item, _ in items})
    fixed = chain if isinstance(chain, TriageChain) else None
    parts = 1 if fixed is not None else folds
    fold_of = {id: zlib.crc32(id.encode()) % parts for id in ids}
    verdicts: dict[int, Verdict] = {}
    for fold in range(parts):
        held = frozenset(id for id in ids if fold_of[id] == fold)
        deciding = fixed or chain(held)  # type: ignore[operator]
        for number, (item, event) in enumerate(items):
            if item.id in held:
                verdicts[number] = untriaged(event) or deciding.decide(case_of(event))
    report.outcomes = [Outcome(item, verdicts[number]) for number, (item, _) in enumerate(items)]
    return report


def untriaged(event: NormalizedEvent) -> Verdict | None:
    """The pipeline's answer to an event it never triages, or None for one it does.

    A recovery resolves its incident; a person's acknowledgement reported by the tool
    (PagerDuty, Opsgenie, VictorOps) acknowledges it. Neither is decided or paged, so each
    counts as a quiet acknowledgement at `info`.
    """
    if event.status == Status.resolved:
        name, why = "recovery", "The problem is over: the event resolves its incident and nobody is disturbed."
    elif event.extra.get("acknowledged"):
        name, why = "acknowledgement", "A person already acknowledged it in the tool; the incident is theirs."
    else:
        return None
    return Verdict(
        action=Action.auto_acknowledge,
        severity=Severity.info,
        category=categorize(event.source, event.kind, f"{event.title}\n{event.message}", event.exception_type),
        confidence=0.95,
        decided_by=name,
        rationale=why,
    )


def case_of(event: NormalizedEvent) -> Case:
    """The case the triage stage would build for this event as a first occurrence."""
    return case_for(
        source=event.source,
        kind=event.kind,
        severity=event.severity,
        title=event.title,
        message=event.message,
        environment=event.environment,
        exception_type=event.exception_type,
        service=event.service,
    )


def render(report: Report) -> str:
    """The figures as a small table."""
    rows = [
        ("events", str(report.events)),
        ("action accuracy", f"{report.action_accuracy():.3f}"),
        ("severity accuracy", f"{report.severity_accuracy():.3f}"),
        ("category macro-F1", f"{report.category_macro_f1():.3f}"),
        ("critical recall", f"{report.critical_recall():.3f}"),
        ("unsafe acknowledgements", str(report.unsafe_acknowledgements())),
        ("expected calibration error", f"{report.calibration_error():.3f}"),
    ]
    rows += [(f"decided by {name}", str(count)) for name, count in sorted(report.decided_by().items())]
    rows += [("could not run", str(len(report.errors)))]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value:>8}" for label, value in rows)
