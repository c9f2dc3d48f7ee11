"""Shared checks for how tools prove who they are: HMAC signatures and shared tokens.

Every comparison is constant-time. Signatures are always computed over the raw body
bytes exactly as received, never over re-serialized JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from liberation_guardian.errors import Unauthorized


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    """Hex HMAC of `message` keyed with `secret`."""
    return hmac.new(secret.encode(), message, digest).hexdigest()


def require_hmac(
    secret: str,
    message: bytes,
    given: str | None,
    *,
    header: str,
    prefix: str = "",
    digest: str = "sha256",
) -> None:
    """Raise `Unauthorized` unless `given` is `prefix` + hex HMAC of `message` (case-insensitive hex)."""
    if not given:
        raise Unauthorized(f"missing signature header {header}")
    candidate = given.strip()
    if prefix:
        if not candidate.lower().startswith(prefix.lower()):
            raise Unauthorized(f"signature header {header} does not start with {prefix!r}")
        candidate = candidate[len(prefix) :]
    expected = hmac_hex(secret, message, digest)
    if not hmac.compare_digest(expected.encode(), candidate.lower().encode()):
        raise Unauthorized(f"signature in {header} does not match the body")


def require_any_hmac(secret: str, message: bytes, candidates: Iterable[str], *, header: str) -> None:
    """Raise `Unauthorized` unless one of `candidates` (hex digests) matches; for rotated keys."""
    expected = hmac_hex(secret, message).encode()
    matched = False
    for candidate in candidates:
        # Compare against every candidate so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected, candidate.strip().lower().encode())
    if not matched:
        raise Unauthorized(f"no signature in {header} matches the body")


def require_token(secret: str, given: str | None, *, header: str) -> None:
    """Raise `Unauthorized` unless `given` equals the shared `secret`."""
    if not given:
        raise Unauthorized(f"missing {header} header")
    if not hmac.compare_digest(secret.encode(), given.strip().encode()):
        raise Unauthorized(f"{header} does not match the configured secret")


def require_bearer_or_basic(secret: str, authorization: str | None) -> None:
    """Raise `Unauthorized` unless `Authorization` carries `secret` as a bearer token or basic password."""
    if not authorization:
        raise Unauthorized("missing Authorization header")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("Authorization basic credentials are not valid base64") from None
        value = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        raise Unauthorized(f"Authorization scheme {scheme!r} is not Bearer or Basic")
    if not hmac.compare_digest(secret.encode(), value.encode()):
        raise Unauthorized("Authorization credentials do not match the configured secret")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data` (for payload identities, not for authentication)."""
    return hashlib.sha256(data).hexdigest()
