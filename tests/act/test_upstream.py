"""Upstream actions speak Sentry's and PagerDuty's REST APIs to local stand-ins, and are queued only when due."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from liberation_guardian import __version__
from liberation_guardian.act.deliver import DELIVERED, FAILED, Deliverer
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.upstream import channels
from liberation_guardian.act.upstream.base import UpstreamAction
from liberation_guardian.act.upstream.pagerduty import PagerDutyAcknowledge
from liberation_guardian.act.upstream.sentry import SentryIssueStatus
from liberation_guardian.config import LoadedConfig, load_text
from liberation_guardian.errors import ConfigError, DeliveryFailed
from liberation_guardian.events import Severity
from liberation_guardian.group.incidents import acknowledge
from liberation_guardian.pipeline.offline import OfflineRun
from liberation_guardian.sources.pagerduty import PagerDutyConfig
from liberation_guardian.sources.sentry import SentryConfig
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Decision, Delivery, Incident, utcnow
from tests.fixtures.recorder import Recorder

SENTRY_TOKEN = "sntrys_0123456789abcdefSECRET"
PD_TOKEN = "y_NbAkKc66ryYTWUXYEu"
ENV = {"SENTRY_TOKEN": SENTRY_TOKEN, "PD_TOKEN": PD_TOKEN}
PAYLOADS = Path(__file__).resolve().parents[1] / "sources" / "payloads" / "pagerduty"
ISSUE = {"id": "1170820242", "status": "ignored", "shortId": "FRONT-END-1"}
PD_INCIDENT = {"incident": {"id": "Q2K9X7NM4HB1C", "type": "incident", "status": "acknowledged"}}


def note(**upstream: str) -> Notification:
    return Notification(
        idempotency_key="incident-7/t1-upstream-ack",
        incident_id=7,
        transition="acknowledged",
        action="acknowledged",
        severity=Severity.high,
        title="ReferenceError: blooopy is not defined",
        summary="Acknowledged by api:ana.",
        source="sentry",
        upstream=upstream,
    )


def sentry(recorder: Recorder, **config: Any) -> SentryIssueStatus:
    settings = SentryConfig.model_validate(
        {
            "auto_acknowledge": True,
            "api_token_env": "SENTRY_TOKEN",
            "organization": "acme",
            "api_url": recorder.url,
            **config,
        }
    )
    return SentryIssueStatus(settings, {"api_token": SENTRY_TOKEN})


def pagerduty(recorder: Recorder, **config: Any) -> PagerDutyAcknowledge:
    settings = PagerDutyConfig.model_validate(
        {
            "acknowledge_upstream": True,
            "api_token_env": "PD_TOKEN",
            "from_email": "oncall@example.com",
            "api_url": recorder.url,
            **config,
        }
    )
    return PagerDutyAcknowledge(settings, {"api_token": PD_TOKEN})


def failure(action: UpstreamAction, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        action.send(notification)
    return caught.value


# -- the wire ------------------------------------------------------------------------------


def test_sentry_issue_is_set_ignored_through_the_issue_api(recorder: Recorder) -> None:
    recorder.respond_with(200, ISSUE)
    sentry(recorder).send(note(issue_id="1170820242"))

    (request,) = recorder.wait_for(1)
    assert request.method == "PUT"
    assert request.path == "/api/0/organizations/acme/issues/1170820242/"
    assert request.headers["authorization"] == f"Bearer {SENTRY_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"liberation-guardian/{__version__}"
    assert request.json == {"status": "ignored"}


def test_sentry_issue_can_be_resolved_instead(recorder: Recorder) -> None:
    recorder.respond_with(200, {**ISSUE, "status": "resolved"})
    sentry(recorder, acknowledge_as="resolved", api_url=recorder.url + "/sentry/").send(note(issue_id="42"))

    (request,) = recorder.wait_for(1)
    assert (request.method, request.path) == ("PUT", "/sentry/api/0/organizations/acme/issues/42/")
    assert request.json == {"status": "resolved"}


def test_pagerduty_incident_is_acknowledged_through_the_rest_api(recorder: Recorder) -> None:
    recorder.respond_with(200, PD_INCIDENT)
    pagerduty(recorder).send(note(incident_id="Q2K9X7NM4HB1C"))

    (request,) = recorder.wait_for(1)
    assert request.method == "PUT"
    assert request.path == "/incidents/Q2K9X7NM4HB1C"
    assert request.headers["authorization"] == f"Token token={PD_TOKEN}"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert request.headers["from"] == "oncall@example.com"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}


# -- failures ------------------------------------------------------------------------------

CASES = [
    pytest.param(
        sentry, {"issue_id": "1170820242"}, {"detail": "Authentication credentials were not provided."}, id="sentry"
    ),
    pytest.param(
        pagerduty,
        {"incident_id": "Q2K9X7NM4HB1C"},
        {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["From header is invalid."]}},
        id="pagerduty",
    ),
]


@pytest.mark.parametrize(("build", "ids", "error_body"), CASES)
@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_answers_are_classified_and_the_vendor_message_quoted(
    recorder: Recorder, build: Any, ids: dict[str, str], error_body: dict[str, Any], status: int, retryable: bool
) -> None:
    recorder.respond_with(status, error_body)
    error = failure(build(recorder), note(**ids))
    assert error.retryable is retryable
    assert f"answered {status}" in error.reason
    expected = (
        "Authentication credentials" if "detail" in error_body else "Invalid Input Provided (From header is invalid.)"
    )
    assert expected in error.reason
    assert error.reason.startswith(("upstream-sentry: PUT ", "upstream-pagerduty: PUT "))


@pytest.mark.parametrize(("build", "ids", "error_body"), CASES)
def test_retry_after_is_honoured(recorder: Recorder, build: Any, ids: dict[str, str], error_body: Any) -> None:
    recorder.respond_with(429, error_body, headers={"Retry-After": "17"})
    error = failure(build(recorder), note(**ids))
    assert (error.retryable, error.retry_after) == (True, 17.0)


@pytest.mark.parametrize(("build", "ids", "error_body"), CASES)
def test_a_redirect_is_not_followed(recorder: Recorder, build: Any, ids: dict[str, str], error_body: Any) -> None:
    recorder.respond_with(302, "", headers={"Location": "http://127.0.0.1:9/elsewhere"})
    error = failure(build(recorder), note(**ids))
    assert error.retryable is False
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("build", "ids", "error_body"), CASES)
def test_the_token_never_appears_in_a_reason(
    recorder: Recorder, build: Any, ids: dict[str, str], error_body: Any
) -> None:
    # A proxy or API that echoes the request's credentials back in its error page.
    action = build(recorder)
    token = action.secrets["api_token"]
    recorder.respond_with(401, f"bad credentials: {token}")
    error = failure(action, note(**ids))
    assert token not in error.reason
    assert error.reason.endswith("answered 401 Unauthorized: bad credentials: …")


@pytest.mark.parametrize(("build", "ids", "error_body"), CASES)
def test_an_unreachable_tool_is_worth_retrying(build: Any, ids: dict[str, str], error_body: Any) -> None:
    with Recorder() as gone:
        action = build(gone)
    error = failure(action, note(**ids))  # the port is closed now
    assert error.retryable is True
    assert "failed: ConnectError" in error.reason


@pytest.mark.parametrize(
    ("build", "upstream"),
    [
        (sentry, {}),
        (sentry, {"issue_id": "../../projects/acme"}),
        (sentry, {"issue_id": "FRONT-END-1"}),
        (pagerduty, {}),
        (pagerduty, {"incident_id": "Q2K9/../../users"}),
    ],
)
def test_an_unusable_id_fails_for_good_without_a_request(
    recorder: Recorder, build: Any, upstream: dict[str, str]
) -> None:
    error = failure(build(recorder), note(**upstream))
    assert error.retryable is False
    assert "carries no usable" in error.reason
    assert recorder.requests == []


def test_an_unset_token_names_its_variable(recorder: Recorder) -> None:
    settings = SentryConfig(
        auto_acknowledge=True, api_token_env="SENTRY_TOKEN", organization="acme", api_url=recorder.url
    )
    error = failure(SentryIssueStatus(settings, {}), note(issue_id="1"))
    assert error.retryable is False
    assert error.reason == "upstream-sentry: variable SENTRY_TOKEN (api_token_env) is empty or unset"
    assert recorder.requests == []


# -- configuration -------------------------------------------------------------------------


def load(yaml_text: str, env: dict[str, str] | None = None) -> LoadedConfig:
    return load_text(yaml_text, ENV if env is None else env, base_dir=Path("."))


SENTRY_ALONE = """
integrations:
  observability:
    sentry: {auto_acknowledge: true}
