"""`liberation-guardian check-config [PATH]`: validate a configuration file."""

from __future__ import annotations

from pathlib import Path

import click

from liberation_guardian.cli._common import config_option, fail, resolve_config_path
from liberation_guardian.config import load_file
from liberation_guardian.errors import ConfigError


@click.command("check-config")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.pass_context
def check_config(ctx: click.Context, path: Path | None, config_path: Path | None) -> None:
    """Exit 0 when the file is valid, 2 with the key path and line of each problem when not."""
    target = path or resolve_config_path(ctx, config_path)
    try:
        config = load_file(target)
    except ConfigError as exc:
        fail(f"{target}: {exc}")
    click.echo(f"{target}: valid")
    click.echo(f"  sources enabled: {', '.join(sorted(config.sources)) or 'none'}")
    click.echo(f"  channels enabled: {', '.join(sorted({*config.channels, 'console'}))}")
    for key in config.not_yet_used:
        click.echo(f"  accepted, not yet used: {key}")
    for problem in config.missing_secrets:
        click.echo(f"  warning: {problem}", err=True)
    if not config.admin_token:
        click.echo(f"  warning: {config.settings.core.admin_token_env} is not set; /api/* will be disabled", err=True)
