"""`liberation-guardian eval` scores the chain on a labeled corpus with the figures the issue names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from liberation_guardian.cli import cli
from liberation_guardian.config import load_text
from liberation_guardian.learn.examples import shipped_examples
from liberation_guardian.pipeline.build import build_chain
from liberation_guardian.triage.base import TriageChain
from liberation_guardian.triage.classify import Classifier
from liberation_guardian.triage.evaluate import evaluate, read_corpus


def alert(name: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "guardian",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "groupLabels": {"alertname": name},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": severity, "instance": "db-1"},
                "annotations": {"summary": summary},
                "startsAt": "2026-11-27T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": name.lower(),
            }
        ],
    }


def line(id_: str, payload: dict[str, Any], action: str, severity: str, category: str, must: bool) -> str:
    expected = {"action": action, "severity": severity, "category": category}
    return json.dumps(
        {"id": id_, "source": "alertmanager", "payload": payload, "expected": expected, "must_escalate": must}
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = [
        # Right on every count.
        line(
            "am-1", alert("PostgresDown", "critical", "Database db-1 is down"), "escalate", "critical", "database", True
        ),
        # Must escalate, but the tool called it a warning: the chain investigates (a miss in critical recall).
        line("am-2", alert("DiskFull", "warning", "Disk full on db-1"), "escalate", "medium", "infrastructure", True),
        # Informational: nothing claims it, so it is acknowledged, as labelled.
        line("am-3", alert("Blip", "info", "Brief latency blip"), "auto_acknowledge", "info", "performance", False),
    ]
    (folder / "alertmanager.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def run(tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "c.yml"
    config.write_text("")
    return CliRunner().invoke(cli, ["--config", str(config), "eval", *args])


def test_the_figures(tmp_path: Path, corpus: Path) -> None:
    result = run(tmp_path, str(corpus), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["events"] == 3
    assert figures["action_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["severity_accuracy"] == pytest.approx(3 / 3, abs=1e-4)
    assert figures["critical_recall"] == 0.5
    assert figures["unsafe_acknowledgements"] == 0
    assert 0 <= figures["expected_calibration_error"] <= 1
    assert figures["errors"] == []


def test_the_table_and_the_wrong_decisions(tmp_path: Path, corpus: Path) -> None:
    result = run(tmp_path, str(corpus), "--show-errors")
    assert result.exit_code == 0, result.output
    assert "critical recall" in result.output and "0.500" in result.output.split("critical recall")[1].splitlines()[0]
    assert "am-2: investigate/medium/database (expected escalate/medium/infrastructure) by classifier" in result.output


def test_a_broken_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "source": "alertmanager", "payload": {}}\n')
    result = run(tmp_path, str(bad))
    assert result.exit_code == 2 and f"{bad}:1: not a corpus line (KeyError" in result.output


def test_a_learning_chain_is_scored_on_lines_it_did_not_learn_from(corpus: Path) -> None:
    held_out: list[frozenset[str]] = []

    def chain_for(held: frozenset[str]) -> TriageChain:
        held_out.append(held)
        return build_chain(load_text("", {}, base_dir=Path(".")), holdout=held)

    report = evaluate(chain_for, read_corpus(corpus), folds=3)
    assert report.events == 3
    assert len(held_out) == 3
    assert sorted(id for held in held_out for id in held) == ["am-1", "am-2", "am-3"]  # each line in exactly one fold


def test_a_recovery_counts_as_a_quiet_acknowledgement(tmp_path: Path) -> None:
    payload = alert("DiskFull", "critical", "Disk full on db-1")
    payload["status"] = payload["alerts"][0]["status"] = "resolved"
    corpus = tmp_path / "r.jsonl"
    corpus.write_text(line("am-9", payload, "auto_acknowledge", "info", "infrastructure", False) + "\n")
    [outcome] = evaluate(build_chain(load_text("", {}, base_dir=Path("."))), read_corpus(corpus)).outcomes
    assert (outcome.verdict.action.value, outcome.verdict.decided_by) == ("auto_acknowledge", "recovery")


def test_the_shipped_model_never_sees_the_lines_it_is_scored_on() -> None:
    # The held-out chain's classifier learned from every shipped example but the held-out ones.
    held = frozenset({"sentry-001", "github-005"})
    chain = build_chain(load_text("", {}, base_dir=Path(".")), holdout=held)
    [classifier] = [d for d in chain.deciders if isinstance(d, Classifier)]
    learned = {example.id for example in classifier.examples}
    assert not learned & held
    assert learned | held >= {example.id for example in shipped_examples()}
