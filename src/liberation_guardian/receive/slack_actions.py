"""`POST /slack/interactions`: the Acknowledge and Resolve buttons of Slack messages.

Slack calls the app's interactivity request URL with `application/x-www-form-urlencoded`
`payload=<json>` when someone presses a button the `slack` channel put on a message
(`act/notify/slack.py`). Slack cannot send the admin bearer token, so the request's
signature is its authentication: `X-Slack-Signature` must be `v0=` and the hex
HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` keyed with the app's signing
secret (`signing_secret_env` of the slack channel), compared in constant time. A
timestamp more than five minutes from now is refused, and an authentic request seen
before (same signature) is answered without acting again, so a captured callback cannot
be replayed. The memory of seen signatures lives in the process: with several replicas
the five-minute window is what bounds a replay, and acting twice changes nothing anyway.

A `block_actions` payload for `guardian_acknowledge` or `guardian_resolve` acknowledges or
resolves the incident whose id is the button's value, as `slack:<username or user id>`,
and tells the channels that heard of it, exactly as the API does. Slack wants an answer
within three seconds, so the answer is an empty 200 as soon as the database commit is
done; an incident that is unknown, already acknowledged or already resolved is logged
and answered 200 too. Answers: 404 when no signing secret is configured, 401 for an
unsigned, stale or forged request, 400 for a payload this module cannot read.

This module is not a general Slack app: other interaction types (shortcuts, modals) and
other action ids are acknowledged with 200 and ignored.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from slack_sdk.signature import SignatureVerifier

from liberation_guardian.act.notify.slack import ACKNOWLEDGE_ACTION, RESOLVE_ACTION
from liberation_guardian.group.incidents import acknowledge, resolve
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Incident, utcnow

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])

# Slack's documented replay window for signed requests.
MAX_AGE_SECONDS = 300
_OUR_ACTIONS = frozenset({ACKNOWLEDGE_ACTION, RESOLVE_ACTION})
_WHO_MAX = 255  # the incidents table's acknowledged_by / resolved_by length


class SeenSignatures:
    """Signatures of authentic requests from the last replay window, to answer a replay without acting."""

    def __init__(self, window: float = MAX_AGE_SECONDS) -> None:
        self.window = window
        self._seen: dict[str, float] = {}

    def first_time(self, signature: str, now: float) -> bool:
        """Remember `signature`; False when it was already seen within the window."""
        # A timestamp may be up to one window ahead of our clock, so a signature can pass the age check
        # for up to two windows after it is first seen; after that it is refused anyway and can be forgotten.
        self._seen = {sig: at for sig, at in self._seen.items() if now - at <= 2 * self.window}
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True


@router.post("/slack/interactions", status_code=200, response_class=Response)
async def slack_interactions(request: Request) -> Response:
    """Verify a Slack interaction callback and acknowledge or resolve the incident its button names."""
    secret = _signing_secret(request)
    if secret is None:
        raise HTTPException(404, "slack interactivity is not configured")
    body = await _read_limited(request, request.app.state.config.settings.core.max_body_bytes)
    now = time.time()
    signature = verify(
        secret, request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature"), body, now
    )
    if not _seen(request).first_time(signature, now):
        log.info("slack interaction replayed; ignored")
        return Response(status_code=200)
    payload = parse_payload(body)
    if payload.get("type") != "block_actions":
        return Response(status_code=200)
    who = _who(payload)
    for action_id, incident_id in our_actions(payload):
        await run_in_threadpool(_apply, request, action_id, incident_id, who)
    return Response(status_code=200)


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str:
    """Check Slack's `v0` signature of `body`; return it, or raise 401 saying what is wrong."""
    if not timestamp or not signature:
        raise HTTPException(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise HTTPException(401, "X-Slack-Request-Timestamp is not a Unix time") from None
    if abs(now - sent_at) > MAX_AGE_SECONDS:
        raise HTTPException(401, "X-Slack-Request-Timestamp is more than 5 minutes from now; refused as a replay")
    expected = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    if expected is None or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise HTTPException(401, "X-Slack-Signature does not match the signing secret")
    return signature


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in the form field `payload`; raise 400 when there is none."""
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "body is not application/x-www-form-urlencoded") from None
    values = fields.get("payload")
    if not values:
        raise HTTPException(400, "form field payload is missing")
    try:
        payload = json.loads(values[0])
    except ValueError:
        raise HTTPException(400, "form field payload is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "form field payload is not a JSON object")
    return payload


def our_actions(payload: dict[str, Any]) -> list[tuple[str, int]]:
    """The (action id, incident id) of every Acknowledge or Resolve press in a `block_actions` payload."""
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise HTTPException(400, "payload.actions is not a list")
    found = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or action.get("action_id") not in _OUR_ACTIONS:
            continue
        value = action.get("value")
        if not isinstance(value, str) or not value.isdigit():
            raise HTTPException(400, f"payload.actions[{index}].value is not an incident id")
        found.append((str(action["action_id"]), int(value)))
    return found


def _who(payload: dict[str, Any]) -> str:
    user = payload.get("user")
    name = (user.get("username") or user.get("id")) if isinstance(user, dict) else None
    if not isinstance(name, str) or not name:
        raise HTTPException(400, "payload.user has neither username nor id")
    return f"slack:{name}"[:_WHO_MAX]


def _apply(request: Request, action_id: str, incident_id: int, who: str) -> None:
    """Acknowledge or resolve one incident the way the API does, then wake the deliveries."""
    state = request.app.state
    with transaction(state.sessions) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            log.warning("slack button for an unknown incident", extra={"incident_id": incident_id, "by": who})
            return
        if action_id == ACKNOWLEDGE_ACTION:
            changed = acknowledge(incident, who, utcnow())
            if changed:
                state.policy.record_acknowledgement(session, incident)
        else:
            changed = resolve(incident, who, utcnow()) is not None
            if changed:
                state.policy.record_resolution(session, incident, None)
        status = incident.status
    log.info(
        "slack button pressed",
        extra={"incident_id": incident_id, "action": action_id, "by": who, "changed": changed, "status": status},
    )
    if changed:
        state.runner_wake()


def _signing_secret(request: Request) -> str | None:
    entry = request.app.state.config.channels.get("slack")
    if entry is None:
        return None
    secret = entry[1].secrets.get("signing_secret")
    return secret if isinstance(secret, str) and secret.strip() else None


def _seen(request: Request) -> SeenSignatures:
    # Created on first use; the endpoint's checks run on the event loop, so no two requests race here.
    seen = getattr(request.app.state, "slack_seen_signatures", None)
    if not isinstance(seen, SeenSignatures):
        seen = SeenSignatures()
        request.app.state.slack_seen_signatures = seen
    return seen


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
