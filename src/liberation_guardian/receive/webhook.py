"""`POST /webhook/{source}`: look up the source, check size, verify, redact, parse, commit, answer 202.

Served by `WebhookMiddleware` in front of the API app (see README for the contract).

Every refusal is a `SourceError` with its status and a reason; anything else that
goes wrong while parsing is reported as 422 (and logged), and a store failure as
503, so a sender never sees a stack trace and retries what was not accepted.
"""

from __future__ import annotations

import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from liberation_guardian.errors import (
    PayloadInvalid,
    PayloadTooLarge,
    RateLimited,
    SourceError,
    Unauthorized,
    UnknownSource,
)
from liberation_guardian.receive.state import Receiver

log = logging.getLogger(__name__)
PREFIX = "/webhook/"


class WebhookMiddleware:
    """Answers `POST /webhook/{source}` itself and hands every other request to the app.

    The webhook is the hot path; serving it ahead of the framework's routing and
    dependency machinery roughly halves its cost per request.
    """

    def __init__(self, app: ASGIApp, receiver: Receiver) -> None:
        self.app = app
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI call."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response: Response = JSONResponse(
                {"error": "webhooks are sent with POST", "status": 405}, status_code=405, headers={"Allow": "POST"}
            )
        else:
            response = await webhook(self.receiver, path[len(PREFIX) :], Request(scope, receive))
        await response(scope, receive, send)


async def webhook(receiver: Receiver, source_name: str, request: Request) -> JSONResponse:
    """Accept one payload from a source; 202 means its events are durably stored."""
    started = time.perf_counter()
    metric_source = source_name if source_name in receiver.sources else "unknown"
    receiver.metrics.events_received.labels(metric_source).inc()
    try:
        source = receiver.sources.get(source_name)
        if source is None:
            enabled = ", ".join(sorted(receiver.sources)) or "none"
            raise UnknownSource(f"no enabled source named {source_name!r}; enabled: {enabled}")
        receiver.guard.check(source_name, source, request.client.host if request.client else None)
        limit = source.config.max_body_bytes or receiver.max_body_bytes
        body = await _read_limited(request, limit)
        headers = request_headers(request)
        try:
            if source.calls_out:
                # Its check may fetch a signing certificate or confirm a subscription: keep the loop free.
                await run_in_threadpool(source.verify, headers, body)
                reply = await run_in_threadpool(source.handshake, headers, body)
            else:
                source.verify(headers, body)
                reply = source.handshake(headers, body)
            if reply is not None:
                return JSONResponse(reply, status_code=200)
            # Secrets a tool put in the payload go before anything reads or stores it.
            body = source.redact(headers, body)
            events = source.parse(headers, body)
        except SourceError:
            raise
        except Exception as exc:
            log.exception("parser failed unexpectedly", extra={"source": source_name})
            raise PayloadInvalid(f"could not check or read this {source_name} payload ({type(exc).__name__})") from exc
        try:
            ids = await receiver.writer.submit(
                source_name, request.headers.get("content-type"), body.decode("utf-8", errors="replace"), events
            )
        except Exception:
            receiver.metrics.events_rejected.labels(metric_source, "503").inc()
            return JSONResponse({"error": "could not store the payload; retry later", "status": 503}, status_code=503)
    except SourceError as exc:
        receiver.metrics.events_rejected.labels(metric_source, str(exc.status)).inc()
        answer_headers = None
        if isinstance(exc, RateLimited):
            answer_headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, Unauthorized):
            # Clients that keep credentials in the URL (user:secret@host) send them only when challenged.
            answer_headers = {"WWW-Authenticate": f'Basic realm="liberation-guardian {source_name}"'}
        return JSONResponse({"error": exc.reason, "status": exc.status}, status_code=exc.status, headers=answer_headers)
    finally:
        receiver.metrics.webhook_latency.observe(time.perf_counter() - started)
    receiver.metrics.events_accepted.labels(metric_source).inc(len(ids))
    return JSONResponse({"accepted": len(ids), "event_ids": ids}, status_code=202)


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers with lower-case names; `?token=` counts as a bearer token.

    Some tools (Splunk, Google Cloud Monitoring, Azure Monitor, Rollbar) cannot set headers, and
    document a secret in the URL instead; an `Authorization` header, when sent, wins.
    """
    headers = {key.lower(): value for key, value in request.headers.items()}
    token = request.query_params.get("token")
    if token and "authorization" not in headers:
        headers["authorization"] = f"Bearer {token}"
    return headers


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
