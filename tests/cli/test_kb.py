"""`liberation-guardian kb`: list, review, share patterns between instances without their names, purge."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import select

from liberation_guardian.cli import cli
from liberation_guardian.config.schema import LearningConfig
from liberation_guardian.events import Status
from liberation_guardian.knowledge.pack import load_pack
from liberation_guardian.learn.anonymize import Anonymizer
from liberation_guardian.learn.patterns import recalibrate
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Incident, Pattern, utcnow
from tests.learn.test_outcomes import THROTTLED, Store, open_store

SHARING = "learning:\n  community_sharing:\n    enabled: true\n"
# Everything an event says about the instance it came from.
HOST, IP, EMAIL, SERVICE, REPO = (
    "db-7.prod.acme-corp.com",
    "10.20.30.41",
    "oncall@acme-corp.com",
    "payouts-api",
    "acme/ledger",
)
STALLED = f"Reconciliation batch {{n}} stalled on {HOST} ({IP}); paged {EMAIL} for {SERVICE}"


def _config(folder: Path, extra: str = SHARING) -> Path:
    path = folder / "guardian.yml"
    path.write_text(f"core:\n  database_url: sqlite:///{folder / 'guardian.db'}\n{extra}", encoding="utf-8")
    return path


def _kb(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "kb", *args])


def _learned(pattern_id: str, regex: str, *, successes: int, status: str = "active") -> Pattern:
    now = utcnow()
    row = Pattern(
        id=pattern_id,
        origin="learned",
        status=status,
        title=f"Ledger reconciliation stalls on {HOST}",
        match={"any": [regex]},
        category="database",
        severity="medium",
        action="auto_acknowledge",
        runbook=f"Proposed from 3 incidents on {HOST}.\nAsk {EMAIL} who holds the ledger lock.",
        tags=["learned", SERVICE],
        occurrences=3,
        successes=successes,
        failures=0,
        confirmations=0,
        rejections=0,
        provenance={"template": "Reconciliation batch <num> stalled on <host>"},
        created_at=now,
        updated_at=now,
    )
    recalibrate(row, LearningConfig())
    return row


@pytest.fixture
def origin(tmp_path: Path) -> Store:
    """An instance whose learned pattern decided on events full of its own names."""
    folder = tmp_path / "origin"
    folder.mkdir()
    guardian = open_store(folder, SHARING)
    regex = r"\bReconciliation batch \d+ stalled on db-7\.prod\.acme-corp\.com \(10\.20\.30\.41\)"
    with transaction(guardian.sessions) as session:
        session.add(_learned("learned.ledger-stalled", regex, successes=3))
        session.add(_learned("learned.untried", r"\bledger export \d+ is late\b", successes=0))
    for n in (17, 18):
        guardian.send(STALLED.format(n=n), key=f"stalled-{n}", service=SERVICE, labels={"repository": REPO})
    guardian.engine.dispose()
    return guardian


def test_an_export_loads_elsewhere_with_provenance_and_without_names(origin: Store, tmp_path: Path) -> None:
    config = _config(tmp_path / "origin")
    shared = tmp_path / "shared.yml"
    exported = _kb(config, "export", str(shared))
    assert exported.exit_code == 0, exported.output
    assert "exported 1 patterns" in exported.output
    assert "left out learned.untried: confidence 0.60 is under 0.70" in exported.output
    lenient = _kb(config, "export", str(tmp_path / "lenient.yml"), "--min-confidence", "0.5")
    assert "left out learned.untried: it has not worked yet (no success or confirmation)" in lenient.output

    text = shared.read_text(encoding="utf-8")
    for name in (HOST, IP, EMAIL, SERVICE, REPO, "acme-corp", r"10\.20", "db-7"):
        assert name not in text, name
    folder = tmp_path / "pack"
    folder.mkdir()
    shutil.copy(shared, folder)
    [pattern] = load_pack(folder)  # the shipped pack's own loader reads it
    assert pattern.id == "shared.learned-ledger-stalled"
    assert pattern.match.any == [r"\bReconciliation batch \d+ stalled on \S+ \(\S+\)"]
    assert pattern.examples[0].text.startswith("Reconciliation batch 18 stalled on <host> (<ip>); paged <email>")
    assert pattern.provenance["origin"] == "learned" and pattern.provenance["original_id"] == "learned.ledger-stalled"
    assert pattern.provenance["evidence"]["successes"] == 3 and len(pattern.runbook) == 3
    assert pattern.tags == ["learned"]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config = _config(fresh)
    imported = _kb(config, "import", str(shared))
    assert imported.exit_code == 0, imported.output
    assert "imported 1 new and 0 updated patterns (proposed)" in imported.output
    listed = _kb(config, "list", "--origin", "community")
    assert listed.output.startswith("shared.learned-ledger-stalled  community proposed 0.60")
    guardian = open_store(fresh, SHARING)
    row = guardian.pattern("shared.learned-ledger-stalled")
    assert row.provenance["file"] == "shared.yml" and row.provenance["original_id"] == "shared.learned-ledger-stalled"
    assert row.provenance["upstream"]["original_id"] == "learned.ledger-stalled"
    assert row.provenance["imported_at"].startswith(str(utcnow().date()))

    reviewed = _kb(config, "review", "shared.learned-ledger-stalled", "--accept", "--by", "ana")
    assert reviewed.exit_code == 0 and "accepted: active, confidence 0.71" in reviewed.output
    incident = guardian.send(STALLED.format(n=99), key="stalled-99")
    [decision] = guardian.decisions(incident)
    assert (decision.action, decision.details["pattern_id"]) == ("auto_acknowledge", "shared.learned-ledger-stalled")

    again = _kb(config, "import", str(shared), "--activate")
    assert "imported 0 new and 1 updated patterns (active)" in again.output
    assert guardian.pattern("shared.learned-ledger-stalled").confirmations == 1  # evidence here is kept
    guardian.engine.dispose()


def test_names_stay_when_allowed_and_success_is_not_required_when_not_asked(origin: Store, tmp_path: Path) -> None:
    extra = SHARING + "    share_successful_patterns: false\n"
    config = _config(tmp_path / "origin", extra)
    shared = tmp_path / "named.yml"
    result = _kb(config, "export", str(shared), "--allow-names", "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(shared.read_text(encoding="utf-8"))
    assert [entry["id"] for entry in document["patterns"]] == ["named.learned-ledger-stalled"]
    assert HOST in shared.read_text(encoding="utf-8") and "names kept" in document["description"]
    assert "left out learned.untried: no example left that it matches" in result.output


def test_sharing_needs_to_be_switched_on_and_files_are_checked(origin: Store, tmp_path: Path) -> None:
    off = _config(tmp_path / "origin", "")
    refused = _kb(off, "export", str(tmp_path / "shared.yml"))
    assert refused.exit_code == 2 and "set learning.community_sharing.enabled: true" in refused.output
    config = _config(tmp_path / "origin")
    assert "lowercase name" in _kb(config, "export", str(tmp_path / "My Pack.yml")).output
    too_strict = _kb(config, "export", str(tmp_path / "shared.yml"), "--min-confidence", "0.99")
    assert too_strict.exit_code == 2 and "nothing to export" in too_strict.output
    assert not (tmp_path / "shared.yml").exists()

    broken = tmp_path / "broken.yml"
    broken.write_text(
        "version: 1\npatterns:\n  - id: broken.one\n    title: Broken\n    match: {any: ['(']}\n", encoding="utf-8"
    )
    result = _kb(config, "import", str(broken))
    assert result.exit_code == 2 and "broken.yml, pattern 'broken.one'" in result.output
    missing = _kb(config, "import", str(tmp_path / "nowhere.yml"))
    assert missing.exit_code == 2 and "nowhere.yml: no such file" in missing.output
    shipped = tmp_path / "python.yml"
    entry = {
        "id": "python.module-not-found",
        "title": "Imported over a shipped one",
        "match": {"any": ["No module named"]},
        "category": "dependency",
        "severity": "low",
        "action": "auto_acknowledge",
        "runbook": ["one step", "two steps", "three steps"],
        "examples": ["No module named 'x'"],
    }
    shipped.write_text(yaml.safe_dump({"version": 1, "patterns": [entry]}), encoding="utf-8")
    taken = _kb(config, "import", str(shipped))
    assert "skipped python.module-not-found: the id is taken by a shipped pattern" in taken.output


def test_review_lists_proposals_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    with transaction(guardian.sessions) as session:
        session.add(_learned("learned.proposal", r"\bledger export \d+ is late\b", successes=0, status="proposed"))
    guardian.engine.dispose()
    config = _config(tmp_path, "")
    listed = _kb(config, "review")
    assert listed.exit_code == 0 and "learned.proposal  learned   proposed 0.60" in listed.output
    assert r"match: \bledger export \d+ is late\b" in listed.output
    assert "medium -> auto_acknowledge" in listed.output
    assert "say --accept or --reject" in _kb(config, "review", "learned.proposal").output
    assert "needs the id" in _kb(config, "review", "--accept").output
    rejected = _kb(config, "review", "learned.proposal", "--reject", "--comment", "too broad")
    assert rejected.exit_code == 0 and "learned.proposal rejected: rejected" in rejected.output
    again = _kb(config, "review", "learned.proposal", "--accept")
    assert again.exit_code == 2 and "is rejected, not proposed" in again.output
    assert "no pattern nope" in _kb(config, "review", "nope", "--accept").output
    assert _kb(config, "review").output.strip() == "no proposed patterns"
    assert "learned.proposal" in _kb(config, "list", "--status", "rejected").output
    assert _kb(config, "list", "--origin", "community").output.strip() == "no patterns"


def test_purge_deletes_old_history_now(tmp_path: Path) -> None:
    guardian = open_store(tmp_path)
    old = utcnow() - timedelta(days=400)
    incident = guardian.send(THROTTLED, key="throttle", received_at=old)
    guardian.send(THROTTLED, key="throttle", status=Status.resolved, received_at=old + timedelta(days=1))
    config = _config(tmp_path, "")
    result = _kb(config, "purge")
    assert result.exit_code == 0 and result.output.startswith("deleted what was older than 365 days:")
    assert "1 incidents" in result.output and "2 events" in result.output
    with guardian.sessions() as session:
        assert session.scalar(select(Incident).where(Incident.id == incident)) is None
    assert _kb(config, "purge").output.strip() == "nothing older than 365 days"
    guardian.engine.dispose()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://grafana.acme-corp.com/d/x?var=1 now", "see <url> now"),
        ("from fe80::1ff:fe23:4567:890a and 2001:db8::8a2e:370:7334", "from <ip> and <ip>"),
        ("at 12:30:45 psycopg2.OperationalError java.lang.OutOfMemoryError", None),  # no name in there
        ("payouts-api on node-17.cluster.local", "<name> on <host>"),
        ("mail to Oncall@Acme-Corp.com", "mail to <email>"),
    ],
)
def test_the_anonymizer_takes_out_names_and_leaves_the_rest(text: str, expected: str | None) -> None:
    anonymizer = Anonymizer([SERVICE])
    assert anonymizer.text(text) == (text if expected is None else expected)


def test_names_inside_a_regex_become_wildcards_that_still_match() -> None:
    anonymizer = Anonymizer([SERVICE])
    for regex, text in (
        (
            r"\bpayouts-api: connect to db-7\.prod\.acme-corp\.com:\d+ failed",
            "payouts-api: connect to h.b.com:5 failed",
        ),
        (r"\bfrom 10\.20\.30\.\d+ refused", "from 10.20.30.41 refused"),
        (r"(?P<user>\w+)@acme-corp\.com locked out", "ana@acme-corp.com locked out"),
    ):
        cleaned = anonymizer.regex(regex)
        assert "acme" not in cleaned and "payouts" not in cleaned and "10\\.20" not in cleaned, cleaned
        assert re.search(cleaned, text), (cleaned, text)
    assert anonymizer.regex(r"\bModuleNotFoundError: No module named '(\w+)'") == (
        r"\bModuleNotFoundError: No module named '(\w+)'"
    )
