"""`liberation-guardian serve`: run the webhook receiver, the API and the pipeline."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import uvicorn

from liberation_guardian.app import create_app
from liberation_guardian.cli._common import config_option, fail, load
from liberation_guardian.errors import ConfigError
from liberation_guardian.observe.logging import configure

log = logging.getLogger("liberation_guardian")


@click.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default core.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default core.port).")
@click.pass_context
def serve(ctx: click.Context, config_path: Path | None, host: str | None, port: int | None) -> None:
    """Start the server: webhooks at /webhook/{source}, the API at /api, health at /healthz."""
    config = load(ctx, config_path)
    try:
        config.require_secrets()
    except ConfigError as exc:
        fail(f"cannot start:\n{exc}")
    configure(config.settings.core.log_level)
    for key in config.not_yet_used:
        log.warning("accepted, not yet used: %s", key, extra={"key": key})
    if not config.admin_token:
        log.warning("the /api routes are disabled until %s is set", config.settings.core.admin_token_env)
    host = host or config.settings.core.host
    port = port or config.settings.core.port
    log.info("listening", extra={"url": f"http://{host}:{port}", "sources": sorted(config.sources)})
    uvicorn.run(create_app(config), host=host, port=port, log_config=None, access_log=False)
