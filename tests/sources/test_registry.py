"""The registry is exactly the modules on disk, names follow one convention, and discovery lists them all."""

from __future__ import annotations

import json
import pkgutil
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

import liberation_guardian.sources as package
from liberation_guardian import sources
from liberation_guardian.cli import cli
from liberation_guardian.config import load_text
from liberation_guardian.sources.base import SourceConfig
from tests.fixtures.server import running_server

GROUPS = {"observability", "incident_management", "infrastructure", "source_control", "ci_cd", "code_quality", "custom"}


def test_every_public_module_is_one_registered_source_named_after_it() -> None:
    modules = {
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_") and m.name != "base"
    }
    assert set(sources.registry()) == modules
    for name, cls in sources.registry().items():
        assert cls.__module__ == f"liberation_guardian.sources.{name}"
        assert cls.group in GROUPS, (name, cls.group)
        assert cls.auth_scheme and cls.auth_scheme != "none", name
        assert issubclass(cls.config_model, SourceConfig)
        assert (cls.__doc__ or "").strip(), f"{name} has no class docstring"
        assert (sys.modules[cls.__module__].__doc__ or "").strip(), f"{name} has no module docstring"


def test_config_keys_and_aliases_never_collide() -> None:
    seen: dict[str, str] = {}
    for name, cls in sources.registry().items():
        for key in (name, *cls.aliases):
            assert key not in seen, f"{key} is claimed by {seen.get(key)} and {name}"
            seen[key] = name


def test_api_and_cli_list_every_source(tmp_path: Path, fixtures_dir: Path) -> None:
    text = f"""
core:
  database_url: "sqlite:///{tmp_path}/g.db"
  admin_token_env: ADMIN
integrations:
  observability:
    sentry:
      webhook_secret_env: SENTRY_SECRET
    prometheus:
      enabled: true
    grafana:
      enabled: false
"""
    config_file = tmp_path / "liberation-guardian.yml"
    config_file.write_text(text)
    env = {"ADMIN": "t", "SENTRY_SECRET": "s"}
    config = load_text(text, env, base_dir=tmp_path)
    with running_server(config) as server:
        body = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
        assert httpx.post(server.url + "/webhook/alertmanager", content=body).status_code == 202
        listed = httpx.get(server.url + "/api/sources", headers={"Authorization": "Bearer t"}).json()["items"]
    by_name = {entry["name"]: entry for entry in listed}
    assert set(by_name) == set(sources.registry())
    am = by_name["alertmanager"]
    assert am["enabled"] and am["configured"] and not am["authenticated"]
    assert am["config_key"] == "integrations.observability.prometheus"
    assert am["url"] == "http://127.0.0.1:8080/webhook/alertmanager"
    assert am["events_received"] == 2
    assert by_name["sentry"]["authenticated"] and by_name["sentry"]["auth"]
    assert by_name["grafana"]["configured"] and not by_name["grafana"]["enabled"]

    runner = CliRunner(env={"ADMIN": "t", "SENTRY_SECRET": "s"})
    result = runner.invoke(cli, ["--config", str(config_file), "sources"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("alertmanager"))
    assert "enabled" in line and "2 events" in line and "/webhook/alertmanager" in line
    as_json = json.loads(runner.invoke(cli, ["--config", str(config_file), "sources", "--json"]).output)
    assert {entry["name"] for entry in as_json} == set(sources.registry())
