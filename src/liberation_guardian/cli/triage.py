"""`liberation-guardian triage --source S FILE`: the decision for one payload, as JSON, offline."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from liberation_guardian.api.serialize import decision as decision_json
from liberation_guardian.cli._common import config_option, fail, load, source_for
from liberation_guardian.errors import SourceError
from liberation_guardian.pipeline.offline import OfflineRun


@click.command()
@click.option(
    "--source", "source_name", required=True, help="Source that sent the payload (sentry, alertmanager, ...)."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.pass_context
def triage(ctx: click.Context, source_name: str, file: Path, config_path: Path | None) -> None:
    """Print the decision for one payload; nothing is stored or sent. Several events print a JSON array."""
    config = load(ctx, config_path)
    source = source_for(config, source_name)
    with tempfile.TemporaryDirectory(prefix="guardian-triage-") as tmp:
        run = OfflineRun(config, f"sqlite:///{tmp}/triage.db")
        try:
            ids = run.feed(source, file, file.read_bytes())
        except SourceError as exc:
            fail(f"{file}: {exc.reason} (would answer {exc.status})")
        run.process()
        answers = []
        for row in run.decisions_for(ids):
            data = decision_json(row)
            answers.append(
                {
                    key: data[key]
                    for key in (
                        "action",
                        "severity",
                        "category",
                        "confidence",
                        "rationale",
                        "decided_by",
                        "matched",
                        "details",
                    )
                }
            )
        run.close()
    if not ids:
        fail(f"{file}: the payload holds no event to triage (for example a setup or ping message)", code=1)
    click.echo(json.dumps(answers[0] if len(answers) == 1 else answers, indent=2))
