"""What every command shares: the --config option and loading it with clear errors."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from liberation_guardian import sources
from liberation_guardian.config import LoadedConfig, load_file
from liberation_guardian.errors import ConfigError
from liberation_guardian.sources.base import Source

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = "liberation-guardian.yml"


def config_option(func: F) -> F:
    """Add `--config PATH` to a command (it also works before the command name)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Configuration file (default ./{DEFAULT_CONFIG}).",
    )(func)


def resolve_config_path(ctx: click.Context, given: Path | None) -> Path:
    """The --config given to the command, else the one given before it, else the default."""
    if given is not None:
        return given
    parent = ctx.find_root().params.get("config_path")
    return parent if isinstance(parent, Path) else Path(DEFAULT_CONFIG)


def load(ctx: click.Context, given: Path | None) -> LoadedConfig:
    """Load the configuration or exit 2 with the key path and line of the problem."""
    path = resolve_config_path(ctx, given)
    try:
        return load_file(path)
    except ConfigError as exc:
        fail(f"{path}: {exc}")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def source_for(config: LoadedConfig, name: str) -> Source:
    """The source `name` as configured (enabled or not), or with defaults when not configured."""
    classes = sources.config_keys()
    if name not in classes:
        fail(f"no source named {name!r}; known: {', '.join(sorted(sources.registry()))}")
    cls = classes[name]
    if cls.name in config.sources:
        source = config.source(cls.name)
        assert source is not None
        return source
    return cls(cls.config_model(), {})


def login_name() -> str:
    """Who runs the command, for `by` and `author` fields (`cli` when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
