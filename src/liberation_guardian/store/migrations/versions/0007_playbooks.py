"""playbooks: where each came from, how to verify it worked, and when its definition last changed

Start-up now copies the shipped playbooks into the table; `origin` tells them from any
added later, `verify` holds their checks one a line, and `updated_at` moves when a new
release changes a definition.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults give rows written before this revision a value; the models set them on insert. Nothing
    # filled the table before, so a row already there was written by a person, and seeding must not replace it.
    with op.batch_alter_table("playbooks") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="human"))
        batch.add_column(sa.Column("verify", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )


def downgrade() -> None:
    with op.batch_alter_table("playbooks") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("verify")
        batch.drop_column("origin")
