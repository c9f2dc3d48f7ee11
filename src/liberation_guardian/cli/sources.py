"""`liberation-guardian sources`: every source with its URL, authentication, state and events received."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from liberation_guardian.cli._common import config_option, load
from liberation_guardian.sources._catalog import catalog, event_counts
from liberation_guardian.store.db import make_engine


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@config_option
@click.pass_context
def sources_command(ctx: click.Context, as_json: bool, config_path: Path | None) -> None:
    """List every source: URL, config key, authentication, enabled, events received."""
    config = load(ctx, config_path)
    counts: dict[str, int] = {}
    url = make_url(config.database_url)
    # Count from an existing database only; listing sources must not create one.
    if url.get_backend_name() != "sqlite" or (url.database and Path(url.database).exists()):
        engine = make_engine(config.database_url)
        try:
            counts = event_counts(engine)
        finally:
            engine.dispose()
    entries = catalog(config, counts)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    width = max(len(entry["name"]) for entry in entries)
    for entry in entries:
        state = "enabled" if entry["enabled"] else ("disabled" if entry["configured"] else "not configured")
        auth = "signed" if entry["authenticated"] else "open"
        if entry["missing_secrets"]:
            auth = "secret missing"
        click.echo(
            f"{entry['name']:<{width}}  {state:<14}  {auth:<14}  {entry['events_received']:>7} events  "
            f"{entry['url']}  ({entry['config_key']}; {entry['auth']})"
        )
