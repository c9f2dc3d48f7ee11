"""The exception tree of Liberation Guardian.

    GuardianError
     ├── ConfigError                 the configuration file or environment is wrong (exit 2)
     ├── SourceError                 a webhook request was refused; carries its HTTP status
     │    ├── UnknownSource          404: no such source, or it is disabled
     │    ├── Unauthorized           401: signature, token or key missing or wrong
     │    ├── Forbidden              403: the sender's address is not in the source's allowlist
     │    ├── RateLimited            429: the source sent more than its rate limit; carries retry_after
     │    ├── PayloadTooLarge        413: body over the configured limit
     │    ├── PayloadMalformed       400: body is not parsable (not JSON, truncated)
     │    └── PayloadInvalid         422: parsable, but not what this source sends
     └── DeliveryFailed              a channel could not deliver; `retryable` says whether to try again

The HTTP layer maps every SourceError to its status in one handler; nothing else
reaches the client as a 500.
"""

from __future__ import annotations


class GuardianError(Exception):
    """Base of every error Liberation Guardian raises on purpose."""


class ConfigError(GuardianError):
    """The configuration is invalid; `path` names the key, `line` the YAML line when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path
        if self.line is not None:
            where = f"{where} (line {self.line})" if where else f"line {self.line}"
        return f"{where}: {self.message}" if where else self.message


class SourceError(GuardianError):
    """A webhook request was refused; `status` is the HTTP status to answer with."""

    status = 400

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnknownSource(SourceError):
    """No enabled source answers at this name."""

    status = 404


class Unauthorized(SourceError):
    """The request's signature, token or key is missing or does not match."""

    status = 401


class Forbidden(SourceError):
    """The request comes from an address the source's `allowed_ips` does not include."""

    status = 403


class RateLimited(SourceError):
    """The source is over its `rate_limit_per_minute`; `retry_after` says when to try again (seconds)."""

    status = 429

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PayloadTooLarge(SourceError):
    """The body is larger than `core.max_body_bytes`."""

    status = 413


class PayloadMalformed(SourceError):
    """The body cannot be decoded at all (not JSON, truncated, wrong encoding)."""

    status = 400


class PayloadInvalid(SourceError):
    """The body decodes but is not a payload this source sends."""

    status = 422


class DeliveryFailed(GuardianError):
    """A channel could not deliver a notification.

    `retryable` is True for failures worth another attempt (timeouts, 429, 5xx) and
    False for ones that will fail the same way again (4xx, bad configuration).
    `retry_after` is the wait in seconds the receiver asked for (a 429's Retry-After),
    which the delivery stage honours instead of its own backoff when it is longer.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)
