"""Discovery: every source with its URL, authentication, state and traffic, for `/api/sources` and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, inspect, select

from liberation_guardian import sources
from liberation_guardian.config import LoadedConfig
from liberation_guardian.store.models import Event


def base_url(config: LoadedConfig) -> str:
    """Where this instance is reached: `core.public_url`, else the address it listens on."""
    core = config.settings.core
    return (core.public_url or f"http://{core.host}:{core.port}").rstrip("/")


def event_counts(engine: Engine) -> dict[str, int]:
    """Events stored per source (an empty mapping when the database has no tables yet)."""
    if not inspect(engine).has_table(Event.__tablename__):
        return {}
    with engine.connect() as connection:
        rows = connection.execute(select(Event.source, func.count()).group_by(Event.source)).all()
    return {str(source): int(count) for source, count in rows}


def catalog(config: LoadedConfig, counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """One entry per known source, enabled or not, sorted by name."""
    url = base_url(config)
    endpoints = config.endpoints()
    entries = []
    for name, cls in sorted(sources.registry().items()):
        configured_at = _configured_at(config, name, cls.aliases)
        enabled = name in config.sources
        secrets = config.sources[name][1].secrets if enabled else {}
        missing = [p for p in config.missing_secrets if configured_at and p.startswith(configured_at + ".")]
        urls = sorted(f"{url}/webhook/{key}" for key in endpoints if key == name or key.startswith(f"{name}/"))
        entries.append(
            {
                "name": name,
                "group": cls.group,
                "config_key": configured_at or f"integrations.{cls.group}.{name}",
                "aliases": list(cls.aliases),
                "url": f"{url}/webhook/{name}",
                "urls": urls,
                "auth": cls.auth_scheme,
                "enabled": enabled,
                "configured": configured_at is not None,
                "authenticated": bool(secrets),
                "missing_secrets": missing,
                "events_received": sum(n for key, n in counts.items() if key == name or key.startswith(f"{name}/")),
            }
        )
    return entries


def _configured_at(config: LoadedConfig, name: str, aliases: tuple[str, ...]) -> str | None:
    for group, entries in config.settings.integrations.items():
        for key in (name, *aliases):
            if key in entries:
                return f"integrations.{group}.{key}"
    return None
