"""recommendations of the analysis agent and the specialists; indexes for their look-ups

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=True),
        sa.Column("transition_seq", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("hypotheses", sa.JSON(), nullable=False),
        sa.Column("impact", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("prevention", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("produced_by", sa.String(length=128), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("completed_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_recommendations_incident", "recommendations", ["incident_id", "id"])
    op.create_index("ix_recommendations_pending", "recommendations", ["status", "id"])
    op.create_index("ix_events_kind_received", "events", ["kind", "received_at"])
    op.create_index("ix_incidents_service_last_seen", "incidents", ["service", "last_seen"])


def downgrade() -> None:
    op.drop_index("ix_incidents_service_last_seen", table_name="incidents")
    op.drop_index("ix_events_kind_received", table_name="events")
    op.drop_index("ix_recommendations_pending", table_name="recommendations")
    op.drop_index("ix_recommendations_incident", table_name="recommendations")
    op.drop_table("recommendations")
