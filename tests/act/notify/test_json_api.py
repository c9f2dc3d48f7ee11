"""The helpers the vendor-API channels share: Retry-After, error quoting, clipping, incident keys, base URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from liberation_guardian.act.notify._json_api import check_base_url, clip_escaped, error_detail
from liberation_guardian.act.notify.webhook import retry_after_seconds


def answer(status: int = 429, *, headers: dict[str, str] | None = None, body: bytes = b"") -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0), ("inf", None), ("nan", None), ("soon", None), ("", None)],
)
def test_retry_after_in_seconds(value: str, expected: float | None) -> None:
    assert retry_after_seconds(answer(headers={"Retry-After": value})) == expected


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    wait = retry_after_seconds(answer(headers={"Retry-After": later}))
    assert wait is not None and 50 < wait <= 60
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(answer(headers={"Retry-After": past})) == 0.0


def test_no_retry_after_header() -> None:
    assert retry_after_seconds(answer()) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"message": "bad", "errors": ["one", "two"]}', "bad (one; two)"),
        (b'{"message": "bad", "errors": {"alias": "too long"}}', "bad (alias: too long)"),
        (b'{"message": "bad"}', "bad"),
        (b'{"status": "x"}', '{"status": "x"}'),
        (b"<html>oops</html>\n", "<html>oops</html>"),
        (b"", "(empty body)"),
        (b"\xff\xfe", "\ufffd\ufffd"),
    ],
)
def test_error_detail_quotes_what_the_vendor_said(body: bytes, expected: str) -> None:
    assert error_detail(answer(400, body=body)) == expected


def test_error_detail_is_clipped() -> None:
    detail = error_detail(answer(400, body=b"x" * 5000))
    assert len(detail) == 300
    assert detail.endswith("…")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a<b", 10, "a&lt;b"),
        ("abc&def", 7, "abc…"),
        ("abc&def", 9, "abc&amp;…"),
        ("<<<<", 5, "&lt;…"),
        ("plain", 5, "plain"),
    ],
)
def test_clip_escaped_never_splits_an_entity(text: str, limit: int, expected: str) -> None:
    result = clip_escaped(text, limit)
    assert result == expected
    assert len(result) <= limit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.opsgenie.com", "https://api.opsgenie.com"),
        ("https://api.eu.opsgenie.com/", "https://api.eu.opsgenie.com"),
        ("http://127.0.0.1:8080/proxy/", "http://127.0.0.1:8080/proxy"),
    ],
)
def test_check_base_url_accepts_and_normalises(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "https://", "https://u:p@host", "https://host/#f", "http://[::1"])
def test_check_base_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        check_base_url(url)
