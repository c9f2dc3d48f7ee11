"""Bearer tokens signed by an identity provider: OIDC ID tokens (Google) and Entra ID access tokens (Azure).

Google Pub/Sub push subscriptions and Azure Monitor "secure webhook" actions authenticate with a
JSON Web Token in `Authorization: Bearer`, signed (RS256) with a key the provider publishes in a
JSON Web Key Set (JWKS). `TokenVerifier` checks the signature with the key the token's `kid` names,
then `exp` and `iat` (with a small leeway for clock skew), `aud` and `iss`, and returns the claims;
each source then checks who the token names as sender (`email`, `appid`, `tid`, ...) with
`require_claim`.

Keys are fetched only while verifying a request, never while parsing one. The key set is cached
for an hour and fetched again early when a token names a key id not in it: providers publish a
new key before signing with it, so an unknown `kid` usually means a rotation. Early fetches are
spaced `refresh_interval` seconds apart, so tokens with made-up key ids cannot make every request
call the provider.

A key server that cannot be reached is `KeysUnavailable` (503), not `Unauthorized` (401): the
sender did nothing wrong, and both Pub/Sub and Azure action groups deliver again after a 5xx,
while a 401 would read as a configuration mistake. The project's error tree has no 503 refusal, so
it is defined here, as `_sns.ConfirmationFailed` (502) is beside the SNS checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKClient

from liberation_guardian.errors import SourceError, Unauthorized

ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
KEYS_LIFESPAN_SECONDS = 3600
REFRESH_INTERVAL_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud"]
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class KeysUnavailable(SourceError):
    """The provider's signing keys could not be fetched; 503 so the sender delivers again later."""

    status = 503


def checked_jwks_url(value: str) -> str:
    """`value` when it is an https URL (or http to a loopback address); raise ValueError otherwise.

    For config validators: keys fetched over plain http could be swapped on the way.
    """
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ValueError("not a URL") from None
    if url.scheme == "http" and url.host in _LOOPBACK_HOSTS:
        return str(url)
    if url.scheme != "https" or not url.host:
        raise ValueError("must be an https URL (http only to a loopback address)")
    return str(url)


def bearer_token(authorization: str | None, *, setting: str) -> str:
    """The token of an `Authorization: Bearer <token>` header; `Unauthorized` naming `setting` otherwise."""
    if not authorization or not authorization.strip():
        raise Unauthorized(f"missing Authorization header: a signed bearer token is required ({setting} is set)")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            f"Authorization is {scheme!r}, not a Bearer token: a signed bearer token is required ({setting} is set)"
        )
    return token.strip()


def require_claim(claims: Mapping[str, Any], name: str, expected: str, *, setting: str) -> None:
    """Raise `Unauthorized` unless claim `name` equals `expected` (ignoring case: e-mails and GUIDs)."""
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"bearer token has no {name!r} claim, which {setting} requires")
    if value.casefold() != expected.casefold():
        raise Unauthorized(f"bearer token {name} {value!r} is not the configured {setting}")


class TokenVerifier:
    """Verifies RS256 bearer tokens against one JWKS URL, audience and set of issuers.

    Usage::

        tokens = TokenVerifier(
            "https://www.googleapis.com/oauth2/v3/certs",
            audience="https://guardian.example.com/webhook/gcp",
            issuers=("https://accounts.google.com", "accounts.google.com"),
            audience_setting="oidc_audience",
        )
        claims = tokens.claims(headers.get("authorization"))   # Unauthorized or KeysUnavailable if not
        require_claim(claims, "email", "push@project.iam.gserviceaccount.com", setting="oidc_service_account")

    Thread-safe: sources that call out are verified in a thread pool.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        audience: str,
        issuers: Iterable[str],
        audience_setting: str,
        timeout: float = FETCH_TIMEOUT_SECONDS,
        refresh_interval: float = REFRESH_INTERVAL_SECONDS,
    ) -> None:
        self.jwks_url = jwks_url
        self.audience = audience
        self.issuers = tuple(issuers)
        self.audience_setting = audience_setting
        self.refresh_interval = refresh_interval
        # Nothing is fetched here: the client fetches on first use.
        self._client = PyJWKClient(
            jwks_url,
            cache_jwk_set=True,
            lifespan=KEYS_LIFESPAN_SECONDS,
            timeout=timeout,
            headers={"User-Agent": "liberation-guardian"},
        )
        self._lock = threading.Lock()
        self._last_refresh: float | None = None

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the bearer token in `authorization`; `Unauthorized` with the reason otherwise."""
        token = bearer_token(authorization, setting=self.audience_setting)
        key = self.signing_key(_key_id(token))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuers,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(self._reason(exc, token)) from None
        return claims

    def signing_key(self, kid: str) -> PyJWK:
        """The RSA key `kid` names, fetching the key set again (at most every `refresh_interval` s) if unknown."""
        with self._lock:
            key = self._find(kid, refresh=False)
            now = time.monotonic()
            if key is None and (self._last_refresh is None or now - self._last_refresh >= self.refresh_interval):
                self._last_refresh = now
                key = self._find(kid, refresh=True)
        if key is None:
            raise Unauthorized(f"bearer token key id {kid!r} is not among the signing keys at {self.jwks_url}")
        if key.key_type != "RSA":
            raise Unauthorized(f"signing key {kid!r} at {self.jwks_url} is not an RSA key")
        return key

    def _find(self, kid: str, *, refresh: bool) -> PyJWK | None:
        try:
            keys = self._client.get_jwk_set(refresh=refresh).keys
        except jwt.PyJWKClientConnectionError as exc:
            cause = exc.__cause__ or exc
            raise KeysUnavailable(
                f"could not fetch the token signing keys from {self.jwks_url} ({cause}); retry later"
            ) from None
        except (jwt.PyJWTError, ValueError) as exc:  # not JSON, or no usable key in it
            raise KeysUnavailable(f"{self.jwks_url} did not answer a usable key set ({exc}); retry later") from None
        return next((key for key in keys if key.key_id == kid and key.public_key_use in ("sig", None)), None)

    def _reason(self, exc: jwt.PyJWTError, token: str) -> str:
        """Why a token with a known key was refused, with the claim that failed."""
        # Claims are checked only after the signature verified, so reading them back here is safe.
        if isinstance(exc, jwt.ExpiredSignatureError):
            return f"bearer token expired at {_when(_unverified(token).get('exp'))}"
        if isinstance(exc, jwt.InvalidAudienceError):
            audience = _unverified(token).get("aud")
            return f"bearer token audience {audience!r} is not the configured {self.audience_setting}"
        if isinstance(exc, jwt.InvalidIssuerError):
            issuer = _unverified(token).get("iss")
            return f"bearer token issuer {issuer!r} is not one of {', '.join(self.issuers)}"
        if isinstance(exc, jwt.ImmatureSignatureError):
            return "bearer token is not valid yet (iat or nbf is in the future)"
        if isinstance(exc, jwt.MissingRequiredClaimError):
            return f"bearer token has no {exc.claim!r} claim"
        if isinstance(exc, jwt.InvalidSignatureError):
            return "bearer token signature does not verify with its signing key"
        return f"bearer token is not valid: {exc}"


def _key_id(token: str) -> str:
    """The `kid` of an RS256 token's header, checked before any key is fetched for it."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"bearer token is not a JWT: {exc}") from None
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        raise Unauthorized(f"bearer token algorithm {algorithm!r} is not {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("bearer token header has no kid (key id)")
    return kid


def _unverified(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


def _when(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            pass
    return repr(value)
