"""The tables: payloads as received, events parsed from them, incidents, decisions, deliveries.

Portable SQLAlchemy 2 models (SQLite by default, PostgreSQL later): JSON columns use
the generic `JSON` type and times are stored timezone-aware in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Payload(Base):
    """A request body exactly as a source sent it."""

    __tablename__ = "payloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_type: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)


class Event(Base):
    """One normalized event; `processed_at` is null until the pipeline has handled it."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_unprocessed", "processed_at", "id"),
        Index("ix_events_incident", "incident_id"),
        Index("ix_events_source_received", "source", "received_at"),
        # The analysis agent looks for deploys, CI failures and config changes shortly before an incident.
        Index("ix_events_kind_received", "kind", "received_at"),
        # Child-side indexes of foreign keys: deleting a parent row (the retention purge) checks its children.
        Index("ix_events_payload", "payload_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload_id: Mapped[int] = mapped_column(ForeignKey("payloads.id"))
    payload: Mapped[Payload] = relationship()
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    service: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[str | None] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    grouping_key: Mapped[str | None] = mapped_column(Text)
    exception_type: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stack_frames: Mapped[list[Any]] = mapped_column(default=list)
    user_impact: Mapped[str | None] = mapped_column(String(32))
    links: Mapped[list[Any]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))


