"""Shared checks for how tools prove who they are: HMAC signatures and shared tokens.

Every comparison is constant-time. Signatures are always computed over the raw body
bytes exactly as received, never over re-serialized JSON.

Many tools sign nothing but let the user add a header or Basic credentials. Two config shapes
cover them, each with its check:

- `TokenHeaderConfig` + `require_token_or_authorization`: the secret in `token_header`
  (default `X-Guardian-Token`), or else in `Authorization` (Bearer, or the Basic password).
- `SharedSecretConfig` + `require_shared_secret`: `Authorization` by default, or only the
  header named by `auth_header` when one is configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from pydantic import Field

from liberation_guardian.errors import Unauthorized
from liberation_guardian.sources.base import Headers, SourceConfig

DEFAULT_TOKEN_HEADER = "X-Guardian-Token"
# Header names are RFC 9110 tokens.
_HEADER_TOKEN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"


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


class TokenHeaderConfig(SourceConfig):
    """Keys of a source that takes the secret in a token header, or else in Authorization."""

    token_header: str = Field(
        default=DEFAULT_TOKEN_HEADER,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header that carries the shared secret; Authorization Bearer or Basic is accepted instead.",
    )


def require_token_or_authorization(secret: str, headers: Headers, token_header: str) -> None:
    """Raise `Unauthorized` unless `token_header` equals `secret`, or `Authorization` carries it.

    When the token header is present it decides, so a wrong token is refused even beside a
    valid `Authorization`.
    """
    given = headers.get(token_header.lower())
    if given is not None:
        require_token(secret, given, header=token_header)
        return
    authorization = headers.get("authorization")
    if authorization:
        require_bearer_or_basic(secret, authorization)
        return
    raise Unauthorized(f"missing {token_header} header (or Authorization: Bearer/Basic with the secret)")


class SharedSecretConfig(SourceConfig):
    """Keys of a source that authenticates with a shared secret in a header the tool lets you add."""

    auth_header: str | None = Field(
        default=None,
        pattern=_HEADER_TOKEN,
        description=(
            "Header that carries the secret verbatim (for example X-Guardian-Token); when unset, "
            "Authorization must carry it as a bearer token or as the password of Basic credentials."
        ),
    )


def require_shared_secret(secret: str, headers: Headers, auth_header: str | None) -> None:
    """Raise `Unauthorized` unless the request carries `secret` where `auth_header` says."""
    if auth_header:
        require_token(secret, headers.get(auth_header.lower()), header=auth_header)
    else:
        require_bearer_or_basic(secret, headers.get("authorization"))


def shared_secret_headers(secret: str | None, auth_header: str | None) -> dict[str, str]:
    """The header a tool configured with `secret` would send, per `require_shared_secret`."""
    if secret is None:
        return {}
    return {auth_header: secret} if auth_header else {"Authorization": f"Bearer {secret}"}


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data` (for payload identities, not for authentication)."""
    return hashlib.sha256(data).hexdigest()
