"""Read `liberation-guardian.yml` and the environment into a validated `LoadedConfig`.

This is the only module that reads environment variables. Secrets are looked up
only under the names the `*_env` keys give, first in the process environment, then
in a `.env` file beside the config file (where `init` writes the admin token).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from liberation_guardian import sources
from liberation_guardian.act import notify
from liberation_guardian.act.notify.base import Channel, ChannelConfig
from liberation_guardian.act.notify.templates import TemplateSet, builtin
from liberation_guardian.config._yaml_lines import LineIndex
from liberation_guardian.config.schema import Settings, idle_ai_agents
from liberation_guardian.errors import ConfigError
from liberation_guardian.sources.base import Source, SourceConfig

CHANNEL_GROUP = "notifications"


@dataclass(frozen=True)
class Plugin:
    """One enabled source or channel with its validated config and resolved secrets."""

    path: str
    config: BaseModel
    secrets: dict[str, str]


@dataclass
class LoadedConfig:
    """A validated configuration with the sources and channels it enables."""

    settings: Settings
    base_dir: Path
    path: Path | None = None
    sources: dict[str, tuple[type[Source], Plugin]] = field(default_factory=dict)
    channels: dict[str, tuple[type[Channel], Plugin]] = field(default_factory=dict)
    not_yet_used: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    admin_token: str | None = None
    ai_keys: dict[str, str] = field(default_factory=dict)
    templates: TemplateSet = field(default_factory=builtin)

    @property
    def database_url(self) -> str:
        """`core.database_url` with a relative SQLite path made relative to the config's folder."""
        url = self.settings.core.database_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str((self.base_dir / url[len(prefix) :]).resolve())
        return url

    def require_secrets(self) -> None:
        """Raise `ConfigError` naming every variable an enabled integration needs but is unset."""
        if self.missing_secrets:
            raise ConfigError("\n".join(self.missing_secrets))

    def endpoints(self) -> dict[str, Source]:
        """Every URL segment under /webhook/ that answers, with its source instance."""
        found: dict[str, Source] = {}
        for cls, plugin in self.sources.values():
            assert isinstance(plugin.config, SourceConfig)
            found.update(cls.endpoints(plugin.config, plugin.secrets))
        return found

    def source(self, name: str) -> Source | None:
        """An instance of the enabled source `name`, or None."""
        entry = self.sources.get(name)
        if entry is None:
            return None
        cls, plugin = entry
        assert isinstance(plugin.config, SourceConfig)
        return cls(plugin.config, plugin.secrets)

    def channel(self, name: str) -> Channel | None:
        """An instance of the enabled channel `name`, or None."""
        entry = self.channels.get(name)
        if entry is None:
            return None
        cls, plugin = entry
        assert isinstance(plugin.config, ChannelConfig)
        return cls(plugin.config, plugin.secrets)