class Incident(Base):
    """All events sharing a fingerprint, with their lifecycle and counts.

    `transition_seq` counts the incident's transitions (opened, resolved, reopened,
    severity raised); a decision and each delivery are keyed by it, which is what
    makes re-processing after a crash harmless.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_last_seen", "status", "last_seen"),
        Index("ix_incidents_service_last_seen", "service", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[str | None] = mapped_column(String(255))
    user_impact: Mapped[str | None] = mapped_column(String(32))
    occurrences: Mapped[int] = mapped_column(default=0)
    frequency: Mapped[str] = mapped_column(String(16), default="first_time")
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    window_count: Mapped[int] = mapped_column(default=0)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    transition_seq: Mapped[int] = mapped_column(default=0)
    fix_attempts: Mapped[int] = mapped_column(default=0)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # When the latest counted occurrence happened, by the source's clock: a re-send of the same
    # firing alert (Alertmanager repeats every few minutes with the same startsAt) is not a new one.
    last_occurred_at: Mapped[datetime | None]


class Decision(Base):
    """The triage verdict on one incident transition."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("incident_id", "transition_seq", name="uq_decisions_transition"),
        Index("ix_decisions_event", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    transition: Mapped[str] = mapped_column(String(32))
    transition_seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    decided_by: Mapped[str] = mapped_column(String(64))
    matched: Mapped[str | None] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One notification to one channel: the outbox row and the delivery log in one.

    `idempotency_key` (incident, transition, channel) is unique, so a transition that
    is processed twice can never queue a second message.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    channel: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    transition: Mapped[str] = mapped_column(String(32))
    notification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class NotificationGroup(Base):
    """Incidents that one route tells one receiver about together (Alertmanager's aggregation group).

    `next_flush_at` is the durable timer: the scheduler sends the group's message when it
    passes, in the same transaction that moves it on, so a message is queued exactly once.
    """

    __tablename__ = "notification_groups"
    __table_args__ = (
        UniqueConstraint("route_id", "group_key", name="uq_notification_groups_key"),
        Index("ix_notification_groups_due", "next_flush_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(Text)
    receiver: Mapped[str] = mapped_column(String(128))
    next_flush_at: Mapped[datetime | None]
    last_flushed_at: Mapped[datetime | None]
    flush_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMember(Base):
    """One incident in one notification group, with what was last told about it.

    `notification` is the latest per-incident message, ready to send; `pending` says it
    has news the receiver has not heard; `notified_state` is `firing` or `resolved` as of
    the last message (empty before the first). `suppressed` says why it was held back.
    """

    __tablename__ = "group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "incident_id", name="uq_group_members_incident"),
        Index("ix_group_members_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("notification_groups.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    action: Mapped[str] = mapped_column(String(32), default="")
    notification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pending: Mapped[bool] = mapped_column(default=True)
    notified_state: Mapped[str] = mapped_column(String(16), default="")
    last_notified_at: Mapped[datetime | None]
    suppressed: Mapped[str | None] = mapped_column(Text)


class Silence(Base):
    """A silence or maintenance window: incidents matching every matcher are not notified."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Escalation(Base):
    """An escalation policy running for one incident; `next_at` is its durable timer."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("incident_id", "started_seq", name="uq_escalations_incident_seq"),
        Index("ix_escalations_due", "next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    started_seq: Mapped[int] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(String(128))
    step: Mapped[int] = mapped_column(default=0)
    round: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    reason: Mapped[str | None] = mapped_column(Text)
    notification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    next_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pattern(Base):
    """A knowledge-base entry: how to recognize a kind of problem, what to do, and the evidence for it.

    `confidence` is derived from the evidence (occurrences, successes, failures, human
    confirmations and rejections), never set by hand; `origin` says where the pattern came
    from (builtin pack, learned from incidents, imported from a community pack, written by a
    person) and `status` whether it may decide (`active`) or waits for review (`proposed`).
    """

    __tablename__ = "patterns"
    __table_args__ = (
        Index("ix_patterns_status", "status"),
        # What the knowledge decider reads before each decision: the latest change.
        Index("ix_patterns_updated", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    title: Mapped[str] = mapped_column(Text)
    match: Mapped[dict[str, Any]] = mapped_column(default=dict)
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    runbook: Mapped[str] = mapped_column(Text, default="")
    fix_template: Mapped[str | None] = mapped_column(String(128))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    occurrences: Mapped[int] = mapped_column(default=0)
    successes: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    confirmations: Mapped[int] = mapped_column(default=0)
    rejections: Mapped[int] = mapped_column(default=0)
    confidence: Mapped[float] = mapped_column(Float, default=0.5)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """A person's verdict on a decision: right, or wrong with what it should have been."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_decision", "decision_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    correct: Mapped[bool]
    action: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Resolution(Base):
    """How one incident episode ended: who resolved it, what was done, and what became of it."""

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    transition_seq: Mapped[int] = mapped_column(Integer)
    resolved_at: Mapped[datetime]
    resolved_by: Mapped[str] = mapped_column(String(255))
    action: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    pattern_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32), default="resolved")
    notes: Mapped[str] = mapped_column(Text, default="")


class Playbook(Base):
    """Infrastructure know-how: the steps that apply to incidents matching `applies_to`, and how to verify them.

    A definition, not evidence: `origin` is `builtin` for the shipped playbooks, which
    start-up copies in (knowledge/playbooks/*.yml); `applies_to` holds their selection
    rules; `steps` and `verify` are one line each.
    """

    __tablename__ = "playbooks"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), default="builtin")
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    applies_to: Mapped[list[Any]] = mapped_column(default=list)
    steps: Mapped[str] = mapped_column(Text)
    verify: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recommendation(Base):
    """What an agent recommends for one incident transition: causes, impact, plan, prevention.

    `agent` is `analysis`, `infrastructure`, `security`, `performance` or `triage` (a model's
    second opinion on the decision); `produced_by` is `offline` or `<provider>:<model>`.
    Offline recommendations are `done` when written; a model's starts `pending` and the
    agent loop makes it `done` or `failed` (with `error`), claiming it by `claimed_at`.
    """

    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_incident", "incident_id", "id"),
        Index("ix_recommendations_pending", "status", "id"),
        Index("ix_recommendations_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    transition_seq: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="done")
    summary: Mapped[str] = mapped_column(Text, default="")
    hypotheses: Mapped[list[Any]] = mapped_column(default=list)
    impact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan: Mapped[list[Any]] = mapped_column(default=list)
    prevention: Mapped[list[Any]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    produced_by: Mapped[str] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
