"""Notification templates: the built-in wording, user overrides, load-time checks, fallback and the sandbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from liberation_guardian.act.notify import templates
from liberation_guardian.act.notify.base import GroupedIncident, Notification
from liberation_guardian.act.notify.email import EmailChannel, EmailConfig, build_html
from liberation_guardian.act.notify.templates import plural
from liberation_guardian.act.notify.webhook import WebhookChannel, WebhookConfig
from liberation_guardian.config import LoadedConfig, load_text
from liberation_guardian.errors import ConfigError
from liberation_guardian.events import Severity
from tests.fixtures.recorder import Recorder
from tests.fixtures.server import running_server
from tests.fixtures.smtp import SmtpServer


@pytest.fixture(autouse=True)
def builtin_templates() -> Iterator[None]:
    """Every test starts and ends with the built-in set active, whatever it activated."""
    templates.activate(templates.builtin())
    yield
    templates.activate(templates.builtin())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty `templates` folder beside the config file."""
    path = tmp_path / "templates"
    path.mkdir()
    return path


def load(
    base_dir: Path, directory: str = "templates", *, core: str = "", extra: str = "", env: dict[str, str] | None = None
) -> LoadedConfig:
    """Load a config whose line 2 is `  dir: <directory>`; `core` adds keys under `core:`, `extra` whole sections."""
    text = f"templates:\n  dir: {directory}\ncore:\n  name: Guardian\n{core}{extra}"
    return load_text(text, env or {}, base_dir=base_dir)


def use(folder: Path, **files: str) -> None:
    """Write `files` (name with `.j2` spelled `_j2`, `email_html_j2` for `email.html.j2`) and activate the folder."""
    for key, content in files.items():
        name = key.replace("_html_j2", ".html.j2").replace("_j2", ".j2")
        (folder / name).write_text(content, encoding="utf-8")
    templates.activate(load(folder.parent).templates)


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def webhook(recorder: Recorder) -> WebhookChannel:
    return WebhookChannel(WebhookConfig.model_validate({"url_env": "HOOK_URL"}), {"url": recorder.url + "/hook"})


# The built-in wording, pinned character for character.


def test_builtin_headline_and_text(notification: Notification) -> None:
    assert notification.headline() == "[CRITICAL] Instance down <api-1> & friends (needs a human)"
    assert notification.text() == (
        "[CRITICAL] Instance down <api-1> & friends (needs a human)\n"
        "\n"
        "api-1:9100 has not answered a scrape for 5 minutes.\n"
        "\n"
        "source alertmanager, service api, environment production, 3 occurrences\n"
        "Decision: escalate (category availability)\n"
        "\n"
        "Critical severity escalates at once.\n"
        "No known pattern matches.\n"
        "Alertmanager: http://alertmanager.example/#/alerts?x=1|2\n"
        "Incident: http://guardian.example/incidents/42\n"
        "— Guardian Test, incident #42"
    )


def test_builtin_text_of_a_bare_resolution() -> None:
    bare = Notification(
        idempotency_key="k",
        incident_id=7,
        transition="resolved",
        action="investigate",
        severity=Severity.low,
        title="Queue backlog",
        summary="Queue backlog",
        rationale="not shown once resolved",
        source="generic",
        occurrences=1,
    )

    assert bare.text() == (
        "[RESOLVED] Queue backlog\n\nsource generic, 1 occurrence\n— Liberation Guardian, incident #7"
    )


@pytest.mark.parametrize(
    ("transition", "action", "headline"),
    [
        ("acknowledged", "escalate", "[ACKNOWLEDGED] Disk full"),
        ("opened", "auto_fix", "[HIGH] Disk full (fix proposed)"),
        ("reopened", "investigate", "[HIGH] Disk full (to investigate)"),
        ("opened", "auto_acknowledge", "[HIGH] Disk full (acknowledged)"),
        ("opened", "page_someone", "[HIGH] Disk full (page_someone)"),
    ],
)
def test_builtin_headline_per_transition_and_action(transition: str, action: str, headline: str) -> None:
    n = Notification(
        idempotency_key="k",
        incident_id=1,
        transition=transition,
        action=action,
        severity=Severity.high,
        title="Disk full",
        source="generic",
    )

    assert n.headline() == headline


def test_builtin_text_of_a_grouped_message(notification: Notification) -> None:
    grouped = notification.model_copy(
        update={
            "title": "api",
            "summary": "",
            "note": "Still unacknowledged after 30 minutes.",
            "links": [],
            "incident_url": None,
            "incidents": [
                GroupedIncident(incident_id=1, title="down", severity=Severity.critical, transition="opened"),
                GroupedIncident(
                    incident_id=2,
                    title="slow",
                    severity=Severity.high,
                    transition="resolved",
                    incident_url="http://guardian.example/incidents/2",
                ),
            ],
        }
    )

    assert grouped.text() == (
        "[CRITICAL] 2 incidents: api\n"
        "\n"
        "Still unacknowledged after 30 minutes.\n"
        "\n"
        "- #1 [critical] down\n"
        "- #2 [resolved] slow http://guardian.example/incidents/2\n"
        "\n"
        "source alertmanager, service api, environment production, 3 occurrences\n"
        "Decision: escalate (category availability)\n"
        "\n"
        "Critical severity escalates at once.\n"
        "No known pattern matches.\n"
        "— Guardian Test, incident #42"
    )


