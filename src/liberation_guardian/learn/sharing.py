"""Sharing patterns between instances: an anonymized pack out, a community pack in.

`export_pack` writes the patterns this instance learned, was given by people or imported
(active ones, not the shipped pack everybody has) as one pattern file in the shipped
pack's format, so `load_pack` and `import_pack` read it. Each pattern carries its
provenance (origin, original id, confidence and evidence, when it was exported) and one
to three examples: the events its decisions were made on. With
`learning.community_sharing.anonymize_data`, unless names are allowed, URLs, email and IP
addresses, host names and the names the store knows (services, repositories, hosts) are
taken out of regexes, titles, runbooks, tags and examples; a pattern that no longer
matches any of its examples afterwards is left out, with the reason. With
`share_successful_patterns` only patterns that have worked (a success or a confirmation,
and a confidence at the threshold) are shared.

`import_pack` checks a file with `load_pack` and stores its patterns with origin
`community`, `proposed` for review unless activated, keeping where each came from (file,
date, id in the file, and the provenance written by the exporting instance). Nothing
happens unless `learning.community_sharing.enabled` is true.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.knowledge.pack import PackError, load_pack, shipped_pack
from liberation_guardian.knowledge.pack import Pattern as PackPattern
from liberation_guardian.learn.anonymize import Anonymizer, known_names
from liberation_guardian.learn.confidence import Evidence, calibrate
from liberation_guardian.learn.patterns import definition
from liberation_guardian.store.models import Decision, Event, Pattern

_STEM = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_EXAMPLE_CHARS = 2000
_CANDIDATES = 20
# A learned pattern often has a one-line runbook; the pack format wants three steps, and these hold for any pattern.
_GENERIC_STEPS = (
    "Compare the event with this pattern's examples to confirm it is the same problem.",
    "Look at how the last incidents it matched were handled, and what people said of them.",
    "Write down what fixed it this time, so the runbook can say it.",
)


class SharingError(Exception):
    """Sharing is switched off, or a file cannot be written or read; the message says which and why."""


@dataclass
class Exported:
    """What an export wrote, and what it left out and why."""

    path: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Imported:
    """What an import added, updated and refused, and why."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def export_pack(
    session: Session,
    path: Path,
    *,
    learning: LearningConfig,
    now: datetime,
    allow_names: bool = False,
    min_confidence: float | None = None,
) -> Exported:
    """Write the shareable patterns to `path` as a pattern file; SharingError when there is nothing to share."""
    sharing = learning.community_sharing
    _require_sharing(learning)
    stem = path.stem
    if path.suffix != ".yml" or not _STEM.match(stem):
        raise SharingError(
            f"{path.name}: name the file <name>.yml with a lowercase name (letters, digits, - and _), "
            "because the patterns' ids start with it"
        )
    threshold = learning.knowledge_base.pattern_confidence_threshold
    floor = min_confidence if min_confidence is not None else (threshold if sharing.share_successful_patterns else 0.0)
    anonymize = sharing.anonymize_data and not allow_names
    anonymizer = Anonymizer(known_names(session)) if anonymize else None
    result = Exported(path)
    entries: list[dict[str, Any]] = []
    rows = session.scalars(
        select(Pattern).where(Pattern.status == "active", Pattern.origin != "builtin").order_by(Pattern.id)
    ).all()
    for row in rows:
        if row.confidence < floor:
            result.skipped.append((row.id, f"confidence {row.confidence:.2f} is under {floor:.2f}"))
            continue
        if sharing.share_successful_patterns and row.successes + row.confirmations == 0:
            result.skipped.append((row.id, "it has not worked yet (no success or confirmation)"))
            continue
        entry, reason = _entry(session, row, stem, anonymizer, now)
        if entry is None:
            result.skipped.append((row.id, reason))
            continue
        entries.append(entry)
        result.written.append(entry["id"])
    if not entries:
        raise SharingError(
            f"nothing to export: no active learned, community or human pattern qualifies ({len(rows)} considered)"
        )
    note = "names removed" if anonymize else "names kept"
    document = {
        "version": 1,
        "description": f"Patterns shared by a Liberation Guardian instance on {now:%Y-%m-%d} ({note}).",
        "patterns": entries,
    }
    try:
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    except OSError as exc:
        raise SharingError(f"{path}: cannot write: {exc.strerror}") from None
    return result


