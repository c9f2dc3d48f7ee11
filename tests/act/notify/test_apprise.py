"""The Apprise channel, through the real Apprise library's `json://` and `form://` plugins, against a local server."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from liberation_guardian.act.notify.apprise import AppriseChannel, AppriseConfig
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError, DeliveryFailed
from liberation_guardian.events import Severity
from tests.fixtures.recorder import Recorder

TOKEN = "aPpr1seT0kenInPath77"
HEADLINE = "[CRITICAL] Instance down <api-1> & friends (needs a human)"


def json_url(recorder: Recorder, path: str = f"/hooks/{TOKEN}") -> str:
    return f"json://127.0.0.1:{recorder.port}{path}"


def channel(urls_from_env: str | None = None, timeout: float = 5.0, **config: Any) -> AppriseChannel:
    if urls_from_env is not None:
        config.setdefault("urls_env", "APPRISE_URLS")
    settings = AppriseConfig.model_validate({"timeout_seconds": timeout, **config})
    return AppriseChannel(settings, {"urls": urls_from_env} if urls_from_env is not None else {})


def failure(apprise: AppriseChannel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        apprise.send(notification)
    return failed.value


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_json_plugin_posts_apprises_documented_body(recorder: Recorder, notification: Notification) -> None:
    channel(json_url(recorder)).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == f"/hooks/{TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Liberation Guardian"
    assert request.json == {
        "version": "1.0",
        "title": HEADLINE,
        "message": notification.text(),
        "attachments": [],
        "type": "failure",
    }
    assert request.json["message"].startswith(f"{HEADLINE}\n\napi-1:9100 has not answered a scrape for 5 minutes.")


def test_form_plugin_posts_the_same_fields_form_encoded(recorder: Recorder, notification: Notification) -> None:
    channel(urls=[f"form://127.0.0.1:{recorder.port}/inbound"]).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.path == "/inbound"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(request.body.decode(), strict_parsing=True)
    assert fields == {
        "version": ["1.0"],
        "title": [HEADLINE],
        "message": [notification.text()],
        "type": ["failure"],
    }


@pytest.mark.parametrize(
    ("transition", "severity", "kind"),
    [
        ("opened", Severity.critical, "failure"),
        ("opened", Severity.high, "failure"),
        ("opened", Severity.medium, "warning"),
        ("opened", Severity.low, "info"),
        ("opened", Severity.info, "info"),
        ("reopened", Severity.medium, "warning"),
        ("severity_raised", Severity.critical, "failure"),
        ("acknowledged", Severity.critical, "info"),
        ("resolved", Severity.critical, "success"),
    ],
)
def test_notify_type_follows_transition_then_severity(
    recorder: Recorder, notification: Notification, transition: str, severity: Severity, kind: str
) -> None:
    update = {"transition": transition, "severity": severity}
    channel(json_url(recorder)).send(notification.model_copy(update=update))

    payload = recorder.wait_for(1)[0].json
    assert payload["type"] == kind
    assert payload["title"] == notification.model_copy(update=update).headline()


def test_mentions_in_event_content_are_broken(recorder: Recorder, notification: Notification) -> None:
    hostile = notification.model_copy(update={"title": "@everyone look", "summary": "cc @here and @Channel, a@b.c"})
    channel(json_url(recorder)).send(hostile)

    payload = recorder.wait_for(1)[0].json
    assert payload["title"] == "[CRITICAL] @\u200beveryone look (needs a human)"
    assert "cc @\u200bhere and @\u200bChannel, a@b.c" in payload["message"]
    assert "@everyone" not in payload["message"]


@pytest.mark.parametrize("status", [500, 503, 429, 404, 400])
def test_a_failure_is_retryable_and_named_by_schema_only(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(status, f"error page mentioning {TOKEN}")
    error = failure(channel(json_url(recorder)), notification)

    # Apprise answers only True/False: a 4xx cannot be told from a 5xx, so every failure may be retried.
    assert error.retryable is True
    assert error.retry_after is None
    assert error.reason == (
        "apprise: 1 of 1 not reached: json:// (URL 1 of APPRISE_URLS): Apprise reported a failure (it gives no detail)"
    )
    assert len(recorder.requests) == 1
    assert TOKEN not in caplog.text


def test_unreachable_service_is_retryable(notification: Notification, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    error = failure(channel(f"json://127.0.0.1:{closed_port()}/hooks/{TOKEN}"), notification)

    assert error.retryable is True
    assert "json://" in error.reason
    assert TOKEN not in error.reason + caplog.text


def test_timeout_seconds_bounds_each_service(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(200, "ok", delay=5.0)
    started = time.monotonic()
    error = failure(channel(json_url(recorder), timeout=0.5), notification)

    assert error.retryable is True
    # Apprise's own default read timeout is 4 seconds.
    assert time.monotonic() - started < 3.0


def test_apprise_and_urllib3_logs_are_dropped_only_while_sending(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(500, "boom")
    failure(channel(json_url(recorder)), notification)

    assert [r for r in caplog.records if r.name.startswith(("apprise", "urllib3"))] == []
    logging.getLogger("urllib3.connectionpool").debug("outside a send")
    assert "outside a send" in caplog.text


def test_a_retry_reaches_only_the_services_that_failed(recorder: Recorder, notification: Notification) -> None:
    urls = f"{json_url(recorder, '/first')} , {json_url(recorder, '/second')}\n{json_url(recorder, '/third')}"
    apprise = channel(urls, urls=[f"form://127.0.0.1:{recorder.port}/plain"])
    recorder.respond_with(200, "ok")
    recorder.respond_with(200, "ok")
    recorder.respond_with(502, "bad gateway")
    error = failure(apprise, notification)

    assert error.reason.startswith("apprise: 1 of 4 not reached: json:// (URL 2 of APPRISE_URLS): ")
    assert [r.path for r in recorder.requests] == ["/plain", "/first", "/second", "/third"]

    apprise.send(notification)  # the delivery stage's retry

    assert [r.path for r in recorder.wait_for(5)][4:] == ["/second"]


def test_variable_unset_or_without_urls_is_not_retryable(notification: Notification) -> None:
    for value in ("", "   , "):
        error = failure(channel(value), notification)
        assert error.retryable is False
        assert error.reason == "apprise: variable APPRISE_URLS (urls_env) is empty, unset or holds no URL"


def test_url_apprise_does_not_understand_is_not_retryable(notification: Notification) -> None:
    error = failure(channel(f"nosuchservice://{TOKEN}@x/y"), notification)

    assert error.retryable is False
    assert error.reason == (
        "apprise: 1 of 1 not reached: nosuchservice:// (URL 1 of APPRISE_URLS): Apprise does not understand "
        "this URL (unknown schema, missing part, or a plugin package that is not installed)"
    )


def test_a_bad_url_beside_good_ones_is_reported_but_does_not_fail_them(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel(f"nosuchservice://{TOKEN}@x/y {json_url(recorder)}").send(notification)

    assert len(recorder.wait_for(1)) == 1  # delivered: failing it would only make a retry notify this one twice
    assert "nosuchservice:// (URL 1 of APPRISE_URLS): Apprise does not understand" in caplog.records[-1].reason  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="urls_env or urls is required"):
        AppriseConfig.model_validate({})
    with pytest.raises(ValidationError, match="Apprise does not understand 'nosuchservice://x'"):
        AppriseConfig.model_validate({"urls": ["nosuchservice://x"]})
    with pytest.raises(ValidationError, match="extra"):
        AppriseConfig.model_validate({"urls_env": "X", "url": "json://x"})
    assert AppriseConfig.model_validate({"enabled": False}).urls == []
    assert AppriseConfig.model_validate({"urls": ["json://localhost/x"]}).urls_env is None


def test_loaded_from_the_config_file_with_urls_from_the_environment() -> None:
    text = "integrations:\n  notifications:\n    apprise:\n      urls_env: APPRISE_URLS\n"
    config = load_text(text, {"APPRISE_URLS": f"ntfy://ntfy.example/{TOKEN}"}, base_dir=Path("."))

    cls, plugin = config.channels["apprise"]
    assert cls is AppriseChannel
    assert plugin.secrets == {"urls": f"ntfy://ntfy.example/{TOKEN}"}


def test_a_config_error_names_the_key() -> None:
    text = "integrations:\n  notifications:\n    apprise:\n      urls: ['nosuchservice://x']\n"
    with pytest.raises(ConfigError, match=r"integrations\.notifications\.apprise\.urls"):
        load_text(text, {}, base_dir=Path("."))
