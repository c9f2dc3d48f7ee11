"""The memory of past incidents: what was done about each kind of message, kept in memory.

`IncidentMemory` is the `Learner` behind the similarity decider. Every incident the store
has decided enters it once, by the text of the event that opened it (title, then message),
which the template miner files under a template. Incidents with a known outcome then vote
for how their template should be handled:

- a resolved episode (a `resolutions` row) votes for the action and category it was
  handled with, at the severity of the decision it was resolved under, with weight 1;
- a person's feedback votes for the decision it judged, corrected where the person said
  so, with weight `learning.feedback_loop.human_feedback_weight`, and outranks the
  incident's outcome: each incident has one vote, a person's if there is one, otherwise
  that of its latest resolution.

Per template it keeps the weighted counts of actions (and of those, the human ones),
severities and categories, and the ids of the most recent voting incidents. Templates
with votes are also in a lexical index, for texts no template fits.

`sync` catches up by id watermarks on decisions, resolutions and feedback: one query
reads the lowest and highest id of the three tables, and only new rows are loaded. When
rows the memory has seen are gone (the transaction that wrote them rolled back, or the
retention purge deleted them), it starts over from the store; because incidents enter in
decision order and each incident's vote depends only on its own rows, a memory rebuilt in
a fresh process gives the same answers as one that followed along. Pattern discovery
(`learn/discover.py`) is fed from the same sync and writes its proposals at its end.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from liberation_guardian.knowledge.similar import LexicalIndex
from liberation_guardian.knowledge.templates import TemplateMiner, tokenize
from liberation_guardian.learn.discover import Discovery, Label, incident_text
from liberation_guardian.store.models import Decision, Event, Feedback, Resolution

RECENT = 5
_BATCH = 2_000


@dataclass(frozen=True)
class Evidence:
    """What one template's incidents say: how they were handled, by vote weight.

    `actions`, `severities` and `categories` map each value to its total vote weight;
    `human` is the part of each action's weight that came from people. `incidents` are the
    most recent voting incidents, newest first. The memory keeps one per template until
    the template's votes or wording change, so a decider may cache what it derives from it.
    """

    template_id: str
    template: str
    incidents: tuple[int, ...]
    support: float
    actions: Mapping[str, float]
    human: Mapping[str, float]
    severities: Mapping[str, float]
    categories: Mapping[str, float]


@dataclass(frozen=True)
class Recollection:
    """What the memory recalls for a text: a template's evidence, how it was found, and how close it is."""

    evidence: Evidence
    how: Literal["exact", "lexical"]
    similarity: float


class _Votes:
    """The weighted labels of one template's incidents."""

    __slots__ = ("actions", "human", "severities", "categories", "support", "recent")

    def __init__(self) -> None:
        self.actions: dict[str, float] = {}
        self.human: dict[str, float] = {}
        self.severities: dict[str, float] = {}
        self.categories: dict[str, float] = {}
        self.support = 0.0
        self.recent: list[int] = []  # ascending; the newest RECENT incident ids

    def add(self, vote: _Vote, incident_id: int, sign: float = 1.0) -> None:
        label, weight = vote.label, vote.weight * sign
        _bump(self.actions, label.action, weight)
        _bump(self.severities, label.severity, weight)
        _bump(self.categories, label.category, weight)
        if vote.human:
            _bump(self.human, label.action, weight)
        self.support = max(0.0, self.support + weight)
        if sign > 0 and incident_id not in self.recent:
            bisect.insort(self.recent, incident_id)
            del self.recent[:-RECENT]


@dataclass(frozen=True)
class _Vote:
    label: Label
    weight: float
    human: bool


def _bump(counts: dict[str, float], key: str, weight: float) -> None:
    total = counts.get(key, 0.0) + weight
    if total > 1e-9:
        counts[key] = total
    else:
        counts.pop(key, None)


