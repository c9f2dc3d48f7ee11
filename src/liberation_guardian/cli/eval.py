"""`liberation-guardian eval CORPUS [--json]`: score the triage chain on a labeled corpus (docs/eval.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from liberation_guardian.cli._common import config_option, fail, load
from liberation_guardian.pipeline.build import build_chain
from liberation_guardian.triage.evaluate import evaluate, read_corpus, render


@click.command("eval")
@click.argument("corpus", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--show-errors", is_flag=True, help="List the events decided wrongly.")
@config_option
@click.pass_context
def eval_command(ctx: click.Context, corpus: Path, as_json: bool, show_errors: bool, config_path: Path | None) -> None:
    """Decide every event of a labeled corpus offline and print accuracy, recall and calibration."""
    config = load(ctx, config_path)
    try:
        report = evaluate(lambda held: build_chain(config, holdout=held), read_corpus(corpus))
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(render(report))
    if show_errors:
        for outcome in report.outcomes:
            got, item = outcome.verdict, outcome.item
            if got.action.value != item.action:
                click.echo(
                    f"{item.id}: {got.action.value}/{got.severity.value}/{got.category} "
                    f"(expected {item.action}/{item.severity}/{item.category}) by {got.decided_by}"
                )
    for error in report.errors:
        click.echo(f"could not run {error}", err=True)