"""


def test_auto_acknowledge_alone_is_accepted_and_reported_as_without_effect() -> None:
    config = load(SENTRY_ALONE)
    assert config.not_yet_used == [
        "integrations.observability.sentry.auto_acknowledge (Sentry is not told: set api_token_env and organization)"
    ]
    assert channels(config) == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "sentry: {auto_acknowledge: true, api_token_env: SENTRY_TOKEN}",
            "organization is required when auto_acknowledge is true",
        ),
        (
            "sentry: {auto_acknowledge: true, organization: acme}",
            "api_token_env is required when auto_acknowledge is true",
        ),
        ("sentry: {organization: 'acme/../x'}", "must be an organization slug"),
        ("sentry: {api_url: 'ftp://sentry.example'}", "must be an http:// or https:// URL"),
        ("sentry: {api_url: 'https://user:pw@sentry.example'}", "must not carry credentials"),
        ("sentry: {acknowledge_as: archived}", "'ignored' or 'resolved'"),
    ],
)
def test_sentry_upstream_keys_are_checked(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(f"integrations:\n  observability:\n    {entry}\n")
    assert "integrations.observability.sentry" in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{acknowledge_upstream: true}", "api_token_env and from_email are required when acknowledge_upstream is true"),
        ("{acknowledge_upstream: true, api_token_env: PD_TOKEN}", "from_email is required when acknowledge_upstream"),
        ("{from_email: oncall}", "must be an email address"),
    ],
)
def test_pagerduty_upstream_keys_are_checked(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(f"integrations:\n  incident_management:\n    pagerduty: {entry}\n")
    assert "integrations.incident_management.pagerduty" in str(caught.value)


def test_an_unset_token_variable_is_reported_like_any_secret() -> None:
    config = load(
        "integrations:\n  incident_management:\n    pagerduty:\n"
        "      {acknowledge_upstream: true, api_token_env: PD_TOKEN, from_email: oncall@example.com}\n",
        env={},
    )
    assert config.missing_secrets == [
        "integrations.incident_management.pagerduty.api_token_env: environment variable PD_TOKEN is not set "
        "(this integration is enabled)"
    ]


def test_only_sources_that_ask_get_an_upstream_action() -> None:
    config = load(
        "integrations:\n"
        "  observability:\n    sentry: {auto_acknowledge: false, api_token_env: SENTRY_TOKEN, organization: acme}\n"
        "  incident_management:\n"
        "    pagerduty: {acknowledge_upstream: true, api_token_env: PD_TOKEN, from_email: oncall@example.com}\n"
    )
    built = channels(config)
    assert list(built) == ["upstream-pagerduty"]
    assert built["upstream-pagerduty"].secrets["api_token"] == PD_TOKEN


# -- queueing, through the real pipeline ---------------------------------------------------

PIPELINE = """
core: {{name: Guardian Upstream}}
integrations:
  observability:
    sentry: {{auto_acknowledge: true, api_token_env: SENTRY_TOKEN, organization: acme, api_url: "{url}"}}
  incident_management:
    pagerduty:
      {{acknowledge_upstream: true, api_token_env: PD_TOKEN, from_email: oncall@example.com, api_url: "{url}"}}