class IncidentMemory:
    """Past incidents by template, with how they were handled; a `Learner` kept current by `sync`.

    Usage::

        memory = IncidentMemory(human_weight=2.0, min_occurrences=3)
        memory.sync(session)                       # before each decision; cheap when nothing changed
        tokens = tokenize(case.text)
        recalled = memory.exact(tokens) or memory.nearest(tokens, min_similarity=0.8)
    """

    def __init__(self, *, human_weight: float = 2.0, min_occurrences: int = 3) -> None:
        self.human_weight = human_weight
        self.min_occurrences = min_occurrences
        self.rebuilds = 0
        self._reset()

    def _reset(self) -> None:
        self.miner = TemplateMiner()
        self.index = LexicalIndex()
        self.discovery = Discovery(min_occurrences=self.min_occurrences, human_weight=self.human_weight)
        self._template_of: dict[int, str] = {}
        self._votes_of: dict[int, _Vote] = {}
        self._votes: dict[str, _Votes] = {}
        self._indexed: dict[str, tuple[str, ...]] = {}
        self._evidence: dict[str, Evidence] = {}
        self._labels: dict[Label, Label] = {}
        # (lowest id seen, highest id loaded) of decisions, resolutions and feedback.
        self._marks: list[tuple[int, int]] = [(0, 0), (0, 0), (0, 0)]
        self._stale = False
        self._watched: weakref.ref[Session] | None = None

    @property
    def incidents(self) -> int:
        """How many incidents the memory holds."""
        return len(self._template_of)

    @property
    def voters(self) -> int:
        """How many incidents have a vote (an outcome or a person's feedback)."""
        return len(self._votes_of)

    def sync(self, session: Session) -> None:
        """Load what the store has decided, resolved and been told since the last call."""
        self._watch(session)
        tables = (Decision.id, Resolution.id, Feedback.id)
        bounds = session.execute(
            select(
                *(select(func.min(column)).scalar_subquery() for column in tables),
                *(select(func.max(column)).scalar_subquery() for column in tables),
            )
        ).one()
        now = [(low or 0, high or 0) for low, high in zip(bounds[:3], bounds[3:], strict=True)]
        if self._stale or any(
            high < seen_high or (seen_low and low > seen_low)
            for (low, high), (seen_low, seen_high) in zip(now, self._marks, strict=True)
        ):
            self._reset()
            self.rebuilds += 1
        (_, decisions), (_, resolutions), (_, feedback) = self._marks
        if now[0][1] > decisions:
            self._load_decisions(session, decisions, now[0][1])
        if now[1][1] > resolutions:
            self._load_resolutions(session, resolutions, now[1][1])
        if now[2][1] > feedback and self.human_weight > 0:
            self._load_feedback(session, feedback, now[2][1])
        self._marks = [(low, max(high, seen)) for (low, high), (_, seen) in zip(now, self._marks, strict=True)]
        if self.discovery.due:
            self.discovery.propose(session, self.miner)

    def exact(self, tokens: tuple[str, ...]) -> Recollection | None:
        """The template the text belongs to, when its incidents have votes."""
        fit = self.miner.match_tokens(tokens)
        if fit is None or fit.template.id not in self._votes:
            return None
        return Recollection(self._evidence_of(fit.template.id), "exact", round(fit.similarity, 4))

    def nearest(
        self, tokens: tuple[str, ...], *, exclude: str | None = None, min_similarity: float = 0.0
    ) -> Recollection | None:
        """The lexically nearest template with votes, other than `exclude`, if it is similar enough."""
        found = self.index.nearest(" ".join(tokens), 1, exclude=exclude, min_similarity=min_similarity)
        if not found:
            return None
        template_id, similarity = found[0]
        return Recollection(self._evidence_of(template_id), "lexical", round(similarity, 4))

    def _evidence_of(self, template_id: str) -> Evidence:
        evidence = self._evidence.get(template_id)
        if evidence is None:
            votes = self._votes[template_id]
            evidence = self._evidence[template_id] = Evidence(
                template_id=template_id,
                template=" ".join(self._indexed[template_id]),
                incidents=tuple(reversed(votes.recent)),
                support=votes.support,
                actions=dict(votes.actions),
                human=dict(votes.human),
                severities=dict(votes.severities),
                categories=dict(votes.categories),
            )
        return evidence

    def _watch(self, session: Session) -> None:
        """Start over at the next sync if this session's transaction rolls back what the memory read from it."""
        if self._watched is not None and self._watched() is session:
            return
        if not event.contains(session, "after_soft_rollback", self._rolled_back):
            event.listen(session, "after_soft_rollback", self._rolled_back)
        self._watched = weakref.ref(session)

    def _rolled_back(self, session: Session, previous: SessionTransaction) -> None:
        if previous.parent is None and not previous.nested:
            self._stale = True

    def _load_decisions(self, session: Session, after: int, upto: int) -> None:
        rows = session.execute(
            select(
                Decision.incident_id,
                Decision.action,
                Decision.severity,
                Decision.category,
                Decision.decided_by,
                Event.title,
                Event.message,
            )
            .join(Event, Event.id == Decision.event_id)
            .where(Decision.id > after, Decision.id <= upto)
            .order_by(Decision.id)
            .execution_options(yield_per=_BATCH)
        )
        for incident_id, action, severity, category, decided_by, title, message in rows:
            label = self._label(action, severity, category)
            if incident_id in self._template_of:
                self.discovery.relabel(incident_id, label, human=False)
                continue
            template = self.miner.add_tokens(tokenize(incident_text(title, message)))
            self._template_of[incident_id] = template.id
            if template.id in self._indexed and self._indexed[template.id] != template.tokens:
                self._index(template.id, template.tokens)  # the template generalized
            self.discovery.note(template.id, incident_id, label, unknown=decided_by != "knowledge")
            vote = self._votes_of.get(incident_id)
            if vote is not None:
                self._count(template.id, incident_id, None, vote)

    def _load_resolutions(self, session: Session, after: int, upto: int) -> None:
        severity = (
            select(Decision.severity)
            .where(Decision.incident_id == Resolution.incident_id, Decision.transition_seq <= Resolution.transition_seq)
            .order_by(Decision.id.desc())
            .limit(1)
            .correlate(Resolution)
            .scalar_subquery()
        )
        rows = session.execute(
            select(Resolution.incident_id, Resolution.action, severity, Resolution.category)
            .where(Resolution.id > after, Resolution.id <= upto, Resolution.action.is_not(None))
            .order_by(Resolution.id)
            .execution_options(yield_per=_BATCH)
        )
        for incident_id, action, severity_value, category in rows:
            if severity_value is None or category is None:
                continue
            self._vote(incident_id, _Vote(self._label(action, severity_value, category), 1.0, human=False))

    def _load_feedback(self, session: Session, after: int, upto: int) -> None:
        rows = session.execute(
            select(
                Feedback.incident_id,
                Feedback.action,
                Feedback.severity,
                Feedback.category,
                Decision.action,
                Decision.severity,
                Decision.category,
            )
            .outerjoin(Decision, Decision.id == Feedback.decision_id)
            .where(Feedback.id > after, Feedback.id <= upto)
            .order_by(Feedback.id)
            .execution_options(yield_per=_BATCH)
        )
        for incident_id, *said in rows:
            # A correction names what was wrong; the rest of the decision it judged stands.
            action, severity, category = (given or decided for given, decided in zip(said[:3], said[3:], strict=True))
            if action is None or severity is None or category is None:
                continue
            label = self._label(action, severity, category)
            self._vote(incident_id, _Vote(label, self.human_weight, human=True))
            self.discovery.relabel(incident_id, label, human=True)

    def _vote(self, incident_id: int, vote: _Vote) -> None:
        old = self._votes_of.get(incident_id)
        if old is not None and old.human and not vote.human:
            return  # a person's word outranks an outcome
        self._votes_of[incident_id] = vote
        template_id = self._template_of.get(incident_id)
        if template_id is not None:
            self._count(template_id, incident_id, old, vote)

    def _count(self, template_id: str, incident_id: int, old: _Vote | None, new: _Vote) -> None:
        votes = self._votes.get(template_id)
        if votes is None:
            votes = self._votes[template_id] = _Votes()
            template = self.miner.get(template_id)
            assert template is not None
            self._index(template_id, template.tokens)
        if old is not None:
            votes.add(old, incident_id, sign=-1.0)
        votes.add(new, incident_id)
        self._evidence.pop(template_id, None)

    def _index(self, template_id: str, tokens: tuple[str, ...]) -> None:
        self._indexed[template_id] = tokens
        self._evidence.pop(template_id, None)
        self.index.add(template_id, " ".join(tokens))

    def _label(self, action: str, severity: str, category: str) -> Label:
        label = Label(action, severity, category)
        return self._labels.setdefault(label, label)

    def describe(self) -> dict[str, Any]:
        """Sizes, for logs and benchmarks."""
        return {
            "incidents": self.incidents,
            "voters": self.voters,
            "templates": len(self.miner),
            "templates_with_votes": len(self._votes),
        }
