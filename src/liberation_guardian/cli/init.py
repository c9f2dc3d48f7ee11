"""`liberation-guardian init [PATH]`: write a working configuration and an admin token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from liberation_guardian.cli._common import DEFAULT_CONFIG, config_option, resolve_config_path
from liberation_guardian.config.template import INIT_TEMPLATE

TOKEN_VARIABLE = "GUARDIAN_ADMIN_TOKEN"


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@click.pass_context
def init(ctx: click.Context, path: Path | None, config_path: Path | None, force: bool) -> None:
    """Write a minimal configuration (default ./liberation-guardian.yml) that needs no secret."""
    target = path or resolve_config_path(ctx, config_path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(INIT_TEMPLATE, encoding="utf-8")
    click.echo(f"wrote {target}")
    env_file = target.parent / ".env"
    existing = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    if f"{TOKEN_VARIABLE}=" in existing:
        click.echo(f"the admin token is already in {env_file} ({TOKEN_VARIABLE})")
        return
    token = secrets.token_urlsafe(32)
    with env_file.open("a", encoding="utf-8") as handle:
        if existing and not existing.endswith("\n"):
            handle.write("\n")
        handle.write(f"{TOKEN_VARIABLE}={token}\n")
    os.chmod(env_file, 0o600)
    click.echo(f"wrote the admin token to {env_file} as {TOKEN_VARIABLE} (readable only by you)")
    click.echo(
        f'use it as: curl -H "Authorization: Bearer $(grep {TOKEN_VARIABLE} {env_file} | cut -d= -f2-)" '
        "http://127.0.0.1:8080/api/incidents"
    )
    if target.name != DEFAULT_CONFIG:
        click.echo(f"start with: liberation-guardian --config {target} serve")
