"""New pattern discovery: recurring problems no known pattern recognized become proposals for review.

When `learning.knowledge_base.min_occurrences_for_pattern` distinct incidents share one
message template and none of them was decided by a known pattern (their first decision's
`decided_by` is not `knowledge`), a `patterns` row is written with status `proposed` and
origin `learned`:

- id `learned.<template id>`, so a template is proposed at most once, and a proposal a
  person rejected stays rejected (its row keeps the id);
- `match.any` is one regex built from the template: literal text escaped, each
  placeholder a short non-greedy wildcard within its token, tokens separated by `\\s+`;
- category, severity and action are the weighted majority of those incidents' labels: a
  person's feedback (weighted by `human_feedback_weight`) where there is some, otherwise
  the decision's; ties go to the more cautious value;
- the runbook says where the proposal came from; `provenance` keeps the template, its
  id, the incident ids and up to three example texts.

`Discovery` only collects; `learn/memory.py` feeds it while it syncs and calls `propose`
at the end of the sync, inside the transaction that processes the event, so a proposal
commits with that event or not at all. A template with fewer than two literal words is
never proposed: its regex would match almost anything.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liberation_guardian.events import Severity
from liberation_guardian.knowledge.templates import WILDCARD, Template, TemplateMiner
from liberation_guardian.store.models import Event, Pattern, utcnow

ORIGIN = "learned"
STATUS = "proposed"
MAX_EXAMPLES = 3
# Kept in provenance; a busy template would otherwise carry thousands of ids.
MAX_INCIDENT_IDS = 50

# Ties between actions go to the one that involves a person most.
_CAUTION = {"escalate": 3, "investigate": 2, "auto_fix": 1, "auto_acknowledge": 0}
_PIECE = re.compile(r"(<(?:url|email|time|uuid|ip|path|str|dur|hex|num)>)")
_LITERAL_WORD = re.compile(r"[^\W\d_]{3,}")
# A quoted string is the one placeholder that may span spaces; every other one stays inside its token.
_STRING = r"""(?:'[^'\n]*'|"[^"\n]*")"""


class Label(NamedTuple):
    """How an incident was (or should have been) handled."""

    action: str
    severity: str
    category: str


def pattern_id(template_id: str) -> str:
    """The id of the pattern proposed for a template."""
    return f"{ORIGIN}.{template_id}"


def template_regex(tokens: Iterable[str]) -> str | None:
    """A regex matching the texts of a template, or None when it has fewer than two literal words."""
    parts: list[str] = []
    literal_words = 0
    for token in tokens:
        if token == WILDCARD:
            parts.append(r"\S+")
            continue
        pieces = [piece for piece in _PIECE.split(token) if piece]
        regex = ""
        for piece in pieces:
            if piece == "<str>":
                regex += _STRING
            elif _PIECE.fullmatch(piece):
                regex += r"\S+?"
            else:
                regex += re.escape(piece)
                literal_words += len(_LITERAL_WORD.findall(piece))
        parts.append(regex)
    if literal_words < 2:
        return None
    regex = r"\s+".join(parts)
    # A leading word is bounded, so the pattern index can file the regex under it.
    return rf"\b{regex}" if re.match(r"\w", parts[0]) else regex


def majority(labels: Iterable[tuple[Label, float]]) -> Label:
    """The weighted majority action, severity and category; ties go to the more cautious value."""
    actions: dict[str, float] = defaultdict(float)
    severities: dict[str, float] = defaultdict(float)
    categories: dict[str, float] = defaultdict(float)
    for label, weight in labels:
        actions[label.action] += weight
        severities[label.severity] += weight
        categories[label.category] += weight
    if not actions:
        raise ValueError("a majority needs at least one label")
    return Label(
        max(actions, key=lambda action: (actions[action], _CAUTION.get(action, 0), action)),
        max(severities, key=lambda severity: (severities[severity], _rank(severity), severity)),
        # A named category says more than `other`; further ties go to the first name alphabetically.
        max(sorted(categories), key=lambda category: (categories[category], category != "other")),
    )


def _rank(severity: str) -> int:
    return Severity(severity).rank if severity in Severity.__members__ else -1