def test_builtin_email_html(notification: Notification) -> None:
    quoted = notification.model_copy(update={"title": 'It\'s "down"', "environment": None})

    assert build_html(quoted) == (
        '<!DOCTYPE html><html><body style="font-family: sans-serif">\n'
        "<h2>[CRITICAL] It&#x27;s &quot;down&quot; (needs a human)</h2>\n"
        "<p>api-1:9100 has not answered a scrape for 5 minutes.</p>\n"
        "<table>\n"
        '<tr><th align="left">Severity</th><td>critical</td></tr>\n'
        '<tr><th align="left">Decision</th><td>escalate (category availability)</td></tr>\n'
        '<tr><th align="left">Source</th><td>alertmanager</td></tr>\n'
        '<tr><th align="left">Service</th><td>api</td></tr>\n'
        '<tr><th align="left">Occurrences</th><td>3</td></tr>\n'
        "</table>\n"
        "<p><strong>Why:</strong> Critical severity escalates at once.<br>No known pattern matches.</p>\n"
        "<ul>\n"
        '<li><a href="http://guardian.example/incidents/42">Incident</a></li>\n'
        '<li><a href="http://alertmanager.example/#/alerts?x=1|2">Alertmanager</a></li>\n'
        "</ul>\n"
        '<p style="color: #666">Guardian Test, incident #42</p></body></html>'
    )


def test_plural() -> None:
    assert [plural(0, "occurrence"), plural(1, "occurrence"), plural(2, "occurrence")] == [
        "0 occurrences",
        "1 occurrence",
        "2 occurrences",
    ]
    assert plural(3, "person", "people") == "3 people"


# Overrides.


def test_an_overridden_text_is_what_the_webhook_sends(
    folder: Path, recorder: Recorder, notification: Notification
) -> None:
    use(
        folder,
        text_j2="{{ headline }}\n{{ n.service }}/{{ n.environment }}: {{ plural(n.occurrences, 'time') }}\n",
    )

    webhook(recorder).send(notification)

    body = recorder.wait_for(1)[0].json
    assert body["text"] == "[CRITICAL] Instance down <api-1> & friends (needs a human)\napi/production: 3 times"
    assert body["title"] == "Instance down <api-1> & friends"


def test_an_overridden_headline_changes_the_builtin_text_too(folder: Path, notification: Notification) -> None:
    use(folder, headline_j2="{{ n.severity.value }} · #{{ n.incident_id }} · {{ n.title }}")

    assert notification.headline() == "critical · #42 · Instance down <api-1> & friends"
    assert notification.text().splitlines()[0] == "critical · #42 · Instance down <api-1> & friends"
    assert notification.text().endswith("— Guardian Test, incident #42")


def test_email_subject_and_html_overrides_reach_the_mail(
    folder: Path, smtp_server: SmtpServer, notification: Notification
) -> None:
    use(
        folder,
        email_subject_j2="Guardian: {{ n.title }}\n(second line)",
        email_html_j2="<p>{{ n.title }}</p>{{ n.rationale | nl2br }}{% if n.incident_url is web_link %}!{% endif %}",
    )
    config = EmailConfig.model_validate(
        {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "to": ["oncall@ops.example"]}
    )

    EmailChannel(config, {}).send(notification)

    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Guardian: Instance down <api-1> & friends (second line)"
    html = body(mail.message, "html")
    assert html.rstrip("\r\n") == (
        "<p>Instance down &lt;api-1&gt; &amp; friends</p>"
        "Critical severity escalates at once.<br>No known pattern matches.!"
    )
    plain = body(mail.message, "plain")
    assert plain.replace("\r\n", "\n").rstrip("\n") == notification.text()


def test_only_html_templates_escape(folder: Path, notification: Notification) -> None:
    use(folder, text_j2="{{ n.title }}", email_html_j2="{{ n.title }} {{ '<b>' | safe }}")

    assert notification.text() == "Instance down <api-1> & friends"
    assert build_html(notification) == "Instance down &lt;api-1&gt; &amp; friends <b>"


def test_a_user_folder_may_hold_partials(folder: Path, notification: Notification) -> None:
    (folder / "parts").mkdir()
    (folder / "parts" / "sign.j2").write_text("-- {{ n.instance }}", encoding="utf-8")
    use(folder, text_j2='{{ n.title }}\n{% include "parts/sign.j2" %}')

    assert notification.text() == "Instance down <api-1> & friends\n-- Guardian Test"


