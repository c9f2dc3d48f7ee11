"""/api/silences: create, list, read and expire silences, shaped like Alertmanager's API (v2).

`POST /api/silences` takes `matchers` (`name`, `value`, `isRegex`, `isEqual`), `startsAt`
(default now), `endsAt`, `createdBy` and `comment`, and answers with the stored silence
and its `silenceID`; `GET /api/silences` lists them (newest first) with `status.state`
pending, active or expired; `DELETE /api/silences/{id}` expires one at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from liberation_guardian.api.auth import require_admin
from liberation_guardian.dispatch import silences
from liberation_guardian.dispatch.matchers import Matcher
from liberation_guardian.store.db import transaction
from liberation_guardian.store.models import Silence, utcnow

router = APIRouter(prefix="/api/silences", dependencies=[Depends(require_admin)], tags=["silences"])


class MatcherIn(BaseModel):
    """One matcher as Alertmanager's API writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    value: str = Field(max_length=1024)
    isRegex: bool = False
    isEqual: bool = True


class SilenceIn(BaseModel):
    """The body of POST /api/silences."""

    model_config = ConfigDict(extra="ignore")

    matchers: list[MatcherIn] = Field(max_length=50)
    startsAt: datetime | None = None
    endsAt: datetime
    createdBy: str = Field(min_length=1, max_length=255)
    comment: str = Field(default="", max_length=4000)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post("")
def create_silence(request: Request, body: SilenceIn) -> dict[str, Any]:
    """Store a silence; 400 with the reason when it is not usable."""
    now = utcnow()
    starts_at = _aware(body.startsAt) if body.startsAt else now
    ends_at = _aware(body.endsAt)
    try:
        matchers = [Matcher.build(m.name, m.value, is_regex=m.isRegex, is_equal=m.isEqual) for m in body.matchers]
        silences.check(matchers, starts_at, ends_at, now)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    with transaction(request.app.state.sessions) as session:
        silence = silences.create(session, matchers, starts_at, ends_at, body.createdBy, body.comment, now)
        return {"silenceID": silence.id, **silences.as_api(silence, now)}


@router.get("")
def list_silences(request: Request) -> list[dict[str, Any]]:
    """Every silence, newest first."""
    now = utcnow()
    with request.app.state.sessions() as session:
        rows = session.scalars(select(Silence).order_by(Silence.created_at.desc())).all()
        return [silences.as_api(row, now) for row in rows]


@router.get("/{silence_id}")
def get_silence(request: Request, silence_id: str) -> dict[str, Any]:
    """One silence (404 when unknown)."""
    with request.app.state.sessions() as session:
        silence = session.get(Silence, silence_id)
        if silence is None:
            raise HTTPException(404, f"no silence {silence_id}")
        return silences.as_api(silence, utcnow())


@router.delete("/{silence_id}")
def expire_silence(request: Request, silence_id: str) -> dict[str, Any]:
    """Expire a silence now (404 when unknown; expiring an expired one changes nothing)."""
    now = utcnow()
    with transaction(request.app.state.sessions) as session:
        silence = session.get(Silence, silence_id)
        if silence is None:
            raise HTTPException(404, f"no silence {silence_id}")
        silences.expire(silence, now)
        return silences.as_api(silence, now)
