"""`liberation-guardian replay`: many payloads through the pipeline, notifications off, then a summary."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from liberation_guardian import sources
from liberation_guardian.cli._common import config_option, fail, load, source_for
from liberation_guardian.config import LoadedConfig
from liberation_guardian.config.routing import parse_duration
from liberation_guardian.dispatch.explain import explain as explain_all
from liberation_guardian.pipeline.offline import OfflineRun, Summary
from liberation_guardian.pipeline.offline import replay as run_replay
from liberation_guardian.sources.base import Source


@click.command()
@click.option("--source", "source_name", default=None, help="Source of every payload; default: the folder name.")
@click.option("--db", "database_url", default=None, help="Database URL to keep the results in (default: temporary).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--explain", is_flag=True, help="For each incident: what would be sent, to whom and when, and what was held back."
)
@click.option(
    "--horizon", default="1h", show_default=True, help="How far to play routing timers forward for --explain."
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_option
@click.pass_context
def replay(
    ctx: click.Context,
    source_name: str | None,
    database_url: str | None,
    as_json: bool,
    explain: bool,
    horizon: str,
    paths: tuple[Path, ...],
    config_path: Path | None,
) -> None:
    """Replay payload files (folders are searched for *.json) and print events, incidents and decisions."""
    config = load(ctx, config_path)
    try:
        play_for = parse_duration(horizon)
    except ValueError as exc:
        fail(f"--horizon: {exc}")
    items = _items(config, source_name, paths)
    with tempfile.TemporaryDirectory(prefix="guardian-replay-") as tmp:
        run = OfflineRun(config, database_url or f"sqlite:///{tmp}/replay.db")
        summary = run_replay(run, items)
        if explain:
            run.play_forward(play_for)
            with run.sessions() as session:
                for story in explain_all(session, run.start):
                    click.echo("\n".join(story.lines()))
            click.echo("")
        run.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_table(summary)


def _items(config: LoadedConfig, source_name: str | None, paths: tuple[Path, ...]) -> list[tuple[Source, Path]]:
    files = sorted({file for path in paths for file in ([path] if path.is_file() else path.rglob("*.json"))})
    if not files:
        fail("no payload files found (folders are searched for *.json)")
    keys = sources.config_keys()
    items = []
    cache: dict[str, Source] = {}
    for file in files:
        name = source_name or file.parent.name
        if name not in keys:
            if source_name is None:
                click.echo(f"skipped {file}: folder {name!r} is not a source name; use --source", err=True)
                continue
            fail(f"no source named {name!r}")
        if name not in cache:
            cache[name] = source_for(config, name)
        items.append((cache[name], file))
    return items


def _print_table(summary: Summary) -> None:
    rows = [("payloads", summary.payloads), ("events", summary.events), ("incidents", summary.incidents)]
    rows += [(f"decisions: {action}", count) for action, count in sorted(summary.decisions.items())]
    rows.append(("rejected payloads", len(summary.rejected)))
    width = max(len(label) for label, _ in rows)
    for label, count in rows:
        click.echo(f"{label:<{width}}  {count:>7}")
    for name, reason in summary.rejected:
        click.echo(f"rejected {name}: {reason}", err=True)
