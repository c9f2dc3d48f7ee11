"""Masking of personal data and secrets before any text leaves the process for a model.

Every piece of event text is passed through `Masker.mask` before it is put into a
prompt; the masked text is also what is hashed and logged. Each match is replaced by
a typed, numbered placeholder (`<email-1>`, `<ipv4-2>`, `<aws_key-1>`), the same value
getting the same placeholder within one text, so a model can still tell that two
lines name the same address without ever seeing it.

What is masked, in this order (earlier kinds win where two would overlap):
configured extra patterns, private key blocks, JWTs, GitHub, Slack and AWS tokens,
bearer tokens, e-mail addresses, card numbers (13-19 digits, issuer prefix 2-6,
Luhn-checked), IPv6 and IPv4 addresses, and generic secrets (32+ hex digits, or 40+
characters of base64 mixing digits and both cases). Masking errs towards masking: a
40-digit commit hash becomes `<secret-1>`, which costs a model nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


@dataclass(frozen=True)
class _Kind:
    name: str
    pattern: re.Pattern[str]
    # Only the text of this group is replaced (so `Bearer ` stays readable); 0 is the whole match.
    group: int = 0
    accept: Callable[[str], bool] | None = None


def _luhn(text: str) -> bool:
    digits = [int(ch) for ch in text if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _mixed(text: str) -> bool:
    """Random-looking: digits and both letter cases, as keys are and words and paths mostly are not."""
    return any(c.isdigit() for c in text) and any(c.islower() for c in text) and any(c.isupper() for c in text)


BUILTIN_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.S
        ),
    ),
    _Kind("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    _Kind("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    _Kind("slack_token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,250}")),
    _Kind("aws_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}\b")),
    _Kind("bearer_token", re.compile(r"\b[Bb]earer\s+([A-Za-z0-9\-._~+/]{8,}=*)"), group=1),
    _Kind("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    _Kind("card", re.compile(r"(?<![\d-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\d-])"), accept=_luhn),
    _Kind(
        "ipv6",
        re.compile(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?:%\w+)?(?![\w:])"
        ),
        accept=_ipv6,
    ),
    _Kind("ipv4", re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")),
    _Kind("secret", re.compile(r"(?<![\w-])[0-9a-fA-F]{32,}(?![\w-])")),
    _Kind("secret", re.compile(r"(?<![\w+/-])[A-Za-z0-9+/_-]{40,}={0,2}(?![\w+/=-])"), accept=_mixed),
)


@dataclass
class Masked:
    """A masked text and how many distinct values of each kind it hid."""

    text: str
    found: dict[str, int] = field(default_factory=dict)


class Masker:
    """Replaces personal data and secrets by typed placeholders.

    Usage::

        masker = Masker({"customer_id": r"\\bcus_[A-Za-z0-9]{14}\\b"})
        masker.mask("mail ops@example.com about cus_Nf9d2kLp0aZx1q").text
        # 'mail <email-1> about <customer_id-1>'
    """

    def __init__(self, extra_patterns: Mapping[str, str] | None = None) -> None:
        extra = tuple(_Kind(name, re.compile(pattern)) for name, pattern in (extra_patterns or {}).items())
        self.kinds = extra + BUILTIN_KINDS

    def mask(self, text: str) -> Masked:
        """The text with every match replaced; the same value keeps the same placeholder."""
        seen: dict[str, dict[str, str]] = {}
        for kind in self.kinds:
            text = kind.pattern.sub(functools.partial(_replace, kind=kind, seen=seen), text)
        return Masked(text, {name: len(values) for name, values in seen.items()})


def _replace(match: re.Match[str], kind: _Kind, seen: dict[str, dict[str, str]]) -> str:
    value = match.group(kind.group)
    if not value or (kind.accept is not None and not kind.accept(value)):
        return match.group(0)
    numbers = seen.setdefault(kind.name, {})
    placeholder = numbers.setdefault(value, f"<{kind.name}-{len(numbers) + 1}>")
    start, end = match.start(kind.group) - match.start(0), match.end(kind.group) - match.start(0)
    whole = match.group(0)
    return whole[:start] + placeholder + whole[end:]
