"""The SMS channel sends Twilio Create Message requests through httpx to a local Twilio stand-in."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from liberation_guardian import __version__
from liberation_guardian.act.notify.base import Notification
from liberation_guardian.act.notify.sms import BODY_MAX, SmsChannel, SmsConfig
from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError, DeliveryFailed
from liberation_guardian.events import Severity
from tests.fixtures.recorder import RecordedRequest, Recorder

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-Auth-token-5e6f7a8b"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
FROM = "+14155550100"
ALICE, BOB, CAROL = "+14155550101", "+447700900123", "+4930901820"
INCIDENT_URL = "http://guardian.example/incidents/42"


def channel(recorder: Recorder, secrets: dict[str, str] | None = None, **config: Any) -> SmsChannel:
    settings = SmsConfig.model_validate(
        {
            "account_sid_env": "TWILIO_ACCOUNT_SID",
            "auth_token_env": "TWILIO_AUTH_TOKEN",
            "from_number": FROM,
            "to": [ALICE],
            "api_url": recorder.url,
            **config,
        }
    )
    return SmsChannel(settings, {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN} if secrets is None else secrets)


def form(request: RecordedRequest) -> dict[str, str]:
    parsed = parse_qs(request.body.decode(), keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values())
    return {key: values[0] for key, values in parsed.items()}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def created(to: str, body: str = "") -> dict[str, Any]:
    """The start of Twilio's 201 answer: the new message resource."""
    return {
        "sid": "SM" + "a" * 32,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "from": FROM,
        "body": body,
        "status": "queued",
    }


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def failure(sms: SmsChannel, notification: Notification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        sms.send(notification)
    return failed.value


def test_posts_a_form_encoded_message_with_basic_auth(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(201, created(ALICE))
    channel(recorder).send(notification)

    (request,) = recorder.wait_for(1)
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == basic(ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == f"liberation-guardian/{__version__}"
    assert form(request) == {
        "To": ALICE,
        "From": FROM,
        "Body": f"[CRITICAL] Instance down <api-1> & friends (needs a human)\n{INCIDENT_URL}",
    }


def test_one_request_per_recipient_in_order(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, to=[ALICE, BOB, CAROL]).send(notification)

    requests = recorder.wait_for(3)
    assert [form(r)["To"] for r in requests] == [ALICE, BOB, CAROL]
    assert len({form(r)["Body"] for r in requests}) == 1


def test_the_receivers_numbers_replace_the_channels(recorder: Recorder, notification: Notification) -> None:
    channel(recorder, to=[ALICE]).send(notification.model_copy(update={"recipients": [BOB, CAROL]}))

    assert [form(r)["To"] for r in recorder.wait_for(2)] == [BOB, CAROL]


def test_a_receiver_number_that_is_not_e164_fails_alone(recorder: Recorder, notification: Notification) -> None:
    error = failure(channel(recorder), notification.model_copy(update={"recipients": ["0151 2345678"]}))

    assert error.retryable is False
    assert error.reason == "sms: 1 of 1 not reached: 0151 2345678: not an E.164 number such as +14155550199"
    assert recorder.requests == []


def test_no_recipients_anywhere_is_not_retryable(recorder: Recorder, notification: Notification) -> None:
    error = failure(channel(recorder, to=[]), notification)

    assert error.retryable is False
    assert "set integrations.notifications.sms.to, or to.sms on the routing receiver" in error.reason


def test_messaging_service_replaces_from(recorder: Recorder, notification: Notification) -> None:
    service = "MG" + "f" * 32
    channel(recorder, from_number=None, messaging_service_sid=service).send(notification)

    fields = form(recorder.wait_for(1)[0])
    assert fields["MessagingServiceSid"] == service
    assert "From" not in fields


def test_api_key_authenticates_but_the_account_sid_stays_in_the_path(
    recorder: Recorder, notification: Notification
) -> None:
    key_sid, key_secret = "SK" + "1" * 32, "api-Key-secret-0a1b2c"
    sms = channel(
        recorder,
        {"account_sid": ACCOUNT_SID, "api_key_sid": key_sid, "api_key_secret": key_secret},
        auth_token_env=None,
        api_key_sid_env="TWILIO_API_KEY",
        api_key_secret_env="TWILIO_API_SECRET",
    )
    sms.send(notification)

    (request,) = recorder.wait_for(1)
    assert request.path == MESSAGES_PATH
    assert request.headers["authorization"] == basic(key_sid, key_secret)


@pytest.mark.parametrize(
    ("transition", "first_line"),
    [
        ("opened", "[CRITICAL] Instance down <api-1> & friends (needs a human)"),
        ("reopened", "[CRITICAL] Instance down <api-1> & friends (needs a human)"),
        ("severity_raised", "[CRITICAL] Instance down <api-1> & friends (needs a human)"),
        ("acknowledged", "[ACKNOWLEDGED] Instance down <api-1> & friends"),
        ("resolved", "[RESOLVED] Instance down <api-1> & friends"),
    ],
)
def test_every_transition_is_texted(
    recorder: Recorder, notification: Notification, transition: str, first_line: str
) -> None:
    channel(recorder).send(notification.model_copy(update={"transition": transition}))

    assert form(recorder.wait_for(1)[0])["Body"] == f"{first_line}\n{INCIDENT_URL}"


def test_long_headline_is_clipped_to_two_segments_keeping_the_link(
    recorder: Recorder, notification: Notification
) -> None:
    channel(recorder).send(notification.model_copy(update={"title": "disk full " * 60}))

    body = form(recorder.wait_for(1)[0])["Body"]
    assert len(body) == BODY_MAX == 320
    headline, link = body.split("\n")
    assert link == INCIDENT_URL
    assert headline.startswith("[CRITICAL] disk full disk full")
    # `…` is not in the GSM-7 alphabet and would shrink every segment to 67 characters.
    assert headline.endswith("full...")
    assert "…" not in body


def test_layout_in_the_title_is_collapsed(recorder: Recorder, notification: Notification) -> None:
    channel(recorder).send(notification.model_copy(update={"title": "Disk\nfull\t on  db-1"}))

    assert form(recorder.wait_for(1)[0])["Body"].split("\n")[0] == "[CRITICAL] Disk full on db-1 (needs a human)"


def test_without_an_incident_url_the_instance_and_number_identify_it(
    recorder: Recorder, notification: Notification
) -> None:
    channel(recorder).send(notification.model_copy(update={"incident_url": None}))

    assert form(recorder.wait_for(1)[0])["Body"].endswith("(needs a human)\nGuardian Test #42")


@pytest.mark.parametrize(
    ("severity", "min_severity", "sent"),
    [
        (Severity.critical, None, True),
        (Severity.high, None, True),
        (Severity.medium, None, False),
        (Severity.info, None, False),
        (Severity.info, "info", True),
        (Severity.high, "critical", False),
    ],
)
def test_min_severity_keeps_noise_off_phones(
    recorder: Recorder,
    notification: Notification,
    caplog: pytest.LogCaptureFixture,
    severity: Severity,
    min_severity: str | None,
    sent: bool,
) -> None:
    caplog.set_level(logging.INFO)
    config: dict[str, Any] = {"min_severity": min_severity} if min_severity else {}
    channel(recorder, **config).send(notification.model_copy(update={"severity": severity}))

    # send() returns after its requests are answered, so nothing is still on its way.
    assert len(recorder.requests) == (1 if sent else 0)
    assert ("severity below min_severity" in caplog.text) is not sent


def test_invalid_number_is_not_retryable_and_quotes_twilio(recorder: Recorder, notification: Notification) -> None:
    message = "The 'To' number +15005550001 is not a valid phone number."
    recorder.respond_with(400, twilio_error(400, 21211, message))
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert error.retry_after is None
    assert error.reason.startswith(f"sms: 1 of 1 not reached: {ALICE}: POST {recorder.url}/2010-04-01/Accounts/…/")
    assert f"400 Bad Request: Twilio error 21211: {message} (https://www.twilio.com/docs/errors/21211)" in error.reason
    assert ACCOUNT_SID not in error.reason


def test_rate_limit_is_retryable_after_the_wait_asked_for(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(429, twilio_error(429, 20429, "Too Many Requests"), headers={"Retry-After": "7"})
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert error.retry_after == 7.0
    assert "429 Too Many Requests: Twilio error 20429" in error.reason


def test_full_sender_queue_is_retryable_despite_the_400(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(400, twilio_error(400, 21611, "This 'From' number has exceeded the maximum number"))
    error = failure(channel(recorder), notification)

    assert error.retryable is True
    assert "Twilio error 21611" in error.reason


def test_wrong_credentials_are_not_retryable_and_not_revealed(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.respond_with(401, twilio_error(401, 20003, f"Authenticate {ACCOUNT_SID} {AUTH_TOKEN}"))
    error = failure(channel(recorder), notification)

    assert error.retryable is False
    assert "Twilio error 20003: Authenticate … …" in error.reason
    for text in (error.reason, caplog.text):
        assert ACCOUNT_SID not in text
        assert AUTH_TOKEN not in text


def test_a_retry_texts_only_the_recipients_not_reached(recorder: Recorder, notification: Notification) -> None:
    sms = channel(recorder, to=[ALICE, BOB, CAROL])
    recorder.respond_with(201, created(ALICE))
    recorder.respond_with(503, "upstream unavailable")
    recorder.respond_with(201, created(CAROL))
    error = failure(sms, notification)

    assert error.retryable is True
    assert error.reason.startswith(f"sms: 1 of 3 not reached: {BOB}: POST ")
    assert "503 Service Unavailable: upstream unavailable" in error.reason
    assert ALICE not in error.reason and CAROL not in error.reason

    sms.send(notification)  # the delivery stage's retry: same notification, same idempotency key

    assert [form(r)["To"] for r in recorder.wait_for(4)] == [ALICE, BOB, CAROL, BOB]


def test_another_notification_reaches_everyone_again(recorder: Recorder, notification: Notification) -> None:
    sms = channel(recorder, to=[ALICE, BOB])
    recorder.respond_with(201, created(ALICE))
    recorder.respond_with(500, "boom")
    failure(sms, notification)
    sms.send(notification.model_copy(update={"idempotency_key": "incident-42:resolved:1", "transition": "resolved"}))

    assert [form(r)["To"] for r in recorder.wait_for(4)] == [ALICE, BOB, ALICE, BOB]


def test_a_permanently_refused_recipient_does_not_fail_the_others(
    recorder: Recorder, notification: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    recorder.respond_with(201, created(ALICE))
    recorder.respond_with(400, twilio_error(400, 21614, "'To' number is not a valid mobile number"))
    channel(recorder, to=[ALICE, BOB]).send(notification)  # delivered: a retry would text Alice twice

    assert len(recorder.requests) == 2
    assert "reached only some targets" in caplog.text
    assert BOB in caplog.records[-1].reason  # type: ignore[attr-defined]


def test_every_recipient_refused_is_not_retryable(recorder: Recorder, notification: Notification) -> None:
    recorder.respond_with(400, twilio_error(400, 21211, "bad number"))
    recorder.respond_with(400, twilio_error(400, 21211, "bad number"))
    error = failure(channel(recorder, to=[ALICE, BOB]), notification)

    assert error.retryable is False
    assert error.reason.startswith("sms: 2 of 2 not reached: ")


def test_retryable_and_permanent_failures_together_are_retryable(
    recorder: Recorder, notification: Notification
) -> None:
    recorder.respond_with(400, twilio_error(400, 21211, "bad number"))
    recorder.respond_with(429, twilio_error(429, 20429, "Too Many Requests"), headers={"Retry-After": "3"})
    error = failure(channel(recorder, to=[ALICE, BOB]), notification)

    assert error.retryable is True
    assert error.retry_after == 3.0


@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        ({"auth_token": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID (account_sid_env)"),
        ({"account_sid": "AC/../../x", "auth_token": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID (account_sid_env)"),
        ({"account_sid": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN (auth_token_env)"),
    ],
)
def test_missing_or_malformed_credentials_are_not_retryable(
    recorder: Recorder, notification: Notification, secrets: dict[str, str], named: str
) -> None:
    error = failure(channel(recorder, secrets), notification)

    assert error.retryable is False
    assert named in error.reason
    assert recorder.requests == []


def test_config_validation_names_the_problem() -> None:
    base: dict[str, Any] = {"account_sid_env": "SID", "auth_token_env": "TOKEN", "from_number": FROM, "to": [ALICE]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"to": ["004477009001"]}, "'004477009001' is not an E.164 number"),
        ({"to": ["+1 415 555 0101"]}, "is not an E.164 number"),
        ({"to": [ALICE, BOB, ALICE]}, f"{ALICE} listed more than once"),
        ({"from_number": "not a sender!"}, "is not an E.164 number, a short code or an alphanumeric sender ID"),
        ({"messaging_service_sid": "MG" + "f" * 32}, "exactly one of from_number and messaging_service_sid"),
        ({"from_number": None}, "exactly one of from_number and messaging_service_sid"),
        ({"from_number": None, "messaging_service_sid": "MG123"}, "MG followed by 32 hex digits"),
        ({"account_sid_env": None}, "account_sid_env is required"),
        ({"api_key_sid_env": "KEY"}, "api_key_sid_env and api_key_secret_env go together"),
        ({"api_key_sid_env": "KEY", "api_key_secret_env": "SECRET"}, "exactly one of auth_token_env and api_key"),
        ({"auth_token_env": None}, "exactly one of auth_token_env and api_key"),
        ({"min_severity": "urgent"}, "min_severity"),
        ({"api_url": "ftp://api.twilio.com"}, "must be an http:// or https:// URL"),
        ({"auth_token": "inline"}, "extra"),
    ]
    for change, message in cases:
        with pytest.raises(ValidationError, match=re.escape(message)):
            SmsConfig.model_validate({**base, **change})

    assert SmsConfig.model_validate({"enabled": False}).to == []
    valid = SmsConfig.model_validate({**base, "from_number": "Guardian", "api_url": "https://api.twilio.com/"})
    assert valid.api_url == "https://api.twilio.com"
    assert valid.min_severity is Severity.high
    assert SmsConfig.model_validate({**base, "from_number": "88222"}).from_number == "88222"


def test_loaded_from_the_config_file_with_secrets_from_the_environment() -> None:
    text = (
        "integrations:\n  notifications:\n    sms:\n"
        "      account_sid_env: TWILIO_ACCOUNT_SID\n      auth_token_env: TWILIO_AUTH_TOKEN\n"
        f"      from_number: '{FROM}'\n      to: ['{ALICE}']\n"
    )
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    config = load_text(text, env, base_dir=Path("."))

    cls, plugin = config.channels["sms"]
    assert cls is SmsChannel
    assert plugin.secrets == {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}


def test_a_config_error_names_the_key() -> None:
    text = (
        "integrations:\n  notifications:\n    sms:\n"
        "      account_sid_env: SID\n      auth_token_env: TOKEN\n"
        f"      from_number: '{FROM}'\n      to: ['555-0101']\n"
    )
    with pytest.raises(ConfigError, match=r"integrations\.notifications\.sms\.to"):
        load_text(text, {}, base_dir=Path("."))
