"""Loading liberation-guardian.yml: the spec's example, key-path errors, secrets from *_env only."""

from __future__ import annotations

from pathlib import Path

import pytest

from liberation_guardian.config import load_file, load_text
from liberation_guardian.errors import ConfigError
from tests.fixtures.spec import spec_example_config

SPEC_SECRETS = {
    "SENTRY_WEBHOOK_SECRET": "sentry-secret",
    "GRAFANA_WEBHOOK_SECRET": "grafana-secret",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack",
    "EMAIL_USERNAME": "ops",
    "EMAIL_PASSWORD": "pw",
    "GITHUB_WEBHOOK_SECRET": "github-secret",
}


def test_spec_example_loads_unchanged_and_enables_the_spine_integrations() -> None:
    config = load_text(spec_example_config(), SPEC_SECRETS, base_dir=Path("."))
    assert set(config.sources) == {"sentry", "alertmanager", "grafana", "github", "kubernetes"}
    assert set(config.channels) == {"slack", "email"}
    assert config.missing_secrets == []
    assert config.sources["sentry"][1].secrets == {"webhook_secret": "sentry-secret"}
    assert config.channels["email"][1].secrets == {"username": "ops", "password": "pw"}
    rules = config.settings.decision_rules
    assert rules.auto_fix.conditions.max_fix_attempts == 3
    assert rules.auto_acknowledge.conditions.frequency == "occasional"
    assert rules.escalate.conditions.notification_channels == ["email", "sms", "slack"]


def test_every_key_without_an_effect_yet_is_reported() -> None:
    config = load_text(spec_example_config(), SPEC_SECRETS, base_dir=Path("."))
    unused = "\n".join(config.not_yet_used)
    for key in (
        "ai_providers",
        "integrations.observability.sentry.dsn_env",
        "integrations.observability.sentry.auto_acknowledge",
        "integrations.observability.prometheus.scrape_url",
        "integrations.observability.prometheus.alert_webhook_port",
        "integrations.observability.elk_stack.elasticsearch_url",
        "integrations.infrastructure.aws",
        "integrations.infrastructure.kubernetes.kubeconfig_path",
        "integrations.source_control.github.token_env",
        "integrations.source_control.github.auto_merge_enabled",
        "integrations.source_control.gitlab.token_env",
    ):
        assert key in unused, key
    # Keys with an effect are not in the list.
    used = (
        "core.",
        "decision_rules.auto",
        "integrations.notifications.",
        "integrations.observability.sentry (",
        "learning.",
    )
    assert not [key for key in config.not_yet_used if key.startswith(used)]


def test_an_enabled_integration_with_its_secret_unset_names_the_variable() -> None:
    env = {k: v for k, v in SPEC_SECRETS.items() if k != "SENTRY_WEBHOOK_SECRET"}
    config = load_text(spec_example_config(), env, base_dir=Path("."))
    with pytest.raises(ConfigError) as raised:
        config.require_secrets()
    message = str(raised.value)
    assert "SENTRY_WEBHOOK_SECRET" in message
    assert "integrations.observability.sentry.webhook_secret_env" in message
    # A secret that is not used yet (the DSN) is not required.
    assert "SENTRY_DSN" not in message


def test_a_disabled_integration_needs_no_secret() -> None:
    text = "integrations:\n  observability:\n    sentry:\n      enabled: false\n      webhook_secret_env: NOPE\n"
    config = load_text(text, {}, base_dir=Path("."))
    assert config.missing_secrets == []
    assert "sentry" not in config.sources


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("core:\n  port: eighty\n", "core.port", 2),
        ("core:\n  name: x\n  prot: 8080\n", "core.prot", 3),
        (
            "decision_rules:\n  auto_fix:\n    patterns:\n      - 'ok'\n      - '(unclosed'\n",
            "decision_rules.auto_fix.patterns",
            3,
        ),
        (
            "decision_rules:\n  auto_acknowledge:\n    conditions:\n      - frequency: sometimes\n",
            "decision_rules.auto_acknowledge.conditions.frequency",
            4,
        ),
        (
            "integrations:\n  observability:\n    sentry:\n      enabld: true\n",
            "integrations.observability.sentry.enabld",
            4,
        ),
        (
            "integrations:\n  notifications:\n    slack:\n      enabled: yes-please\n",
            "integrations.notifications.slack.enabled",
            4,
        ),
    ],
)
def test_invalid_files_name_the_key_path_and_line(text: str, path: str, line: int) -> None:
    with pytest.raises(ConfigError) as raised:
        load_text(text, {}, base_dir=Path("."))
    assert raised.value.path == path
    assert raised.value.line == line
    assert f"{path} (line {line})" in str(raised.value)


def test_broken_yaml_gives_its_line() -> None:
    with pytest.raises(ConfigError) as raised:
        load_text("core:\n  name: [unclosed\n  port: 1\n", {}, base_dir=Path("."))
    assert raised.value.line is not None
    assert "not valid YAML" in str(raised.value)


def test_secrets_come_from_the_named_variable_or_the_env_file_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "liberation-guardian.yml"
    config_file.write_text("core:\n  admin_token_env: MY_TOKEN\n")
    (tmp_path / ".env").write_text("MY_TOKEN=from-file\n")
    monkeypatch.delenv("MY_TOKEN", raising=False)
    assert load_file(config_file).admin_token == "from-file"
    monkeypatch.setenv("MY_TOKEN", "from-environment")
    assert load_file(config_file).admin_token == "from-environment"


def test_relative_sqlite_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_text('core:\n  database_url: "sqlite:///data/x.db"\n', {}, base_dir=tmp_path)
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/data/x.db"


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="liberation-guardian init"):
        load_file(tmp_path / "absent.yml")


def test_a_source_configured_under_another_group_says_where_it_belongs() -> None:
    with pytest.raises(ConfigError) as raised:
        load_text("integrations:\n  custom:\n    sentry:\n      enabled: true\n", {}, base_dir=Path("."))
    assert raised.value.path == "integrations.custom.sentry"
    assert raised.value.line == 3
    assert "belongs under integrations.observability" in str(raised.value)


def test_an_escalation_channel_that_does_not_exist_is_an_error() -> None:
    text = "decision_rules:\n  escalate:\n    conditions:\n      - notification_channels: [slack, pager]\n"
    with pytest.raises(ConfigError) as caught:
        load_text(text, {}, base_dir=Path("."))
    assert "decision_rules.escalate.conditions.notification_channels[1]" in str(caught.value)
    assert "no channel named 'pager'" in str(caught.value)
