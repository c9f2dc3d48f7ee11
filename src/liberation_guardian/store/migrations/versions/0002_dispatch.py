"""routing state: incident labels, notification groups, silences, escalations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 04:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("labels", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "notification_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("next_flush_at", UTC_TIME, nullable=True),
        sa.Column("last_flushed_at", UTC_TIME, nullable=True),
        sa.Column("flush_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("route_id", "group_key", name="uq_notification_groups_key"),
    )
    op.create_index("ix_notification_groups_due", "notification_groups", ["next_flush_at"])
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("notification_groups.id"), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("notification", sa.JSON(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("notified_state", sa.String(length=16), nullable=False),
        sa.Column("last_notified_at", UTC_TIME, nullable=True),
        sa.Column("suppressed", sa.Text(), nullable=True),
        sa.UniqueConstraint("group_id", "incident_id", name="uq_group_members_incident"),
    )
    op.create_index("ix_group_members_group_id", "group_members", ["group_id"])
    op.create_index("ix_group_members_incident_id", "group_members", ["incident_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTC_TIME, nullable=False),
        sa.Column("ends_at", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("started_seq", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("notification", sa.JSON(), nullable=False),
        sa.Column("next_at", UTC_TIME, nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("incident_id", "started_seq", name="uq_escalations_incident_seq"),
    )
    op.create_index("ix_escalations_due", "escalations", ["next_at"])
    op.create_index("ix_escalations_incident_id", "escalations", ["incident_id"])


def downgrade() -> None:
    op.drop_table("escalations")
    op.drop_table("silences")
    op.drop_table("group_members")
    op.drop_table("notification_groups")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("labels")
