"""Masking: what must be hidden is, what must stay readable does."""

from __future__ import annotations

import pytest

from liberation_guardian.triage.llm.mask import Masker

# (text, the secret that must disappear, the placeholder that must replace it)
POSITIVE = [
    ("mail ops@example.com now", "ops@example.com", "<email-1>"),
    ("from Jane.Doe+alerts@mail.example.co.uk:", "Jane.Doe+alerts@mail.example.co.uk", "<email-1>"),
    ("connect to 10.0.12.7:5432 failed", "10.0.12.7", "<ipv4-1>"),
    ("peer 255.255.255.255 dropped", "255.255.255.255", "<ipv4-1>"),
    ("addr 2001:db8::8a2e:370:7334 unreachable", "2001:db8::8a2e:370:7334", "<ipv6-1>"),
    ("bound to [::1]:8080", "::1", "<ipv6-1>"),
    ("via fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a%eth0", "<ipv6-1>"),
    ("mapped ::ffff:192.0.2.128 here", "::ffff:192.0.2.128", "<ipv6-1>"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE", "<aws_key-1>"),
    ("temp ASIAY34FZKBOKMUTVV7A used", "ASIAY34FZKBOKMUTVV7A", "<aws_key-1>"),
    ("token ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2, "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2, "<github_token-1>"),
    ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG", "<github_token-1>"),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-1234567890", "<slack_token-1>"),
    ("Authorization: Bearer abc.DEF-ghi_jkl~123", "abc.DEF-ghi_jkl~123", "Bearer <bearer_token-1>"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "eyJhbGci", "<jwt-1>"),
    ("paid with 4111 1111 1111 1111 today", "4111 1111 1111 1111", "<card-1>"),
    ("card 5500-0000-0000-0004", "5500-0000-0000-0004", "<card-1>"),
    ("amex 378282246310005", "378282246310005", "<card-1>"),
    ("api key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d081884c7d659a2f", "<secret-1>"),
    ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYabcd12", "wJalrXUtnFEMI/K7MDENG", "<secret-1>"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1\nabc\n-----END RSA PRIVATE KEY----- end",
        "MIIEowIBAAKCAQEA1",
        "<private_key-1> end",
    ),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut off", "b3BlbnNzaC1rZXkt", "<private_key-1>"),
]

# Text that must come back unchanged.
NEGATIVE = [
    "TypeError: Cannot read properties of undefined (reading 'id')",
    "GET /api/v2/users/42 took 1532 ms at 2024-05-01T12:30:45Z",
    "version 1.2.3 released; python3.11 and node 20.11.1",
    "uuid 123e4567-e89b-12d3-a456-426614174000 not found",
    "commit abc1234 fixed it",
    "order 4111111111111112 failed",  # fails the Luhn check
    "timestamp 1714566645123 in ms",  # 13 digits, but no card issuer starts with 1
    "phone home at 12:30:45 daily",
    "std::vector<int> and Foo::bar() in C++",
    "MAC 00:1A:2B:3C:4D:5E seen",
    "address 999.1.1.1 is not an address",
    "dotted 1.2.3.4.5 is a version, not an address",
    "File /usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py, line 1910",
    "src/liberation_guardian/triage/llm/decider_with_a_long_module_name.py",
    "AbstractSingletonProxyFactoryBeanImplementationForTheOrderService failed",
    "user@ without a domain, and @mentions",
    "Bearer",
    "",
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), POSITIVE)
def test_secrets_and_personal_data_are_masked(text: str, secret: str, placeholder: str) -> None:
    masked = Masker().mask(text)
    assert secret not in masked.text
    assert placeholder in masked.text


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_is_left_alone(text: str) -> None:
    masked = Masker().mask(text)
    assert masked.text == text
    assert masked.found == {}


def test_the_same_value_keeps_its_placeholder_and_kinds_are_counted() -> None:
    masked = Masker().mask("a@example.com wrote to b@example.com, then a@example.com again from 10.0.0.1")
    assert masked.text == "<email-1> wrote to <email-2>, then <email-1> again from <ipv4-1>"
    assert masked.found == {"email": 2, "ipv4": 1}


def test_configured_patterns_are_masked_first_under_their_own_name() -> None:
    masker = Masker({"customer_id": r"\bcus_[A-Za-z0-9]{14}\b", "hostname": r"\b[a-z]+-prod-\d+\b"})
    masked = masker.mask("cus_Nf9d2kLp0aZx1q on api-prod-7 (ops@example.com)")
    assert masked.text == "<customer_id-1> on <hostname-1> (<email-1>)"


def test_an_email_inside_a_url_is_masked_but_the_url_stays() -> None:
    masked = Masker().mask("GET https://example.com/reset?user=jo@example.org&x=1")
    assert masked.text == "GET https://example.com/reset?user=<email-1>&x=1"
