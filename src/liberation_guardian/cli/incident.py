"""`liberation-guardian ack ID` and `resolve ID`: answer for an incident from the shell.

They write to the configured database as the API does: acknowledging stops the
incident's escalation and tells the channels that heard about it; resolving sends the
resolution. A running service delivers those messages on its next pass.
"""

from __future__ import annotations

from pathlib import Path

import click

from liberation_guardian.cli._common import config_option, fail, load, login_name
from liberation_guardian.decide.policy import Policy
from liberation_guardian.group.incidents import acknowledge, resolve
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Incident, utcnow


@click.command("ack")
@click.argument("incident_id", type=int)
@click.option("--by", "by", default=None, help="Who acknowledges (default: the login name).")
@config_option
@click.pass_context
def ack_command(ctx: click.Context, incident_id: int, by: str | None, config_path: Path | None) -> None:
    """Acknowledge an open incident: its escalation stops."""
    _answer(ctx, config_path, incident_id, f"cli:{by or login_name()}", resolving=False)


@click.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--by", "by", default=None, help="Who resolves (default: the login name).")
@config_option
@click.pass_context
def resolve_command(ctx: click.Context, incident_id: int, by: str | None, config_path: Path | None) -> None:
    """Resolve an incident: whoever heard about it is told."""
    _answer(ctx, config_path, incident_id, f"cli:{by or login_name()}", resolving=True)


def _answer(ctx: click.Context, config_path: Path | None, incident_id: int, who: str, *, resolving: bool) -> None:
    config = load(ctx, config_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    policy = Policy(config)
    try:
        with transaction(sessions(engine)) as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                fail(f"no incident {incident_id}")
            if resolving:
                if resolve(incident, who, utcnow()) is None:
                    fail(f"incident {incident_id} is already resolved", code=1)
                policy.record_resolution(session, incident, None)
            else:
                if not acknowledge(incident, who, utcnow()):
                    fail(f"incident {incident_id} is {incident.status}, not open", code=1)
                policy.record_acknowledgement(session, incident)
            click.echo(f"incident {incident_id} {incident.status} by {who}: {incident.title}")
    finally:
        engine.dispose()