def import_pack(
    session: Session, path: Path, *, learning: LearningConfig, now: datetime, activate: bool = False
) -> Imported:
    """Check `path` with `load_pack` and store its patterns as origin `community`."""
    _require_sharing(learning)
    if not path.is_file():
        raise SharingError(f"{path}: no such file")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(path, Path(folder) / path.name)
        try:
            pack = load_pack(Path(folder))
        except PackError as exc:
            raise SharingError(f"{path}: {exc}") from None
    shipped = {pattern.id for pattern in shipped_pack()}
    result = Imported()
    for pattern in pack:
        row = session.get(Pattern, pattern.id)
        if pattern.id in shipped or (row is not None and row.origin != "community"):
            taken = "a shipped pattern" if pattern.id in shipped else f"a {row.origin if row else ''} pattern"
            result.skipped.append((pattern.id, f"the id is taken by {taken}"))
            continue
        provenance = {
            "file": path.name,
            "imported_at": now.isoformat(),
            "original_id": pattern.id,
            "pack_version": pack.versions.get(path.name, 1),
            "upstream": pattern.provenance,
            "examples": [example.model_dump(mode="json", exclude_none=True) for example in pattern.examples],
        }
        if row is None:
            row = Pattern(
                id=pattern.id,
                origin="community",
                status="active" if activate else "proposed",
                occurrences=0,
                successes=0,
                failures=0,
                confirmations=0,
                rejections=0,
                confidence=calibrate(Evidence(), "community", learning.feedback_loop),
                created_at=now,
            )
            session.add(row)
            result.added.append(pattern.id)
        else:
            if activate:
                row.status = "active"
            result.updated.append(pattern.id)
        for name, value in definition(pattern).items():
            setattr(row, name, value)
        row.provenance = provenance
        row.updated_at = now
    session.flush()
    return result


def _require_sharing(learning: LearningConfig) -> None:
    if not learning.community_sharing.enabled:
        raise SharingError("community sharing is off: set learning.community_sharing.enabled: true to share patterns")


def _entry(
    session: Session, row: Pattern, stem: str, anonymizer: Anonymizer | None, now: datetime
) -> tuple[dict[str, Any] | None, str]:
    """The pack entry of one row, anonymized and checked; (None, why) when it cannot be shared."""

    def clean(text: str) -> str:
        return anonymizer.text(text) if anonymizer else text

    def clean_regex(regex: str) -> str:
        return anonymizer.regex(regex) if anonymizer else regex

    spec = dict(row.match or {})
    match: dict[str, Any] = {"any": [clean_regex(regex) for regex in spec.get("any") or []]}
    if spec.get("exception_type"):
        match["exception_type"] = clean_regex(spec["exception_type"])
    for key in ("sources", "kinds"):
        if spec.get(key):
            match[key] = list(spec[key])
    steps = [clean(line.strip()) for line in (row.runbook or "").splitlines() if len(line.strip()) >= 3]
    steps = steps[:8] if len(steps) >= 3 else steps + list(_GENERIC_STEPS[: 3 - len(steps)])
    title = clean(row.title).strip()[:120]
    tags = [tag for tag in (row.tags or []) if isinstance(tag, str) and _SLUG.match(tag) and clean(tag) == tag]
    name = _slug(clean(row.id))
    entry: dict[str, Any] = {
        "id": f"{stem}.{name}",
        "title": title if len(title) >= 3 else f"Shared pattern {name}",
        "match": match,
        "category": row.category,
        "severity": row.severity,
        "action": row.action,
        "runbook": steps,
    }
    if row.fix_template:
        entry["fix_template"] = row.fix_template
    if tags:
        entry["tags"] = tags
    entry["provenance"] = {
        "origin": row.origin,
        "original_id": clean(row.id),
        "exported_at": now.isoformat(),
        "confidence": row.confidence,
        "evidence": {
            "occurrences": row.occurrences,
            "successes": row.successes,
            "failures": row.failures,
            "confirmations": row.confirmations,
            "rejections": row.rejections,
        },
    }
    problem = _problem(entry)
    if problem:
        return None, f"not a valid pattern{' after anonymizing' if anonymizer else ''}: {problem}"
    examples = _examples(session, row, clean, entry)
    if not examples:
        return None, "no example left that it matches" + (" after anonymizing" if anonymizer else "")
    entry["examples"] = examples
    return entry, ""


