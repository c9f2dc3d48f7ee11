"""The agent loop: completes pending model requests without ever holding a transaction while a model thinks.

Each request goes through three steps:

1. claim it in a short write transaction (`claimed_at`, so two service processes never
   both take it; a claim older than `LEASE` is taken again, as after a crash);
2. read the incident, event and evidence, build the masked prompt, close the session, and
   only then ask the model chain (`ai_providers.analysis_agent` or `triage_agent` and their
   fallbacks): no transaction and no session is open during the call;
3. store the answer in a second short transaction: `done` with the model's analysis or
   second opinion, or `failed` with the reason (an answer that does not fit the schema gets
   one repair request first; the offline recommendation stands either way). A second
   opinion may then re-decide the incident (`second_opinion.py`).

The loop runs in a thread of the service beside the pipeline loops; it polls the pending
requests every half second (one indexed query) and stops after its current request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.agents._describe import case_of, describe
from liberation_guardian.agents.llm import ANALYSIS, Asked, LlmAnalysis, analysis_prompt, ask_chain
from liberation_guardian.agents.second_opinion import reconsider
from liberation_guardian.agents.stage import DONE, FAILED, PENDING, TRIAGE
from liberation_guardian.config import LoadedConfig
from liberation_guardian.config.schema import ANALYSIS_AGENT, TRIAGE_AGENT
from liberation_guardian.decide.policy import Policy
from liberation_guardian.events import Severity
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Decision, Event, Incident, Recommendation, utcnow
from liberation_guardian.triage.base import Action, Verdict
from liberation_guardian.triage.llm import build_agents
from liberation_guardian.triage.llm.cache import LruCache, cache_key
from liberation_guardian.triage.llm.decider import DEFAULT_CACHE_SIZE, Agent
from liberation_guardian.triage.llm.mask import Masker
from liberation_guardian.triage.llm.prompt import LlmVerdict, Prompt, render
from liberation_guardian.triage.llm.provider import VERDICT, Answer

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BATCH = 4  # requests completed per pass before the loop looks for new work again
# A claim older than this is taken to have died with its process; the request is claimed again.
LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Job:
    """One claimed request, ready to be put to a model; `key` names the problem for the triage cache."""

    id: int
    agent: str
    prompt: Prompt
    key: str = ""


class AgentLoop:
    """Claims, asks and stores pending model requests; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: Policy,
        *,
        analysts: list[Agent],
        triagers: list[Agent],
        analysis_masker: Masker | None = None,
        triage_masker: Masker | None = None,
        wake_deliveries: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.analysts = analysts
        self.triagers = triagers
        self.analysis_masker = analysis_masker or Masker()
        self.triage_masker = triage_masker or Masker()
        self.wake_deliveries = wake_deliveries
        self.clock = clock
        # Second opinions by problem (source, title, exception type), so a repeat costs no request.
        self.cache: LruCache[Asked[LlmVerdict]] = LruCache(DEFAULT_CACHE_SIZE)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def build(
        cls,
        config: LoadedConfig,
        sessions: sessionmaker[Session],
        policy: Policy,
        wake_deliveries: Callable[[], None] = lambda: None,
    ) -> AgentLoop | None:
        """The loop for the configured analysis and triage agents, or None when no model can be asked."""
        analysts, triagers = build_agents(config, ANALYSIS_AGENT), build_agents(config, TRIAGE_AGENT)
        if not analysts and not triagers:
            return None
        entries = config.settings.ai_providers
        return cls(
            sessions,
            policy,
            analysts=analysts,
            triagers=triagers,
            analysis_masker=Masker(entries[ANALYSIS_AGENT].mask_patterns) if analysts else None,
            triage_masker=Masker(entries[TRIAGE_AGENT].mask_patterns) if triagers else None,
            wake_deliveries=wake_deliveries,
        )

    # -- one pass ------------------------------------------------------------------------

    def run_once(self, limit: int = BATCH) -> int:
        """Complete up to `limit` pending requests; returns how many were completed."""
        done = 0
        for _ in range(limit):
            # One at a time: nothing stays claimed while a model thinks about another request.
            claimed = self._claim(1)
            if not claimed:
                break
            job = self._prepare(claimed[0])
            if job is None:
                continue
            if job.agent == TRIAGE:
                asked = self.cache.get(job.key)
                if asked is None:
                    asked = ask_chain(self.triagers, job.prompt, LlmVerdict, VERDICT)
                    if asked.answer is not None:
                        self.cache.put(job.key, asked)
                    self._finish_triage(job, asked, cached=False)
                else:
                    self._finish_triage(job, asked, cached=True)
            else:
                self._finish_analysis(job, ask_chain(self.analysts, job.prompt, LlmAnalysis, ANALYSIS))
            done += 1
        return done

    def _claim(self, limit: int) -> list[int]:
        now = self.clock()
        free = or_(Recommendation.claimed_at.is_(None), Recommendation.claimed_at < now - LEASE)
        with self.sessions() as session:
            candidates = session.scalars(
                select(Recommendation.id)
                .where(Recommendation.status == PENDING, free)
                .order_by(Recommendation.id)
                .limit(limit)
            ).all()
        if not candidates:
            return []
        claimed = []
        with transaction(self.sessions) as session:
            for request_id in candidates:
                taken = session.execute(
                    update(Recommendation)
                    .where(Recommendation.id == request_id, Recommendation.status == PENDING, free)
                    .values(claimed_at=now)
                )
                if getattr(taken, "rowcount", 0) == 1:
                    claimed.append(request_id)
        return claimed

    def _prepare(self, request_id: int) -> Job | None:
        """Read what the model is shown and build its prompt; the session is closed before any model call."""
        job, problem = self._read(request_id)
        if problem:
            self._fail(request_id, problem, {})
        return job

    def _read(self, request_id: int) -> tuple[Job | None, str]:
        with self.sessions() as session:
            request = session.get(Recommendation, request_id)
            if request is None:
                return None, ""
            incident = session.get(Incident, request.incident_id)
            decision = session.get(Decision, request.decision_id) if request.decision_id else None
            event = session.get(Event, decision.event_id) if decision is not None else None
            if incident is None or decision is None or event is None:
                return None, "the incident, its decision or its event is no longer stored"
            if not (self.triagers if request.agent == TRIAGE else self.analysts):
                return None, f"no {request.agent} agent is configured with a key now"
            if request.agent == TRIAGE:
                case = case_of(incident, event, decision)
                return Job(request_id, TRIAGE, render(case, self.triage_masker), cache_key(case)), ""
            others = session.scalars(
                select(Recommendation).where(
                    Recommendation.incident_id == incident.id,
                    Recommendation.transition_seq == request.transition_seq,
                    Recommendation.status == DONE,
                )
            ).all()
            text = describe(incident, event, decision, request, others)
        return Job(request_id, request.agent, analysis_prompt(text, self.analysis_masker)), ""

    # -- storing answers -------------------------------------------------------------------

    def _finish_analysis(self, job: Job, asked: Asked[LlmAnalysis]) -> None:
        if asked.answer is None:
            self._fail(job.id, asked.reason, _usage(job.prompt, None))
            return
        value: LlmAnalysis = asked.answer.value
        with transaction(self.sessions) as session:
            request = session.get(Recommendation, job.id)
            if request is None:
                return
            request.status = DONE
            request.produced_by = asked.produced_by
            request.summary = value.summary
            ranked = sorted(value.hypotheses, key=lambda h: -h.likelihood)
            request.hypotheses = [
                {"cause": h.cause, "likelihood": round(h.likelihood, 2), "evidence": {"text": h.evidence}}
                for h in ranked
            ]
            request.impact = {**(request.impact or {}), "summary": value.impact}
            request.plan = list(value.plan)
            request.prevention = list(value.prevention)
            request.details = {**_usage(job.prompt, asked.answer), "agent": asked.agent.name if asked.agent else None}
            request.error = None
            request.completed_at = self.clock()

    def _finish_triage(self, job: Job, asked: Asked[LlmVerdict], *, cached: bool) -> None:
        if asked.answer is None or asked.agent is None:
            self._fail(job.id, asked.reason, _usage(job.prompt, None))
            return
        found: LlmVerdict = asked.answer.value
        verdict = Verdict(
            action=Action(found.action),
            severity=Severity(found.severity),
            category=found.category,
            confidence=found.confidence,
            decided_by=f"llm:{asked.agent.label}",
            rationale=found.rationale,
            details={
                **_usage(job.prompt, None if cached else asked.answer),
                **({"input_tokens": 0, "output_tokens": 0, "requests": 0} if cached else {}),
                "agent": asked.agent.name,
                "cached": cached,
            },
        )
        with transaction(self.sessions) as session:
            request = session.get(Recommendation, job.id)
            if request is None:
                return
            outcome = reconsider(session, self.policy, request, verdict, self.clock())
            request.status = DONE
            request.produced_by = asked.produced_by
            request.summary = (
                f"Second opinion: {found.action} at {found.severity} ({found.confidence:.0%}). {found.rationale}"
            )
            request.details = {
                **verdict.details,
                "verdict": found.model_dump(mode="json"),
                "reconsidered": outcome,
            }
            request.error = None
            request.completed_at = self.clock()
        if outcome.get("re_decided"):
            self.wake_deliveries()

    def _fail(self, request_id: int, reason: str, details: dict[str, object]) -> None:
        log.warning(
            "an agent's model request failed; the offline recommendation stands",
            extra={"recommendation_id": request_id, "reason": reason},
        )
        with transaction(self.sessions) as session:
            request = session.get(Recommendation, request_id)
            if request is None:
                return
            request.status = FAILED
            request.error = reason[:2000]
            request.summary = "The model gave no usable answer; the offline recommendation stands."
            request.details = {**(request.details or {}), **details}
            request.completed_at = self.clock()

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop in a thread of its own."""
        self._thread = threading.Thread(target=self._loop, name="guardian-agents", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for pending requests now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current request."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # keep the loop alive; the error is logged and retried after a pause
                log.exception("agent loop failed; retrying")
                worked = 0
            if worked == 0:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()


def _usage(prompt: Prompt, answer: Answer[LlmAnalysis] | Answer[LlmVerdict] | None) -> dict[str, object]:
    """What a request cost and what was masked: kept with the recommendation, never the prompt itself."""
    usage: dict[str, object] = {"prompt_sha256": prompt.content_sha256, "masked": prompt.masked}
    if answer is not None:
        usage.update(
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            requests=answer.requests,
            latency_ms=answer.latency_ms,
        )
    return usage