def test_the_app_speaks_with_its_configurations_templates(tmp_path: Path, folder: Path, fixtures_dir: Path) -> None:
    (folder / "text.j2").write_text("{{ headline }} from {{ n.source }} (ours)", encoding="utf-8")
    with Recorder() as hooks:
        config = load(
            tmp_path,
            core=f'  database_url: "sqlite:///{tmp_path}/guardian.db"\n',
            extra=(
                "integrations:\n"
                "  observability:\n"
                "    prometheus: {enabled: true}\n"
                "  notifications:\n"
                "    webhook: {enabled: true, url_env: HOOK_URL}\n"
                "decision_rules:\n"
                "  escalate:\n"
                "    conditions:\n"
                "      - notification_channels: [webhook]\n"
            ),
            env={"HOOK_URL": hooks.url + "/hook"},
        )
        with running_server(config) as server:
            payload = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
            answer = httpx.post(
                server.url + "/webhook/alertmanager", content=payload, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 202
            texts = sorted(request.json["text"] for request in hooks.wait_for(2, timeout=15))

    assert texts == [
        "[CRITICAL] Instance localhost:8081 down (needs a human) from alertmanager (ours)",
        "[CRITICAL] Instance localhost:8082 down (needs a human) from alertmanager (ours)",
    ]


# Load-time checks.


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path, folder: Path) -> None:
    (folder / "text.j2").write_text("{{ headline }}\n\n{% if n.note %}\n{{ n.note }\n{% endif %}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load(tmp_path)

    error = caught.value
    assert error.path == "templates.dir"
    assert error.line == 2
    assert f"{folder / 'text.j2'} line 4: " in error.message
    assert str(error).startswith("templates.dir (line 2): ")


def test_every_broken_file_is_reported(tmp_path: Path, folder: Path) -> None:
    (folder / "headline.j2").write_text("{% if %}", encoding="utf-8")
    (folder / "mine.j2").write_text("ok\n{{ n.title | no_such_filter }}", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load(tmp_path)

    message = caught.value.message
    assert f"{folder / 'headline.j2'} line 1: " in message
    assert f"{folder / 'mine.j2'} line 2: " in message and "no_such_filter" in message


def test_a_file_that_is_not_text_is_reported(tmp_path: Path, folder: Path) -> None:
    (folder / "text.j2").write_bytes(b"\xff\xfe{{")

    with pytest.raises(ConfigError, match=r"text\.j2: cannot be read as UTF-8 text") as caught:
        load(tmp_path)
    assert caught.value.path == "templates.dir"


def test_the_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, directory="nowhere")

    assert caught.value.path == "templates.dir"
    assert caught.value.line == 2
    assert caught.value.message == f"folder {tmp_path / 'nowhere'} does not exist"


def test_the_folder_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file.j2").write_text("x", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"templates\.dir \(line 2\): .*file\.j2 is not a folder"):
        load(tmp_path, directory="file.j2")


def test_an_empty_dir_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, directory='""')

    assert caught.value.path == "templates.dir"


def test_without_the_key_the_builtin_set_is_used(tmp_path: Path) -> None:
    config = load_text("core: {}\n", {}, base_dir=tmp_path)

    assert config.templates is templates.builtin()


def test_a_valid_folder_compiles_and_does_not_activate_itself(tmp_path: Path, folder: Path) -> None:
    (folder / "text.j2").write_text("{{ n.title }}", encoding="utf-8")

    config = load(tmp_path)

    assert config.templates.directory == folder
    assert templates.active() is templates.builtin()


# Failures while rendering.


def test_a_render_error_falls_back_to_the_builtin_template_and_warns(
    folder: Path, recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    use(folder, text_j2="{{ headline }} in {{ n.region }}")
    builtin_text = templates.builtin().render(templates.TEXT, notification)

    with caplog.at_level(logging.WARNING, logger="liberation_guardian.act.notify.templates"):
        webhook(recorder).send(notification)

    assert recorder.wait_for(1)[0].json["text"] == builtin_text
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"template {folder / 'text.j2'} failed, the built-in one was used: ")
    assert "region" in record.getMessage()
    assert record.__dict__["template"] == "text.j2"
    assert record.__dict__["incident_id"] == 42


def test_a_failing_headline_falls_back_but_a_working_text_is_kept(
    folder: Path, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    use(folder, headline_j2="{{ 1 // 0 }}", text_j2="{{ headline }}!")

    with caplog.at_level(logging.WARNING, logger="liberation_guardian.act.notify.templates"):
        text = notification.text()

    assert text == "[CRITICAL] Instance down <api-1> & friends (needs a human)!"
    assert [r.__dict__["template"] for r in caplog.records] == ["headline.j2"]


# The sandbox.


@pytest.mark.parametrize(
    "source",
    [
        "{{ n.__class__ }}",
        "{{ n.__class__.__mro__[-1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.getcwd() }}",
        "{{ plural.__globals__['os'] }}",
        "{{ n.links.append(n.links[0]) }}",
        "{{ n.model_fields_set.clear() }}",
    ],
)
def test_the_sandbox_refuses_internals_and_mutation(
    source: str, folder: Path, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    use(folder, text_j2=source)
    before = notification.model_dump()

    with caplog.at_level(logging.WARNING, logger="liberation_guardian.act.notify.templates"):
        text = notification.text()

    assert text == templates.builtin().render(templates.TEXT, notification)
    assert "unsafe" in caplog.records[0].getMessage()
    assert notification.model_dump() == before
    assert len(notification.links) == 1
