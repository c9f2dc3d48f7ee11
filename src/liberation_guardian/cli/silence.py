"""`liberation-guardian silence add|list|expire`: silences from the shell, straight in the database.

The running service reads silences from the same database before every message, so a
silence added here takes effect on its next pass without a restart or an API token.
"""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from liberation_guardian.cli._common import config_option, fail, load, login_name
from liberation_guardian.config.routing import parse_duration
from liberation_guardian.dispatch import silences
from liberation_guardian.dispatch.matchers import Matcher
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Silence, utcnow


@click.group("silence")
def silence_command() -> None:
    """Mute notifications for incidents matching labels, for a while (maintenance windows)."""


@silence_command.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", default="1h", show_default=True, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--starts-in", default="0", help="Start later, e.g. 1h for a planned maintenance window.")
@click.option("--author", default=None, help="Who is silencing (default: the login name).")
@click.option("--comment", default="", help="Why.")
@config_option
@click.pass_context
def add(
    ctx: click.Context,
    matchers: tuple[str, ...],
    duration: str,
    starts_in: str,
    author: str | None,
    comment: str,
    config_path: Path | None,
) -> None:
    """Add a silence: MATCHERS such as 'service="payments"' 'severity=~"low|info"'."""
    config = load(ctx, config_path)
    try:
        parsed = [Matcher.parse(text) for text in matchers]
        now = utcnow()
        starts_at = now + parse_duration(starts_in)
        ends_at = starts_at + parse_duration(duration)
        silences.check(parsed, starts_at, ends_at, now)
    except ValueError as exc:
        fail(str(exc))
    engine = make_engine(config.database_url)
    migrate(engine)
    with transaction(sessions(engine)) as session:
        who = author or login_name()
        silence = silences.create(session, parsed, starts_at, ends_at, who, comment, now)
        click.echo(silence.id)
    engine.dispose()


@silence_command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@config_option
@click.pass_context
def list_silences(ctx: click.Context, show_all: bool, config_path: Path | None) -> None:
    """List silences: id, state, until, matchers, author and comment."""
    config = load(ctx, config_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    now = utcnow()
    with sessions(engine)() as session:
        rows = session.scalars(select(Silence).order_by(Silence.created_at.desc())).all()
        shown = [row for row in rows if show_all or silences.state(row, now) != "expired"]
        if not shown:
            click.echo("no silences" if show_all else "no active or pending silences (--all shows expired ones)")
        for row in shown:
            matchers = " ".join(str(m) for m in silences.matchers_of(row))
            state = silences.state(row, now)
            until = row.ends_at.strftime("%Y-%m-%d %H:%M UTC")
            click.echo(f"{row.id}  {state:<8} until {until}  {matchers}  by {row.created_by}: {row.comment}")
    engine.dispose()


@silence_command.command("expire")
@click.argument("silence_id")
@config_option
@click.pass_context
def expire(ctx: click.Context, silence_id: str, config_path: Path | None) -> None:
    """End a silence now."""
    config = load(ctx, config_path)
    engine = make_engine(config.database_url)
    migrate(engine)
    with transaction(sessions(engine)) as session:
        silence = session.get(Silence, silence_id)
        if silence is None:
            fail(f"no silence {silence_id}")
        if not silences.expire(silence, utcnow()):
            click.echo(f"{silence_id} had already expired")
        else:
            click.echo(f"{silence_id} expired")
    engine.dispose()