class Discovery:
    """Counts the unknown incidents of each template and proposes a pattern when a template recurs enough.

    Usage (what `IncidentMemory.sync` does)::

        discovery = Discovery(min_occurrences=3)
        discovery.note(template.id, incident_id, label, unknown=decision.decided_by != "knowledge")
        discovery.relabel(incident_id, corrected_label, human=True)
        discovery.propose(session, miner)   # the Pattern rows written
    """

    def __init__(self, *, min_occurrences: int, human_weight: float = 2.0) -> None:
        self.min_occurrences = max(1, min_occurrences)
        self.human_weight = human_weight
        self._pending: dict[str, dict[int, tuple[Label, float]]] = {}
        self._template_of: dict[int, str] = {}
        self._human: set[int] = set()
        self._done: set[str] = set()
        self._due: set[str] = set()

    @property
    def due(self) -> bool:
        """Whether some template reached the threshold since the last `propose`."""
        return bool(self._due)

    def note(self, template_id: str, incident_id: int, label: Label, *, unknown: bool) -> None:
        """Count an incident met for the first time, with its decision's label, if no known pattern decided it."""
        if not unknown or template_id in self._done:
            return
        incidents = self._pending.setdefault(template_id, {})
        incidents[incident_id] = (label, 1.0)
        self._template_of[incident_id] = template_id
        if len(incidents) >= self.min_occurrences:
            self._due.add(template_id)

    def relabel(self, incident_id: int, label: Label, *, human: bool) -> None:
        """A later decision, or a person's feedback, on a counted incident; a person's word is not overridden."""
        template_id = self._template_of.get(incident_id)
        if template_id is None:
            return
        if human:
            self._human.add(incident_id)
        elif incident_id in self._human:
            return
        self._pending[template_id][incident_id] = (label, self.human_weight if human else 1.0)

    def propose(self, session: Session, miner: TemplateMiner) -> list[Pattern]:
        """Write a proposal for every template that reached the threshold and has none yet."""
        due = sorted(self._due)
        self._due.clear()
        ids = {pattern_id(template_id): template_id for template_id in due}
        existing = set(session.scalars(select(Pattern.id).where(Pattern.id.in_(ids))))
        written: list[Pattern] = []
        for pid, template_id in ids.items():
            incidents = self._pending.pop(template_id)
            self._done.add(template_id)
            for incident_id in incidents:
                del self._template_of[incident_id]
                self._human.discard(incident_id)
            template = miner.get(template_id)
            if pid in existing or template is None:
                continue
            pattern = _proposal(session, pid, template, incidents)
            if pattern is not None:
                session.add(pattern)
                written.append(pattern)
        if written:
            session.flush()
        return written


def _proposal(
    session: Session, pid: str, template: Template, incidents: Mapping[int, tuple[Label, float]]
) -> Pattern | None:
    regex = template_regex(template.tokens)
    if regex is None:
        return None
    ids = sorted(incidents)
    examples = _examples(session, ids[:MAX_EXAMPLES])
    compiled = re.compile(regex, re.IGNORECASE)
    if not examples or any(compiled.search(text) is None for text in examples):
        return None  # the template no longer describes its own incidents; nothing trustworthy to propose
    label = majority(incidents.values())
    listed = ", ".join(f"#{number}" for number in ids[:10]) + (" and more" if len(ids) > 10 else "")
    now = utcnow()
    return Pattern(
        id=pid,
        origin=ORIGIN,
        status=STATUS,
        title=_title(template.text),
        match={"any": [regex]},
        category=label.category,
        severity=label.severity,
        action=label.action,
        runbook="\n".join(
            [
                f"Proposed from {len(ids)} incidents ({listed}) that no known pattern recognized and that share "
                f"the message template `{template.text}`.",
                f"They were mostly handled as {label.action} at {label.severity} severity ({label.category}); "
                "check that this is what the problem deserves.",
                "Read the incidents, write the steps that solved them here, and tighten the regex before accepting.",
            ]
        ),
        tags=["learned"],
        occurrences=len(ids),
        provenance={
            "template": template.text,
            "template_id": template.id,
            "incidents": ids[:MAX_INCIDENT_IDS],
            "examples": examples,
            "proposed_at": now.isoformat(),
        },
        created_at=now,
        updated_at=now,
    )


def _examples(session: Session, incident_ids: list[int]) -> list[str]:
    """The text of the first event of each incident: title, then message when it says more."""
    first = (
        select(func.min(Event.id)).where(Event.incident_id.in_(incident_ids)).group_by(Event.incident_id)
    ).scalar_subquery()
    rows = session.execute(select(Event.title, Event.message).where(Event.id.in_(first)).order_by(Event.id))
    return [incident_text(title, message) for title, message in rows]


def incident_text(title: str, message: str | None) -> str:
    """The text an incident is remembered by, the same as `Case.text`."""
    return f"{title}\n{message}" if message and message != title else title


def _title(template: str) -> str:
    text = " ".join(template.split())
    title = f"Recurring: {text}"
    return title if len(title) <= 120 else title[:117] + "..."
