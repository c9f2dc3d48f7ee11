"""`liberation-guardian send --source S FILE`: post a payload to a running server, signed as its tool would."""

from __future__ import annotations

from pathlib import Path

import click
import httpx

from liberation_guardian.cli._common import config_option, fail, load, source_for


@click.command()
@click.option("--source", "source_name", required=True, help="Source to post as (sentry, alertmanager, ...).")
@click.option("--url", default=None, help="Webhook URL (default http://<core.host>:<core.port>/webhook/<source>).")
@click.option("--header", "-H", "headers", multiple=True, help="Extra header 'Name: value' (repeatable).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.pass_context
def send(
    ctx: click.Context,
    source_name: str,
    url: str | None,
    headers: tuple[str, ...],
    file: Path,
    config_path: Path | None,
) -> None:
    """Post FILE to the server; prints the answer and exits non-zero unless it was accepted."""
    config = load(ctx, config_path)
    source = source_for(config, source_name)
    body = file.read_bytes()
    core = config.settings.core
    target = url or f"http://{core.host}:{core.port}/webhook/{source.name}"
    request_headers = {"Content-Type": "application/json", "User-Agent": "liberation-guardian-send"}
    request_headers.update(source.sign(body))
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep:
            fail(f"--header {header!r} is not of the form 'Name: value'")
        request_headers[name.strip()] = value.strip()
    try:
        response = httpx.post(target, content=body, headers=request_headers, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {target}: {exc}", code=1)
    click.echo(f"{response.status_code} {response.text}")
    if response.status_code != 202:
        raise SystemExit(1)
