"""`liberation-guardian kb list|review|export|import|purge|playbooks|playbook`: the knowledge base from the shell.

Each command works on the configured database directly, so it needs neither the server
nor an API token; the running service picks up what it changed before its next decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian.cli._common import config_option, fail, load, login_name
from liberation_guardian.config import LoadedConfig
from liberation_guardian.learn.patterns import (
    ORIGINS,
    STATUSES,
    ReviewRefused,
    describe_playbook,
    review,
    seed_playbooks,
    seed_shipped,
)
from liberation_guardian.learn.retention import purge
from liberation_guardian.learn.sharing import SharingError, export_pack, import_pack
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import Pattern, Playbook, utcnow
from liberation_guardian.triage.category import TAXONOMY


@click.group("kb")
def kb_command() -> None:
    """The knowledge base: list patterns, review proposals, share packs, purge old history, read playbooks."""


@contextmanager
def _store(config: LoadedConfig) -> Iterator[sessionmaker[Session]]:
    """The configured database, migrated, with the shipped pack and playbooks seeded."""
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
        factory = sessions(engine)
        with transaction(factory) as session:
            seed_shipped(session, config.settings.learning, utcnow())
            seed_playbooks(session, utcnow())
        yield factory
    finally:
        engine.dispose()


@kb_command.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only patterns with this status.")
@click.option("--origin", type=click.Choice(ORIGINS), default=None, help="Only patterns from this origin.")
@config_option
@click.pass_context
def list_patterns(ctx: click.Context, status: str | None, origin: str | None, config_path: Path | None) -> None:
    """List patterns: id, origin, status, confidence, evidence (successes/failures, confirmed/rejected), title."""
    config = load(ctx, config_path)
    with _store(config) as factory, factory() as session:
        query = select(Pattern).order_by(Pattern.origin, Pattern.id)
        if status:
            query = query.where(Pattern.status == status)
        if origin:
            query = query.where(Pattern.origin == origin)
        rows = session.scalars(query).all()
        if not rows:
            click.echo("no patterns")
        for row in rows:
            click.echo(_line(row))


@kb_command.command("review")
@click.argument("pattern_id", required=False)
@click.option("--accept", "verdict", flag_value="accept", help="Make the proposed pattern active.")
@click.option("--reject", "verdict", flag_value="reject", help="Reject the proposed pattern.")
@click.option("--comment", default="", help="Why.")
@click.option("--by", "by", default=None, help="Who reviews (default: the login name).")
@config_option
@click.pass_context
def review_patterns(
    ctx: click.Context,
    pattern_id: str | None,
    verdict: str | None,
    comment: str,
    by: str | None,
    config_path: Path | None,
) -> None:
    """Without PATTERN_ID, list the proposals waiting for review; with it, --accept or --reject one."""
    config = load(ctx, config_path)
    if pattern_id is None:
        if verdict:
            fail(f"--{verdict} needs the id of the pattern to review")
        with _store(config) as factory, factory() as session:
            rows = session.scalars(
                select(Pattern).where(Pattern.status == "proposed").order_by(Pattern.updated_at.desc())
            ).all()
            if not rows:
                click.echo("no proposed patterns")
            for row in rows:
                click.echo(_line(row))
                click.echo(f"    match: {', '.join((row.match or {}).get('any') or [])}")
                click.echo(f"    {row.category}/{row.severity} -> {row.action}")
        return
    if verdict is None:
        fail("say --accept or --reject")
    with _store(config) as factory, transaction(factory) as session:
        found = session.get(Pattern, pattern_id)
        if found is None:
            fail(f"no pattern {pattern_id}")
        try:
            review(
                found,
                accept=verdict == "accept",
                by=f"cli:{by or login_name()}",
                comment=comment,
                learning=config.settings.learning,
                now=utcnow(),
            )
        except ReviewRefused as exc:
            fail(str(exc))
        done = "accepted" if verdict == "accept" else "rejected"
        click.echo(f"{found.id} {done}: {found.status}, confidence {found.confidence:.2f}")


@kb_command.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-names", is_flag=True, help="Keep host names, addresses and service names in the export.")
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=None,
    help="Only patterns at least this confident (default: the confidence threshold when sharing successful ones).",
)
@config_option
@click.pass_context
def export_command(
    ctx: click.Context, file: Path, allow_names: bool, min_confidence: float | None, config_path: Path | None
) -> None:
    """Write the learned, community and human patterns worth sharing to FILE, a pattern pack file."""
    config = load(ctx, config_path)
    with _store(config) as factory, factory() as session:
        try:
            result = export_pack(
                session,
                file,
                learning=config.settings.learning,
                now=utcnow(),
                allow_names=allow_names,
                min_confidence=min_confidence,
            )
        except SharingError as exc:
            fail(str(exc))
    for pattern_id, reason in result.skipped:
        click.echo(f"left out {pattern_id}: {reason}")
    click.echo(f"exported {len(result.written)} patterns to {file}")


@kb_command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--activate", is_flag=True, help="Make the patterns active at once instead of proposing them.")
@config_option
@click.pass_context
def import_command(ctx: click.Context, file: Path, activate: bool, config_path: Path | None) -> None:
    """Load a pattern pack file as community patterns, proposed for review unless --activate."""
    config = load(ctx, config_path)
    with _store(config) as factory:
        try:
            with transaction(factory) as session:
                result = import_pack(session, file, learning=config.settings.learning, now=utcnow(), activate=activate)
        except SharingError as exc:
            fail(str(exc))
    for pattern_id, reason in result.skipped:
        click.echo(f"skipped {pattern_id}: {reason}")
    state = "active" if activate else "proposed"
    click.echo(f"imported {len(result.added)} new and {len(result.updated)} updated patterns ({state}) from {file}")


@kb_command.command("purge")
@config_option
@click.pass_context
def purge_command(ctx: click.Context, config_path: Path | None) -> None:
    """Delete history older than learning.knowledge_base.retention_days now (the service does it hourly)."""
    config = load(ctx, config_path)
    days = config.settings.learning.knowledge_base.retention_days
    with _store(config) as factory:
        deleted = purge(factory, days)
    if not deleted:
        click.echo(f"nothing older than {days} days")
        return
    listed = ", ".join(f"{count} {table}" for table, count in sorted(deleted.items()))
    click.echo(f"deleted what was older than {days} days: {listed}")


@kb_command.command("playbooks")
@click.option("--category", type=click.Choice(TAXONOMY), default=None, help="Only playbooks of this category.")
@config_option
@click.pass_context
def list_playbooks(ctx: click.Context, category: str | None, config_path: Path | None) -> None:
    """List playbooks: id, category, number of steps, title."""
    config = load(ctx, config_path)
    with _store(config) as factory, factory() as session:
        query = select(Playbook).order_by(Playbook.category, Playbook.id)
        if category:
            query = query.where(Playbook.category == category)
        rows = [describe_playbook(row) for row in session.scalars(query)]
    if not rows:
        click.echo("no playbooks" + (f" of category {category}" if category else ""))
    for item in rows:
        click.echo(f"{item['id']}  {item['category']:<14} {len(item['steps']):>2} steps  {item['title']}")


@kb_command.command("playbook")
@click.argument("playbook_id")
@config_option
@click.pass_context
def show_playbook(ctx: click.Context, playbook_id: str, config_path: Path | None) -> None:
    """Print one playbook: what selects it, its steps in order, and how to verify it worked."""
    config = load(ctx, config_path)
    with _store(config) as factory, factory() as session:
        row = session.get(Playbook, playbook_id)
        if row is None:
            fail(f"no playbook {playbook_id} (liberation-guardian kb playbooks lists them)")
        item = describe_playbook(row)
    click.echo(f"{item['id']}: {item['title']}")
    click.echo(f"category: {item['category']}, origin: {item['origin']}")
    click.echo("applies to:")
    for rule in item["applies_to"]:
        click.echo("  - " + "; ".join(f"{name}: {_listed(value)}" for name, value in rule.items()))
    click.echo("steps:")
    for number, step in enumerate(item["steps"], 1):
        click.echo(f"  {number}. {step}")
    click.echo("verify:")
    for check in item["verify"]:
        click.echo(f"  - {check}")


def _listed(value: object) -> str:
    return ", ".join(str(part) for part in value) if isinstance(value, list) else str(value)


def _line(row: Pattern) -> str:
    evidence = f"{row.successes}/{row.failures} ok/failed, {row.confirmations}/{row.rejections} confirmed/rejected"
    return f"{row.id}  {row.origin:<9} {row.status:<8} {row.confidence:.2f}  {evidence}  {row.title}"
