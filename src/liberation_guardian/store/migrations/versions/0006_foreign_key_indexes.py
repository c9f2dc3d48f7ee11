"""indexes on the child side of foreign keys, and on when a pattern last changed

Deleting a parent row makes the database look for rows still pointing at it; without an
index on the referring column that is a scan of the child table per deleted row, which made
the retention purge quadratic. `patterns.updated_at` is what the knowledge decider reads
before each decision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_events_payload", "events", "payload_id"),
    ("ix_decisions_event", "decisions", "event_id"),
    ("ix_deliveries_decision", "deliveries", "decision_id"),
    ("ix_group_members_decision", "group_members", "decision_id"),
    ("ix_feedback_decision", "feedback", "decision_id"),
    ("ix_recommendations_decision", "recommendations", "decision_id"),
    ("ix_patterns_updated", "patterns", "updated_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
