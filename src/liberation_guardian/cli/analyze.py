"""`liberation-guardian analyze INCIDENT_ID [--agent A] [--json]`: print the agents' recommendations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from liberation_guardian.api import serialize
from liberation_guardian.cli._common import config_option, fail, load
from liberation_guardian.store.db import make_engine, migrate, sessions
from liberation_guardian.store.models import Incident, Recommendation

AGENTS = ("analysis", "infrastructure", "security", "performance", "triage")


@click.command("analyze")
@click.argument("incident_id", type=int)
@click.option("--agent", type=click.Choice(AGENTS), default=None, help="Only this agent's recommendations.")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON (as the API gives them).")
@config_option
@click.pass_context
def analyze_command(
    ctx: click.Context, incident_id: int, agent: str | None, as_json: bool, config_path: Path | None
) -> None:
    """Show what the analysis agent and the specialists recommend for an incident."""
    config = load(ctx, config_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    try:
        with sessions(engine)() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                fail(f"no incident {incident_id}")
            query = select(Recommendation).where(Recommendation.incident_id == incident_id)
            if agent is not None:
                query = query.where(Recommendation.agent == agent)
            rows = [serialize.recommendation(row) for row in session.scalars(query.order_by(Recommendation.id))]
            header = f"incident {incident.id}: {incident.title} ({incident.status}, {incident.severity})"
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(header)
    if not rows:
        click.echo("  no recommendations: it was acknowledged quietly, or nothing has analysed it yet")
    for item in rows:
        click.echo("\n".join(render(item)))


def render(item: dict[str, Any]) -> list[str]:
    """One recommendation as indented lines."""
    lines = [f"\n[{item['id']}] {item['agent']} / {item['kind']}: {item['status']}, by {item['produced_by']}"]
    if item["status"] == "pending":
        return [*lines, "    waiting for the agent loop of a running service"]
    if item["status"] == "failed":
        lines.append(f"    failed: {item['error']}")
    lines.append(f"    {item['summary']}")
    if item["hypotheses"]:
        lines.append("    hypotheses:")
        lines += [f"      {h['likelihood']:>4.0%}  {h['cause']}" for h in item["hypotheses"]]
    impact = (item["impact"] or {}).get("summary")
    if impact and item["status"] == "done":
        lines.append(f"    impact: {impact}")
    if item["plan"]:
        lines.append("    plan:")
        lines += [f"      {number}. {step}" for number, step in enumerate(item["plan"], 1)]
    if item["prevention"]:
        lines.append("    prevention:")
        lines += [f"      - {step}" for step in item["prevention"]]
    return lines
