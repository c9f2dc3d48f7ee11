"""Alembic environment: runs migrations on the connection `store.db.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from liberation_guardian.store.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # Run from the alembic command line (for writing new migrations): use sqlalchemy.url.
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///data/guardian.db")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
