"""New pattern discovery: recurring unknown incidents become proposed patterns, once, with a working regex."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from liberation_guardian.config import load_text
from liberation_guardian.decide.policy import Policy
from liberation_guardian.knowledge._literals import branches
from liberation_guardian.knowledge.pack import MatchSpec
from liberation_guardian.knowledge.templates import TemplateMiner, tokenize
from liberation_guardian.learn.discover import Label, majority, template_regex
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Decision, Pattern
from tests.fixtures.server import running_server
from tests.knowledge.test_templates import _fixture_texts
from tests.triage.test_similar import STALLED, STALLED_MESSAGE, Pipeline


def _pipeline(tmp_path: Path, min_occurrences: int) -> Pipeline:
    yaml = f"learning:\n  knowledge_base:\n    min_occurrences_for_pattern: {min_occurrences}\n"
    config = load_text(yaml, {}, base_dir=tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'guardian.db'}")
    migrate(engine)
    factory = sessions(engine)
    policy = Policy(config)
    return Pipeline(engine, factory, Processor(factory, build_stages(config, policy), dispatcher=policy.dispatcher))


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    built = _pipeline(tmp_path, 3)
    yield built
    built.engine.dispose()


def _proposals(pipeline: Pipeline) -> list[Pattern]:
    with pipeline.sessions() as session:
        return list(session.scalars(select(Pattern).where(Pattern.origin == "learned").order_by(Pattern.id)))


def _texts(numbers: tuple[int, ...]) -> list[str]:
    return [f"{STALLED.format(n=n)}\n{STALLED_MESSAGE.format(n=n)}" for n in numbers]


def test_a_template_recurring_in_unknown_incidents_is_proposed_once(pipeline: Pipeline) -> None:
    incidents = [pipeline.stalled(n) for n in (17, 29)]
    assert _proposals(pipeline) == []
    incidents.append(pipeline.stalled(31))
    pipeline.feedback(incidents[0], action="escalate", severity="high", category="database")
    pipeline.send("Unrelated problem report", key="other")  # the next sync writes the proposal
    [proposal] = _proposals(pipeline)
    assert {pipeline.decision(incident).action for incident in incidents[1:]} == {"investigate"}
    assert proposal.status == "proposed" and proposal.origin == "learned"
    assert proposal.id == f"learned.{proposal.provenance['template_id']}"
    assert proposal.provenance["incidents"] == incidents
    assert proposal.provenance["template"] == "Reconciliation batch <num> stalled on ledger-<num> " + (
        "worker ledger-<num> waited <dur> for lock on ledger_rows"
    )
    assert proposal.provenance["examples"] == _texts((17, 29, 31))
    # Two decisions against one correction of weight 2: ties, which go to the more cautious action and severity.
    assert (proposal.action, proposal.severity, proposal.category) == ("escalate", "high", "database")
    assert proposal.occurrences == 3 and "Proposed from 3 incidents" in proposal.runbook
    MatchSpec.model_validate(proposal.match)  # the pack's shape, so review can activate it as is
    [regex] = proposal.match["any"]
    for text in _texts((17, 29, 31, 4242)):
        assert re.search(regex, text, re.I), text
    assert not re.search(regex, "Reconciliation batch 7 finished on ledger-2", re.I)
    assert branches(regex)[0].words >= {"reconciliation", "batch", "stalled", "worker", "waited", "lock"}

    for n in (40, 41, 42):
        pipeline.stalled(n)
    pipeline.send("Another unrelated report", key="other-2")
    assert [row.id for row in _proposals(pipeline)] == [proposal.id]


def test_a_rejected_proposal_stays_rejected_after_a_restart(tmp_path: Path) -> None:
    first = _pipeline(tmp_path, 2)
    for n in (1, 2):
        first.stalled(n)
    first.send("Unrelated problem report", key="other")
    [proposal] = _proposals(first)
    with transaction(first.sessions) as session:
        row = session.get(Pattern, proposal.id)
        assert row is not None
        row.status = "rejected"
    first.engine.dispose()
    restarted = _pipeline(tmp_path, 2)  # a fresh process: its memory rebuilds from the store
    for n in (3, 4, 5):
        restarted.stalled(n)
    [again] = _proposals(restarted)
    assert again.status == "rejected" and again.provenance == proposal.provenance
    restarted.engine.dispose()


def test_incidents_a_known_pattern_decided_are_not_proposed(pipeline: Pipeline) -> None:
    for n, package in enumerate(("requests", "yaml", "boto3", "numpy")):
        pipeline.send(f"ModuleNotFoundError: No module named '{package}'", key=f"module-{n}")
    with pipeline.sessions() as session:
        assert set(session.scalars(select(Decision.decided_by))) == {"knowledge"}
    assert _proposals(pipeline) == []


def test_a_template_with_too_little_literal_text_is_not_proposed(pipeline: Pipeline) -> None:
    for n in range(4):
        pipeline.send(f"job-{n} {n * 11}ms", key=f"job-{n}")
    pipeline.send("Unrelated problem report", key="other")
    assert _proposals(pipeline) == []
    assert template_regex(("job-<num>", "<dur>")) is None


def test_majority_is_weighted_and_ties_go_to_caution() -> None:
    quiet = Label("auto_acknowledge", "low", "network")
    loud = Label("escalate", "high", "database")
    assert majority([(quiet, 1.0), (quiet, 1.0), (loud, 1.0)]) == quiet
    assert majority([(quiet, 1.0), (quiet, 1.0), (loud, 2.0)]) == loud
    assert majority([(quiet._replace(category="other"), 1.0), (quiet, 1.0)]).category == "network"
    with pytest.raises(ValueError, match="at least one label"):
        majority([])


def test_regexes_of_real_webhook_texts_match_their_own_incidents(fixtures_dir: Path) -> None:
    texts = _fixture_texts(fixtures_dir)
    miner = TemplateMiner()
    ids = [miner.add(text).id for text in texts]
    proposable = 0
    for text, template_id in zip(texts, ids, strict=True):
        template = miner.get(template_id)
        assert template is not None
        regex = template_regex(template.tokens)
        if regex is None:
            continue
        proposable += 1
        assert re.search(regex, text, re.I), (regex, text)
        assert any(branch.words for branch in branches(regex)), regex  # the pattern index can file it
    assert proposable > len(texts) // 2


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["timeout", "failed", "on", "host", "db", "(x)", "a.b", "[1]", "$HOME", "'quoted value'"]),
            st.from_regex(r"[a-z]{3,8}(-\d{1,3})?", fullmatch=True),
            st.from_regex(r"\d{1,5}(ms|%|s)?", fullmatch=True),
            st.text(alphabet="\\^$.|?*+()[]{}<>:=/-_'\"", min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_a_template_regex_always_matches_the_text_it_came_from(words: list[str]) -> None:
    text = " ".join(words)
    regex = template_regex(tokenize(text))
    assert regex is None or re.search(regex, text, re.I), (regex, text)


def _alert(fixtures: Path, n: int, status: str) -> bytes:
    """An Alertmanager notification of one alert the knowledge base does not know, on host ledger-n."""
    body = json.loads((fixtures / "alertmanager" / "firing-2-alerts.json").read_text())
    alert: dict[str, Any] = body["alerts"][0]
    alert["labels"].update(alertname="LedgerReconciliationStalled", instance=f"ledger-{n}:9100", severity="warning")
    alert["annotations"] = {
        "summary": f"Reconciliation batch {n * 1009} stalled on ledger-{n}:9100",
        "description": f"Worker on ledger-{n}:9100 waited {n * 7}s for the ledger_rows lock.",
    }
    alert["fingerprint"] = f"ledger{n:012d}"
    alert["status"] = body["status"] = status
    if status == "resolved":
        alert["endsAt"] = "2026-11-27T10:00:00Z"
    body["alerts"] = [alert]
    return json.dumps(body).encode()


def test_through_the_http_server_corrected_incidents_decide_the_next_and_are_proposed(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    text = f"""
core:
  database_url: "sqlite:///{tmp_path}/g.db"
  admin_token_env: "GUARDIAN_ADMIN_TOKEN"