decision_rules:
  auto_acknowledge:
    patterns: ["blooopy is not defined", "Flaky canary"]
"""


@pytest.fixture
def offline(tmp_path: Path, recorder: Recorder) -> Iterator[OfflineRun]:
    """A replay-style run (no delivery loop) whose upstream tools are the recorder."""
    run = OfflineRun(load(PIPELINE.format(url=recorder.url)), f"sqlite:///{tmp_path / 'g.db'}")
    yield run
    run.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


def feed(run: OfflineRun, source: str, body: bytes) -> None:
    found = run.config.source(source)
    assert found is not None
    run.feed(found, Path(f"{source}.json"), body)
    run.process()


def upstream_rows(run: OfflineRun) -> list[tuple[str, str, dict[str, Any]]]:
    with run.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.channel.startswith("upstream-"))).all()
        return [(row.channel, row.idempotency_key, row.notification["upstream"]) for row in rows]


def person_acknowledges(run: OfflineRun, incident_id: int, who: str) -> None:
    with transaction(run.sessions) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and acknowledge(incident, who, utcnow())
        run.policy.record_acknowledgement(session, incident)


def test_an_auto_acknowledged_sentry_issue_is_queued_once_and_a_replay_sends_nothing(
    offline: OfflineRun, recorder: Recorder, fixtures_dir: Path
) -> None:
    feed(offline, "sentry", (fixtures_dir / "sentry" / "issue-created.json").read_bytes())
    assert upstream_rows(offline) == [
        ("upstream-sentry", "incident-1/t1-upstream-ack", {"issue_id": "1170820242"}),
    ]
    with offline.sessions() as session:
        [row] = session.scalars(select(Delivery).where(Delivery.channel == "upstream-sentry")).all()
        message = Notification.model_validate(row.notification)
    assert message.summary == "Acknowledged by guardian:rules."
    assert "blooopy is not defined" in message.rationale
    assert recorder.requests == []  # replays run no delivery loop: nothing is told


def test_a_metric_alert_names_no_issue_so_sentry_is_not_told(offline: OfflineRun, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "sentry" / "metric_alert-resolved.json").read_text()
    firing = body.replace('"action": "resolved"', '"action": "critical"')
    assert firing != body
    feed(offline, "sentry", firing.encode())
    with offline.sessions() as session:
        [incident] = session.scalars(select(Incident)).all()
    person_acknowledges(offline, incident.id, "api:ana")
    assert upstream_rows(offline) == []


def test_a_person_s_acknowledgement_is_queued_but_pagerduty_s_own_is_not_echoed(offline: OfflineRun) -> None:
    feed(offline, "pagerduty", (PAYLOADS / "v3-incident-triggered.json").read_bytes())
    second = (PAYLOADS / "v3-incident-triggered.json").read_text().replace("Q2K9X7NM4HB1C", "PSECOND0001")
    feed(offline, "pagerduty", second.encode())
    person_acknowledges(offline, 1, "pagerduty:Dana Ops")
    person_acknowledges(offline, 2, "slack:ana")
    assert upstream_rows(offline) == [
        ("upstream-pagerduty", "incident-2/t1-upstream-ack", {"incident_id": "PSECOND0001"}),
    ]


def test_the_delivery_stage_sends_and_gives_up_like_for_any_channel(
    offline: OfflineRun, recorder: Recorder, fixtures_dir: Path
) -> None:
    feed(offline, "sentry", (fixtures_dir / "sentry" / "issue-created.json").read_bytes())
    deliverer = Deliverer(
        "upstream-sentry",
        channels(offline.config)["upstream-sentry"],
        offline.sessions,
        offline.config.settings.delivery,
    )
    recorder.respond_with(404, {"detail": "The requested resource does not exist"})
    assert deliverer.run_once() == 1
    with offline.sessions() as session:
        row = session.scalars(select(Delivery).where(Delivery.channel == "upstream-sentry")).one()
        assert (row.status, row.attempts) == (FAILED, 1)
        assert row.last_error is not None and "The requested resource does not exist" in row.last_error
        # Given up, it is announced on the fallback channel (the log by default), as every lost message is.
        notice = session.scalars(select(Delivery).where(Delivery.transition == "delivery_failed")).one()
        assert notice.channel == "console"
        assert notice.notification["title"].startswith("Could not deliver to upstream-sentry:")

    feed(offline, "sentry", (fixtures_dir / "sentry" / "issue-created.json").read_bytes())
    assert len(upstream_rows(offline)) == 1  # a repeat of an acknowledged issue queues nothing more


def test_a_sent_acknowledgement_is_delivered(offline: OfflineRun, recorder: Recorder, fixtures_dir: Path) -> None:
    feed(offline, "sentry", (fixtures_dir / "sentry" / "issue-created.json").read_bytes())
    action = channels(offline.config)["upstream-sentry"]
    deliverer = Deliverer("upstream-sentry", action, offline.sessions, offline.config.settings.delivery)
    recorder.respond_with(200, ISSUE)
    assert deliverer.run_once() == 1
    (request,) = recorder.wait_for(1)
    assert request.path == "/api/0/organizations/acme/issues/1170820242/"
    with offline.sessions() as session:
        assert session.scalars(select(Delivery.status).where(Delivery.channel == "upstream-sentry")).one() == DELIVERED


def test_a_tool_that_says_it_is_acknowledged_already_is_not_told_again(offline: OfflineRun) -> None:
    feed(offline, "pagerduty", (PAYLOADS / "v3-incident-triggered.json").read_bytes())
    # Acknowledged in PagerDuty by a responder: the incident becomes theirs, and PagerDuty is not told.
    feed(offline, "pagerduty", (PAYLOADS / "v3-incident-acknowledged.json").read_bytes())
    with offline.sessions() as session:
        incident = session.get(Incident, 1)
        assert incident is not None and incident.status == "acknowledged"
        assert (incident.acknowledged_by or "").startswith("pagerduty:")
    assert upstream_rows(offline) == []


def test_our_own_change_coming_back_from_the_tool_is_not_sent_again(offline: OfflineRun) -> None:
    def payload(name: str) -> bytes:
        text = (PAYLOADS / name).read_text().replace("checkout-api: 5xx rate above 5% for 10 minutes", "Flaky canary")
        assert "Flaky canary" in text
        return text.encode()

    feed(offline, "pagerduty", payload("v3-incident-triggered.json"))
    # PagerDuty announces the acknowledgement we asked for: an answer, not a new occurrence to decide.
    feed(offline, "pagerduty", payload("v3-incident-acknowledged.json"))
    with offline.sessions() as session:
        decisions = session.scalars(select(Decision.transition).order_by(Decision.id)).all()
        incident = session.get(Incident, 1)
        assert incident is not None and incident.status == "acknowledged"
    assert decisions == ["opened"]
    assert upstream_rows(offline) == [
        ("upstream-pagerduty", "incident-1/t1-upstream-ack", {"incident_id": "Q2K9X7NM4HB1C"}),
    ]


def test_sentry_s_archive_webhook_after_our_change_is_not_answered(offline: OfflineRun, fixtures_dir: Path) -> None:
    created = (fixtures_dir / "sentry" / "issue-created.json").read_text()
    feed(offline, "sentry", created.encode())
    archived = created.replace('"action": "created"', '"action": "archived"')
    assert archived != created
    feed(offline, "sentry", archived.encode())
    assert len(upstream_rows(offline)) == 1
