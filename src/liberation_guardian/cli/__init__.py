"""The `liberation-guardian` command: thin commands that call into the packages."""

from __future__ import annotations

from pathlib import Path

import click

from liberation_guardian import __version__
from liberation_guardian.cli._common import config_option
from liberation_guardian.cli.analyze import analyze_command
from liberation_guardian.cli.check import check_config
from liberation_guardian.cli.eval import eval_command
from liberation_guardian.cli.feedback import feedback_command
from liberation_guardian.cli.incident import ack_command, resolve_command
from liberation_guardian.cli.init import init
from liberation_guardian.cli.kb import kb_command
from liberation_guardian.cli.replay import replay
from liberation_guardian.cli.route_test import route_test
from liberation_guardian.cli.send import send
from liberation_guardian.cli.serve import serve
from liberation_guardian.cli.silence import silence_command
from liberation_guardian.cli.sources import sources_command
from liberation_guardian.cli.triage import triage


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liberation-guardian")
@config_option
def cli(config_path: Path | None) -> None:
    """Liberation Guardian: every webhook in, one incident, the right action out."""


for command in (
    serve,
    init,
    check_config,
    triage,
    replay,
    send,
    sources_command,
    silence_command,
    route_test,
    ack_command,
    resolve_command,
    feedback_command,
    kb_command,
    analyze_command,
    eval_command,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="liberation-guardian")
