"""Bearer-token authentication for /api/*, with the token from `core.admin_token_env`."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def require_admin(request: Request) -> None:
    """Refuse the request unless it carries `Authorization: Bearer <admin token>`."""
    token: str | None = request.app.state.admin_token
    if not token:
        variable = request.app.state.config.settings.core.admin_token_env
        raise HTTPException(503, f"the API is disabled: set {variable} (liberation-guardian init writes one to .env)")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(401, "missing Authorization: Bearer <token> header", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.encode(), given.strip().encode()):
        raise HTTPException(401, "bearer token does not match", headers={"WWW-Authenticate": "Bearer"})
