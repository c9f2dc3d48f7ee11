"""Labeled examples the offline classifier learns from: the shipped set and every human correction.

The shipped set (`knowledge/training.jsonl`) is the labeled corpus of `eval/corpus` reduced
to what triage sees of each event (source, kind, severity, environment, exception type,
title and message) with the labels. It is generated, never edited by hand:

    python -m liberation_guardian.learn.examples eval/corpus > src/liberation_guardian/knowledge/training.jsonl

Each example keeps its corpus id, so an evaluation can hold out the lines it scores
(`triage/evaluate.py` cross-validates by id). Feedback becomes examples too: the incident's
first event with the labels a person confirmed or corrected, weighted by
`learning.feedback_loop.human_feedback_weight`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from liberation_guardian.events import Frequency, NormalizedEvent, Severity
from liberation_guardian.triage.base import Case
from liberation_guardian.triage.category import categorize

SHIPPED = Path(__file__).resolve().parents[1] / "knowledge" / "training.jsonl"


@dataclass(frozen=True)
class Example:
    """What triage saw of one event, and the verdict it should have reached."""

    id: str
    source: str
    kind: str
    severity: str
    title: str
    message: str
    action: str
    expected_severity: str
    category: str
    environment: str | None = None
    exception_type: str | None = None
    weight: float = 1.0

    def case(self) -> Case:
        """The case the triage stage builds for this event as a first occurrence."""
        return case_for(
            source=self.source,
            kind=self.kind,
            severity=Severity(self.severity),
            title=self.title,
            message=self.message,
            environment=self.environment,
            exception_type=self.exception_type,
        )


def case_for(
    *,
    source: str,
    kind: str,
    severity: Severity,
    title: str,
    message: str,
    environment: str | None = None,
    exception_type: str | None = None,
    service: str | None = None,
) -> Case:
    """A first-occurrence case from the fields an event carries."""
    return Case(
        source=source,
        kind=kind,
        title=title,
        message=message,
        severity=severity,
        category=categorize(source, kind, f"{title}\n{message}", exception_type),
        transition="opened",
        frequency=Frequency.first_time,
        user_impact=None,
        occurrences=1,
        fix_attempts=0,
        service=service,
        environment=environment,
        exception_type=exception_type,
    )


def example_of(event: NormalizedEvent, *, id: str, action: str, severity: str, category: str) -> Example:
    """An example from a parsed event and its labels."""
    return Example(
        id=id,
        source=event.source,
        kind=event.kind,
        severity=event.severity.value,
        title=event.title,
        message=event.message,
        action=action,
        expected_severity=severity,
        category=category,
        environment=event.environment,
        exception_type=event.exception_type,
    )


@cache
def shipped_examples() -> tuple[Example, ...]:
    """The shipped labeled examples, read once per process."""
    return tuple(read_examples(SHIPPED))


def read_examples(path: Path) -> Iterator[Example]:
    """Examples from a JSON Lines file; ValueError names the file and line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield Example(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a training example ({exc})") from None


def corpus_examples(corpus: Path) -> Iterator[Example]:
    """One example per scored event of a labeled corpus (the events `eval` decides)."""
    from liberation_guardian.triage.evaluate import labeled_events, read_corpus, untriaged

    for item, event in labeled_events(read_corpus(corpus), errors=[]):
        if untriaged(event) is not None:
            continue  # recoveries and acknowledgements resolve or acknowledge their incident, untriaged
        yield example_of(event, id=item.id, action=item.action, severity=item.severity, category=item.category)


def dump(examples: Iterable[Example]) -> str:
    """JSON Lines, one example per line, stable key order."""
    return "".join(json.dumps(asdict(example), ensure_ascii=False, sort_keys=True) + "\n" for example in examples)


if __name__ == "__main__":
    sys.stdout.write(dump(corpus_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "eval/corpus"))))
