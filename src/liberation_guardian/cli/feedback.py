"""`liberation-guardian feedback ID correct|wrong [--action A] [--severity S] [--category C] [--comment T]`."""

from __future__ import annotations

from pathlib import Path

import click

from liberation_guardian.cli._common import config_option, fail, load, login_name
from liberation_guardian.learn.feedback import record_feedback
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Incident, utcnow


@click.command("feedback")
@click.argument("incident_id", type=int)
@click.argument("verdict", type=click.Choice(["correct", "wrong"]))
@click.option("--action", default=None, help="The right action: escalate, auto_fix, investigate, auto_acknowledge.")
@click.option("--severity", default=None, help="The right severity: critical, high, medium, low, info.")
@click.option("--category", default=None, help="The right category (database, security, ci, ...).")
@click.option("--comment", default="", help="Anything worth knowing next time.")
@click.option("--by", "by", default=None, help="Who says so (default: the login name).")
@config_option
@click.pass_context
def feedback_command(
    ctx: click.Context,
    incident_id: int,
    verdict: str,
    action: str | None,
    severity: str | None,
    category: str | None,
    comment: str,
    by: str | None,
    config_path: Path | None,
) -> None:
    """Say whether the decision on an incident was right, and if not, what it should have been."""
    config = load(ctx, config_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    try:
        with transaction(sessions(engine)) as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                fail(f"no incident {incident_id}")
            try:
                record_feedback(
                    session,
                    incident,
                    correct=verdict == "correct",
                    action=action,
                    severity=severity,
                    category=category,
                    comment=comment,
                    author=f"cli:{by or login_name()}",
                    now=utcnow(),
                    learning=config.settings.learning,
                )
            except ValueError as exc:
                fail(str(exc))
            click.echo(f"feedback on incident {incident_id} recorded: {verdict}")
    finally:
        engine.dispose()
