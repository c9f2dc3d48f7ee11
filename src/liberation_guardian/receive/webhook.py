"""`POST /webhook/{source}`: look up the source, check size, verify, parse, commit, answer 202.

Every refusal is a `SourceError` with its status and a reason; anything else that
goes wrong while parsing is reported as 422 (and logged), and a store failure as
503, so a sender never sees a stack trace and retries what was not accepted.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from liberation_guardian.errors import PayloadInvalid, PayloadTooLarge, SourceError, UnknownSource
from liberation_guardian.receive.state import Receiver

log = logging.getLogger(__name__)
router = APIRouter()


@router.post("/webhook/{source_name}", status_code=202, tags=["webhooks"])
async def webhook(source_name: str, request: Request) -> JSONResponse:
    """Accept one payload from a source; 202 means its events are durably stored."""
    receiver: Receiver = request.app.state.receiver
    started = time.perf_counter()
    metric_source = source_name if source_name in receiver.sources else "unknown"
    receiver.metrics.events_received.labels(metric_source).inc()
    try:
        source = receiver.sources.get(source_name)
        if source is None:
            raise UnknownSource(
                f"no enabled source named {source_name!r}; enabled: {', '.join(sorted(receiver.sources)) or 'none'}"
            )
        limit = source.config.max_body_bytes or receiver.max_body_bytes
        body = await _read_limited(request, limit)
        headers = {key.lower(): value for key, value in request.headers.items()}
        source.verify(headers, body)
        try:
            events = source.parse(headers, body)
        except SourceError:
            raise
        except Exception as exc:
            log.exception("parser failed unexpectedly", extra={"source": source_name})
            raise PayloadInvalid(f"could not read this {source_name} payload ({type(exc).__name__})") from exc
        try:
            ids = await receiver.writer.submit(
                source_name,
                request.headers.get("content-type"),
                body.decode("utf-8", errors="replace"),
                events,
            )
        except Exception:
            receiver.metrics.events_rejected.labels(metric_source, "503").inc()
            return JSONResponse({"error": "could not store the payload; retry later", "status": 503}, status_code=503)
    except SourceError as exc:
        receiver.metrics.events_rejected.labels(metric_source, str(exc.status)).inc()
        return JSONResponse({"error": exc.reason, "status": exc.status}, status_code=exc.status)
    finally:
        receiver.metrics.webhook_latency.observe(time.perf_counter() - started)
    receiver.metrics.events_accepted.labels(metric_source).inc(len(ids))
    return JSONResponse({"accepted": len(ids), "event_ids": ids}, status_code=202)


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
