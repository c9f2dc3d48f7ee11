"""Count the labeled corpus by source, category and severity, as the Markdown tables of docs/eval.md.

    python eval/counts.py                 # the tables for eval/corpus
    python eval/counts.py path/to/corpus  # for another folder of <source>.jsonl files

Only the standard library is used, so the script runs without the package installed.
tests/eval/test_corpus.py checks that the tables pasted in docs/eval.md are the ones this prints.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
ACTIONS = ("escalate", "auto_fix", "investigate", "auto_acknowledge")
SEVERITIES = ("critical", "high", "medium", "low", "info")


def read_corpus(folder: Path = CORPUS) -> list[dict[str, Any]]:
    """Every line of every `<source>.jsonl` in `folder`, decoded, file by file in name order."""
    entries = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path.name} line {number}: not JSON: {exc.msg}") from None
    return entries


def tables(entries: Sequence[dict[str, Any]]) -> str:
    """The summary line and the tables by source, by category and by severity."""
    total = len(entries)
    must = sum(1 for entry in entries if entry["must_escalate"])
    injected = sum(1 for entry in entries if entry.get("injection"))
    summary = (
        f"{total} events from {len({entry['source'] for entry in entries})} sources; "
        f"{must} must escalate ({must / total:.0%}); {injected} carry a prompt injection."
    )
    return "\n\n".join(
        [
            summary,
            _table("source", entries, lambda entry: entry["source"], with_must=True),
            _table("category", entries, lambda entry: entry["expected"]["category"]),
            _table("severity", entries, lambda entry: entry["expected"]["severity"], order=SEVERITIES),
        ]
    )


def _table(
    title: str,
    entries: Sequence[dict[str, Any]],
    key: Any,
    *,
    with_must: bool = False,
    order: Iterable[str] | None = None,
) -> str:
    rows: dict[str, Counter[str]] = {}
    for entry in entries:
        counts = rows.setdefault(key(entry), Counter())
        counts["events"] += 1
        counts[entry["expected"]["action"]] += 1
        counts["must_escalate"] += bool(entry["must_escalate"])
    columns = ["events", *ACTIONS, *(["must_escalate"] if with_must else [])]
    names = [name for name in order if name in rows] if order else sorted(rows)
    totals: Counter[str] = sum(rows.values(), Counter())
    lines = [
        f"| {title} | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *(f"| {name} | " + " | ".join(str(rows[name][column]) for column in columns) + " |" for name in names),
        "| **total** | " + " | ".join(str(totals[column]) for column in columns) + " |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    folder = Path(argv[0]) if argv else CORPUS
    entries = read_corpus(folder)
    if not entries:
        raise SystemExit(f"no events found in {folder}/*.jsonl")
    print(tables(entries))


if __name__ == "__main__":
    main(sys.argv[1:])