integrations:
  observability:
    prometheus:
      enabled: true
"""
    config = load_text(text, {"GUARDIAN_ADMIN_TOKEN": "t0ken"}, base_dir=tmp_path)
    auth = {"Authorization": "Bearer t0ken"}
    with running_server(config) as server:

        def post(n: int, status: str = "firing") -> None:
            answer = httpx.post(server.url + "/webhook/alertmanager", content=_alert(fixtures_dir, n, status))
            assert answer.status_code == 202, answer.text

        def decisions(incident: int) -> list[dict[str, Any]]:
            found = httpx.get(server.url + f"/api/decisions?incident_id={incident}", headers=auth).json()["items"]
            return list(found)

        def status(incident: int) -> str:
            return str(httpx.get(server.url + f"/api/incidents/{incident}", headers=auth).json()["status"])

        for incident, host in enumerate((3, 7, 12), 1):
            post(host)
            server.wait_until(lambda: len(decisions(incident)) == 1, what="a decision")  # noqa: B023
            post(host, "resolved")
            server.wait_until(lambda: status(incident) == "resolved", what="the resolution")  # noqa: B023
            correction = {"verdict": "wrong", "action": "auto_acknowledge", "by": "ana"}
            answer = httpx.post(server.url + f"/api/incidents/{incident}/feedback", json=correction, headers=auth)
            assert answer.status_code == 200, answer.text
        assert {decisions(incident)[0]["decided_by"] for incident in (1, 2, 3)} != {"similarity"}

        post(40)
        server.wait_until(lambda: len(decisions(4)) == 1, what="the fourth decision")
        [fourth] = decisions(4)
        assert fourth["decided_by"] == "similarity" and fourth["action"] == "auto_acknowledge"
        assert fourth["rationale"].startswith("Like incidents #1, #2 and #3 (similarity 1.00), which were acknowledged")
        assert fourth["details"]["nearest"] == [{"incident_id": n, "similarity": 1.0} for n in (3, 2, 1)]
        assert fourth["details"]["votes"] == {"auto_acknowledge": 6.0}  # a person's vote outranks each resolution

    engine = make_engine(config.settings.core.database_url)
    with sessions(engine)() as session:
        [proposal] = session.scalars(select(Pattern).where(Pattern.status == "proposed", Pattern.origin == "learned"))
        assert proposal.provenance["incidents"] == [1, 2, 3]
        assert proposal.action == "auto_acknowledge"
        head = "Reconciliation batch 40360 stalled on ledger-40:9100\nWorker on ledger-40:9100 waited 280s for the"
        assert re.search(proposal.match["any"][0], head + " ledger_rows lock.", re.I)
        assert not re.search(proposal.match["any"][0], head + " orders lock.", re.I)
    engine.dispose()