def _problem(entry: dict[str, Any]) -> str:
    """What makes the entry an invalid pattern, examples aside ("" when nothing does)."""
    try:
        PackPattern.model_validate({**entry, "examples": []})
    except ValidationError as exc:
        problems = [error for error in exc.errors(include_url=False) if error["loc"][:1] != ("examples",)]
        if problems:
            where = ".".join(str(part) for part in problems[0]["loc"])
            return f"{where}: {problems[0]['msg'].removeprefix('Value error, ')}"
    return ""


def _examples(
    session: Session, row: Pattern, clean: Callable[[str], str], entry: dict[str, Any]
) -> list[dict[str, Any]]:
    """Up to three cleaned event texts the cleaned pattern still matches."""
    chosen: list[dict[str, Any]] = []
    for candidate in _candidates(session, row):
        example = {key: value for key, value in candidate.items() if value}
        example["text"] = clean(str(example.get("text", "")))[:_EXAMPLE_CHARS]
        if "exception_type" in example:
            example["exception_type"] = clean(example["exception_type"])
        for key in ("source", "kind"):
            if key in example and not _SLUG.match(str(example[key])):
                del example[key]
        if not example["text"].strip() or example in chosen:
            continue
        try:
            PackPattern.model_validate({**entry, "examples": [example]})
        except ValidationError:
            continue  # the cleaned pattern does not match this one
        chosen.append(example)
        if len(chosen) == 3:
            break
    return chosen


def _candidates(session: Session, row: Pattern) -> list[dict[str, Any]]:
    """Example events for a row: those kept with it, then those its decisions were made on."""
    found: list[dict[str, Any]] = []
    for kept in (row.provenance or {}).get("examples") or []:
        found.append(kept if isinstance(kept, dict) else {"text": str(kept)})
    events = session.execute(
        select(Event.title, Event.message, Event.source, Event.kind, Event.exception_type)
        .join(Decision, Decision.event_id == Event.id)
        .where(Decision.matched == f"knowledge: {row.id}")
        .order_by(Decision.id.desc())
        .limit(_CANDIDATES)
    )
    for title, message, source, kind, exception_type in events:
        text = f"{title}\n{message}" if message and message != title else title
        found.append({"text": text, "source": source, "kind": kind, "exception_type": exception_type})
    incident_ids = [value for value in (row.provenance or {}).get("incidents") or [] if isinstance(value, int)]
    if incident_ids:
        first = session.execute(
            select(Event.title, Event.message, Event.source, Event.kind, Event.exception_type)
            .where(Event.incident_id.in_(incident_ids[:_CANDIDATES]))
            .order_by(Event.id)
            .limit(_CANDIDATES)
        )
        for title, message, source, kind, exception_type in first:
            text = f"{title}\n{message}" if message and message != title else title
            found.append({"text": text, "source": source, "kind": kind, "exception_type": exception_type})
    return found


def _slug(pattern_id: str) -> str:
    """A stored id as the name part of an exported id: `learned.abc` becomes `learned-abc`."""
    return re.sub(r"[^a-z0-9_-]+", "-", pattern_id.lower()).strip("-") or "pattern"
