"""A failing channel is retried with backoff, recorded, and never holds up the others."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Stack
from tests.e2e.test_spine import sentry_headers


def deliveries(stack: Stack) -> list[dict[str, object]]:
    incidents = httpx.get(stack.url + "/api/incidents", headers=stack.auth).json()["items"]
    return [
        d
        for i in incidents
        for d in httpx.get(f"{stack.url}/api/incidents/{i['id']}", headers=stack.auth).json()["deliveries"]
    ]


def test_slack_failing_delays_only_slack_and_recovers(stack: Stack, fixtures_dir: Path) -> None:
    for _ in range(3):
        stack.slack.respond_with(500, "internal error")
    body = (fixtures_dir / "alertmanager" / "firing-2-alerts.json").read_bytes()
    sent_at = time.monotonic()
    assert httpx.post(stack.url + "/webhook/alertmanager", content=body).status_code == 202
    stack.smtp.wait_for(2, timeout=10)
    email_seconds = time.monotonic() - sent_at
    # Slack answers 500 three times, then recovers; every message still arrives exactly once.
    requests = stack.slack.wait_for(5, timeout=20)
    time.sleep(0.5)
    assert len(stack.slack.requests) == 5
    assert email_seconds < 5
    stack.server.wait_until(
        lambda: all(d["status"] == "delivered" for d in deliveries(stack)) and len(deliveries(stack)) == 6,
        what="all deliveries",
    )
    slack = [d for d in deliveries(stack) if d["channel"] == "slack"]
    assert sum(int(d["attempts"]) for d in slack) == 5  # type: ignore[call-overload]
    assert all(d["last_error"] is None for d in slack)
    assert len({r.json["text"] for r in requests}) == 2


def test_a_delivery_that_never_succeeds_is_given_up_and_recorded(stack: Stack, fixtures_dir: Path) -> None:
    for _ in range(20):
        stack.slack.respond_with(404, "no_service")
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    assert (
        httpx.post(stack.url + "/webhook/sentry", content=body, headers=sentry_headers(body, "issue")).status_code
        == 202
    )
    stack.hooks.wait_for(1, timeout=10)  # the other routine channel is unaffected
    stack.server.wait_until(
        lambda: any(d["channel"] == "slack" and d["status"] == "failed" for d in deliveries(stack)),
        what="the slack delivery to fail",
    )
    [slack] = [d for d in deliveries(stack) if d["channel"] == "slack"]
    assert slack["attempts"] == 1  # a 404 will not get better: no retry
    # Given up is never silent: the fallback channel (email here) says what was lost and why.
    [mail] = stack.smtp.wait_for(1, timeout=10)
    assert mail.message["Subject"].startswith("[HIGH] Could not deliver to slack: ")
    text = mail.message.get_body(("plain",)).get_content()
    assert "After 1 attempt(s) the slack channel gave up: " in text and "404" in text
    assert "no_service" in str(slack["last_error"])
    metrics = httpx.get(stack.url + "/metrics").text
    assert 'guardian_delivery_failures_total{channel="slack"} 1.0' in metrics
    assert 'guardian_deliveries_dead_total{channel="slack"} 1.0' in metrics


def test_a_receiver_rate_limiting_for_a_while_delays_only_itself(stack: Stack, fixtures_dir: Path) -> None:
    for _ in range(3):
        stack.hooks.respond_with(429, "slow down", headers={"Retry-After": "1"})
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    started = time.monotonic()
    assert (
        httpx.post(stack.url + "/webhook/sentry", content=body, headers=sentry_headers(body, "issue")).status_code
        == 202
    )
    stack.slack.wait_for(1, timeout=10)
    slack_seconds = time.monotonic() - started
    hooks = stack.hooks.wait_for(4, timeout=20)
    hook_seconds = time.monotonic() - started
    time.sleep(0.5)
    assert slack_seconds < 2 and len(stack.slack.requests) == 1
    # Three answers of 429 with Retry-After: 1 are honoured (the backoff alone would be ~0.1-0.5 s).
    assert hook_seconds >= 3
    assert len(stack.hooks.requests) == 4 and len({r.headers["idempotency-key"] for r in hooks}) == 1


def test_a_receiver_timing_out_delays_only_itself_and_gets_its_message_once(stack: Stack, fixtures_dir: Path) -> None:
    for _ in range(2):
        stack.hooks.respond_with(200, "ok", delay=3.0)  # past the webhook's 1 s timeout
    body = (fixtures_dir / "sentry" / "issue-created.json").read_bytes()
    started = time.monotonic()
    assert (
        httpx.post(stack.url + "/webhook/sentry", content=body, headers=sentry_headers(body, "issue")).status_code
        == 202
    )
    stack.slack.wait_for(1, timeout=10)
    assert time.monotonic() - started < 2  # Slack does not wait for the slow receiver
    hooks = stack.hooks.wait_for(3, timeout=20)
    stack.server.wait_until(
        lambda: [d["status"] for d in deliveries(stack) if d["channel"] == "webhook"] == ["delivered"],
        what="the webhook delivery",
    )
    [webhook] = [d for d in deliveries(stack) if d["channel"] == "webhook"]
    assert webhook["attempts"] == 3
    # The receiver saw the message three times, always with one idempotency key: it keeps one.
    assert len({r.headers["idempotency-key"] for r in hooks}) == 1
