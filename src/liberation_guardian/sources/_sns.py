"""Amazon SNS message authenticity: the string SNS signs, its signing certificate, subscription confirmation.

SNS signs every HTTP/S delivery in the body: `Signature` is the Base64 RSA signature
(`SignatureVersion` 1 = SHA1withRSA, 2 = SHA256withRSA) over "name\\nvalue\\n" for a fixed,
alphabetical list of fields, made with the key of the X.509 certificate at `SigningCertURL`.
Only https URLs on a host the configured pattern accepts are ever fetched, so a forged message
cannot point the receiver at a key of its choosing or make it call an arbitrary address.

Docs: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from liberation_guardian.errors import SourceError, Unauthorized

# AWS partitions host the signing certificates at sns.<region>.amazonaws.com (.com.cn in China).
DEFAULT_HOST_PATTERN = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": _NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_MAX_DOWNLOAD_BYTES = 64 * 1024
_CACHED_KEYS = 32
_FUTURE_SKEW_SECONDS = 300
_SUBSCRIPTION_ARN = re.compile(r"<SubscriptionArn>\s*([^<\s]+)\s*</SubscriptionArn>")


class ConfirmationFailed(SourceError):
    """SNS did not accept the subscription confirmation; 502 so SNS sends the confirmation again."""

    status = 502


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed for `message`: each signed field as "name\\nvalue\\n", in SNS's fixed order."""
    kind = message.get("Type")
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise Unauthorized(f"SNS message Type {kind!r} is not a type SNS signs")
    parts = []
    for name in fields:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue  # signed only when the publisher gave one
        if not isinstance(value, str):
            raise Unauthorized(f"SNS message has no {name} string, which its signature covers")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def checked_url(value: object, host_pattern: re.Pattern[str], what: str) -> str:
    """`value` when it is an https URL on a host `host_pattern` accepts; raise `Unauthorized` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise Unauthorized(f"SNS message has no {what}")
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise Unauthorized(f"{what} is not a URL") from None
    if url.scheme != "https":
        raise Unauthorized(f"{what} is not an https URL")
    if url.userinfo:
        raise Unauthorized(f"{what} carries credentials")
    if not host_pattern.fullmatch(url.host):
        raise Unauthorized(f"{what} host {url.host!r} is not an SNS host (see cert_host_pattern)")
    return str(url)


def require_fresh(message: Mapping[str, Any], max_age_seconds: int, now: datetime | None = None) -> None:
    """Refuse a message whose signed `Timestamp` is older than `max_age_seconds` or ahead of the clock."""
    if max_age_seconds <= 0:
        return
    raw = message.get("Timestamp")
    try:
        sent = datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        sent = None
    if sent is None:
        raise Unauthorized("SNS message has no readable Timestamp")
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - sent).total_seconds()
    if age > max_age_seconds:
        raise Unauthorized(f"SNS Timestamp {raw} is older than {max_age_seconds} s (max_age_seconds)")
    if age < -_FUTURE_SKEW_SECONDS:
        raise Unauthorized(f"SNS Timestamp {raw} is in the future")


class SnsClient:
    """Fetches SNS signing certificates (cached by URL) and confirms subscriptions, over https only."""

    def __init__(self, *, host_pattern: str, timeout: float, ca_file: str | None) -> None:
        self.host_pattern = re.compile(host_pattern, re.IGNORECASE)
        self.timeout = timeout
        self.ca_file = ca_file
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._verify: ssl.SSLContext | bool | None = None

    def check_signature(self, message: Mapping[str, Any]) -> None:
        """Raise `Unauthorized` unless `Signature` is SNS's signature of `message`."""
        version = message.get("SignatureVersion")
        digest = _DIGESTS.get(version) if isinstance(version, str) else None
        if digest is None:
            raise Unauthorized(f"SNS SignatureVersion {version!r} is not 1 or 2")
        encoded = message.get("Signature")
        try:
            signature = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            signature = b""
        if not signature:
            raise Unauthorized("SNS message has no Base64 Signature")
        signed = string_to_sign(message)
        # Lambda's copy of an SNS message spells the field SigningCertUrl.
        cert_url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        key = self.public_key(checked_url(cert_url, self.host_pattern, "SigningCertURL"))
        try:
            key.verify(signature, signed, padding.PKCS1v15(), digest())
        except InvalidSignature:
            raise Unauthorized("SNS Signature does not match the message") from None

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The RSA key of the certificate at `url`, fetched once per URL."""
        if (key := self._keys.get(url)) is not None:
            return key
        try:
            pem = self._get(url)
        except httpx.HTTPError as exc:
            raise Unauthorized(f"could not fetch the SNS signing certificate: {exc}") from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise Unauthorized("SigningCertURL did not return a PEM certificate") from None
        if certificate.not_valid_after_utc < datetime.now(UTC):
            raise Unauthorized("the SNS signing certificate has expired")
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise Unauthorized("the SNS signing certificate does not hold an RSA key")
        if len(self._keys) >= _CACHED_KEYS:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = public
        return public

    def confirm(self, subscribe_url: object) -> dict[str, Any]:
        """GET the confirmation's `SubscribeURL` (an SNS host, https) and return what SNS answered."""
        url = checked_url(subscribe_url, self.host_pattern, "SubscribeURL")
        try:
            answer = self._get(url)
        except httpx.HTTPError as exc:
            raise ConfirmationFailed(f"confirming the SNS subscription failed: {exc}") from None
        found = _SUBSCRIPTION_ARN.search(answer.decode("utf-8", errors="replace"))
        return {"subscription_arn": found.group(1)} if found else {}

    def _get(self, url: str) -> bytes:
        """The body of a 200 answer to GET `url`, at most 64 KiB; `httpx.HTTPError` for anything else."""
        with (
            httpx.Client(verify=self._context(), timeout=self.timeout, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"{url} answered {response.status_code}", request=response.request, response=response
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_DOWNLOAD_BYTES:
                    raise httpx.DecodingError(f"{url} answered more than {_MAX_DOWNLOAD_BYTES} bytes")
            return bytes(body)

    def _context(self) -> ssl.SSLContext | bool:
        """httpx's default trust store, or one holding only `ca_file` when that is set."""
        if self._verify is None:
            if self.ca_file is None:
                self._verify = True
            else:
                try:
                    self._verify = ssl.create_default_context(cafile=self.ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise Unauthorized(f"could not load ca_file {self.ca_file!r}: {exc}") from None
        return self._verify