def load_file(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate a config file; raise `ConfigError` naming the key path and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; create one with `liberation-guardian init {path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if env is None:
        dotenv = path.parent / ".env"
        file_values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
        env = {**file_values, **os.environ}
    loaded = load_text(text, env, base_dir=path.parent, source_name=str(path))
    loaded.path = path
    return loaded


def load_text(text: str, env: Mapping[str, str], *, base_dir: Path, source_name: str = "<config>") -> LoadedConfig:
    """Validate YAML text against the schema and the plugins' own config models."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source_name} is not valid YAML: {problem}", line=line) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source_name} must be a mapping of sections (core, integrations, ...)", line=1)
    lines = LineIndex(text)
    problems: list[ConfigError] = []
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(exc, (), lines))
        raise _combined(problems, source_name) from None

    loaded = LoadedConfig(settings=settings, base_dir=base_dir)
    loaded.not_yet_used.extend(_unused_keys(settings, raw, ()))
    loaded.not_yet_used.extend(f"ai_providers.{name}" for name in idle_ai_agents(settings.ai_providers))
    _load_integrations(loaded, env, lines, problems)
    _load_templates(loaded, lines, problems)
    for index, name in enumerate(settings.decision_rules.escalate.conditions.notification_channels):
        if name not in notify.registry():
            # The conditions list holds one-key mappings, so the line is the list's own.
            path = ("decision_rules", "escalate", "conditions")
            known = ", ".join(sorted(notify.registry()))
            problems.append(
                ConfigError(
                    f"no channel named {name!r} (channels: {known})",
                    path=f"{dotted_path(path)}.notification_channels[{index}]",
                    line=lines.line(path),
                )
            )
    if not problems:
        problems += _routing_problems(loaded, lines)
    if problems:
        raise _combined(problems, source_name)
    loaded.admin_token = env.get(settings.core.admin_token_env) or None
    # An unset AI key is not a missing secret: that entry is skipped and triage stays offline.
    agents = settings.ai_providers.items()
    loaded.ai_keys = {name: env[a.api_key_env] for name, a in agents if a.api_key_env and env.get(a.api_key_env)}
    return loaded


def _load_integrations(
    loaded: LoadedConfig, env: Mapping[str, str], lines: LineIndex, problems: list[ConfigError]
) -> None:
    source_keys = sources.config_keys()
    channels = notify.registry()
    for group, entries in loaded.settings.integrations.items():
        for key, raw in entries.items():
            where = ("integrations", group, key)
            dotted = ".".join(where)
            model: type[BaseModel]
            is_channel = group == CHANNEL_GROUP and key in channels
            if is_channel:
                model = channels[key].config_model
            elif key in source_keys:
                home = source_keys[key].group
                if group != home:
                    problems.append(
                        ConfigError(f"{key} belongs under integrations.{home}", path=dotted, line=lines.line(where))
                    )
                    continue
                model = source_keys[key].config_model
            else:
                if not isinstance(raw, dict):
                    problems.append(ConfigError("must be a mapping", path=dotted, line=lines.line(where)))
                    continue
                state = "enabled" if raw.get("enabled", True) else "disabled"
                loaded.not_yet_used.append(f"{dotted} ({state}; no {key!r} integration yet)")
                continue
            try:
                config = model.model_validate(raw if raw is not None else {})
            except ValidationError as exc:
                problems.extend(_problems(exc, where, lines))
                continue
            loaded.not_yet_used.extend(_unused_keys(config, raw or {}, where))
            if isinstance(config, SourceConfig):
                loaded.not_yet_used.extend(f"{dotted}.{key}" for key in config.idle_keys())
            if not _any_enabled(config):
                continue
            secrets = _resolve_secrets(config, env, dotted, loaded.missing_secrets)
            plugin = Plugin(path=dotted, config=config, secrets=secrets)
            if is_channel:
                loaded.channels[key] = (channels[key], plugin)
            else:
                cls = source_keys[key]
                if cls.name in loaded.sources:
                    other = loaded.sources[cls.name][1].path
                    problems.append(
                        ConfigError(f"source {cls.name!r} is configured twice (also at {other})", path=dotted)
                    )
                loaded.sources[cls.name] = (cls, plugin)


def _load_templates(loaded: LoadedConfig, lines: LineIndex, problems: list[ConfigError]) -> None:
    """Compile the templates of `templates.dir` now, so a broken one is a config error and not a surprise later."""
    folder = loaded.settings.templates.dir
    if folder is None:
        return
    try:
        loaded.templates = TemplateSet.load(loaded.base_dir / folder)
    except ConfigError as exc:
        problems.append(ConfigError(exc.message, path=exc.path, line=lines.line(("templates", "dir"))))


def _routing_problems(loaded: LoadedConfig, lines: LineIndex) -> list[ConfigError]:
    """Matchers that do not parse and names the routing section refers to that do not exist."""
    from liberation_guardian.dispatch.defaults import LOG_CHANNEL, build_tree  # routing needs the loaded channels
    from liberation_guardian.dispatch.inhibit import InhibitRule
    from liberation_guardian.dispatch.routes import RoutingProblem, check_references

    found: list[RoutingProblem] = []
    enabled = set(loaded.channels) | {LOG_CHANNEL}
    fallback = loaded.settings.delivery.fallback_channel
    if fallback not in enabled:
        found.append(
            RoutingProblem(
                ("delivery", "fallback_channel"),
                f"no enabled channel {fallback!r} ({', '.join(sorted(enabled))})",
            )
        )
    for index, rule in enumerate(loaded.settings.routing.inhibit_rules):
        try:
            InhibitRule.compile(rule, index)
        except RoutingProblem as problem:
            found.append(problem)
    try:
        tree = build_tree(loaded)
    except RoutingProblem as problem:
        found.append(problem)
    else:
        found += check_references(tree, loaded.settings.routing, enabled)
    return [ConfigError(p.message, path=dotted_path(p.path), line=lines.line(p.path)) for p in found]


def _resolve_secrets(
    config: BaseModel, env: Mapping[str, str], dotted: str, missing: list[str], prefix: str = ""
) -> dict[str, str]:
    """Look up every `*_env` key of an enabled integration, nested ones keyed by their path; note unset ones."""
    secrets: dict[str, str] = {}
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            if getattr(value, "enabled", True):
                secrets.update(_resolve_secrets(value, env, f"{dotted}.{name}", missing, f"{prefix}{name}."))
            continue
        if isinstance(value, dict) and value and all(isinstance(item, BaseModel) for item in value.values()):
            for key, item in value.items():
                if getattr(item, "enabled", True):
                    where = f"{dotted}.{name}.{key}"
                    secrets.update(_resolve_secrets(item, env, where, missing, f"{prefix}{name}.{key}."))
            continue
        if not name.endswith("_env") or not isinstance(value, str) or not value:
            continue
        if _is_unused(info.json_schema_extra):
            continue
        found = env.get(value)
        if found:
            secrets[prefix + name[: -len("_env")]] = found
        else:
            missing.append(f"{dotted}.{name}: environment variable {value} is not set (this integration is enabled)")
    return secrets


def _unused_keys(model: BaseModel, raw: Any, where: tuple[str, ...]) -> Iterator[str]:
    """Yield the dotted paths of keys present in `raw` whose field is marked not_yet_used."""
    if not isinstance(raw, dict):
        return
    for name, info in type(model).model_fields.items():
        if name not in raw:
            continue
        value = getattr(model, name)
        if _is_unused(info.json_schema_extra):
            yield ".".join((*where, name))
        elif isinstance(value, BaseModel):
            yield from _unused_keys(value, raw[name], (*where, name))


def _any_enabled(config: BaseModel) -> bool:
    """An integration is on when it, or one of its named instances, is enabled."""
    instances = getattr(config, "instances", None) or {}
    return bool(getattr(config, "enabled", True)) or any(item.enabled for item in instances.values())


def _is_unused(extra: Any) -> bool:
    return isinstance(extra, dict) and bool(extra.get("not_yet_used"))


def dotted_path(path: Sequence[str | int]) -> str:
    """`("routing", "route", "routes", 2)` as `routing.route.routes[2]`."""
    return ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in path).replace(".[", "[")


def _problems(exc: ValidationError, prefix: Sequence[str | int], lines: LineIndex) -> list[ConfigError]:
    found = []
    for error in exc.errors():
        loc = [*prefix, *(part for part in error["loc"] if isinstance(part, str | int))]
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see docs/configuration.md)"
        found.append(ConfigError(message, path=dotted_path(loc) or None, line=lines.line(loc)))
    return found


def _combined(problems: list[ConfigError], source_name: str) -> ConfigError:
    if len(problems) == 1:
        return problems[0]
    listing = "\n".join(f"  {problem}" for problem in problems)
    return ConfigError(f"{len(problems)} problems in {source_name}:\n{listing}")
