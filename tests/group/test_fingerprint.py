"""Fingerprints group repeats and separate different problems."""

from __future__ import annotations

import pytest

from liberation_guardian.events import NormalizedEvent, StackFrame
from liberation_guardian.group.fingerprint import fingerprint, normalize_message


def event(text: str, **fields: object) -> NormalizedEvent:
    base: dict[str, object] = {"source": "generic", "kind": "error", "title": text, "message": ""}
    base.update(fields)
    return NormalizedEvent.model_validate(base)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("timeout after 3012 ms on order 8812", "timeout after 2998 ms on order 17"),
        (
            "job 3f2b8c1e-9a4d-4f6b-8e2a-1c3d5e7f9a0b failed at 2026-11-26T10:01:02Z",
            "job 0c9e1d2f-3b4a-4c5d-9e8f-7a6b5c4d3e2f failed at 2026-11-27 08:00:59.123+01:00",
        ),
        ("object at 0x7f3a2c1b4d50 is not callable", "object at 0x10b2c3d4 is not callable"),
        ("commit deadbeefcafe1234 not found", "commit 0123456789abcdef not found"),
        ("user 'alice@example.com' not found", "user 'bob' not found"),
        ('key "session:991" expired', 'key "cart:12" expired'),
        ("connect to 10.0.0.12:5432 refused", "connect to 192.168.1.7:5432 refused"),
    ],
)
def test_volatile_parts_do_not_split_a_problem(first: str, second: str) -> None:
    assert normalize_message(first) == normalize_message(second)
    assert fingerprint(event(first)) == fingerprint(event(second))


def test_the_documented_example_normalizes_to_placeholders() -> None:
    assert normalize_message("timeout after 3012 ms on order 8812") == "timeout after <n> ms on order <n>"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("timeout talking to payments", "timeout talking to inventory"),
        ("disk full on /var", "disk full on /home"),
    ],
)
def test_different_words_are_different_problems(first: str, second: str) -> None:
    assert fingerprint(event(first)) != fingerprint(event(second))


def test_service_environment_and_source_separate_incidents() -> None:
    base = event("boom")
    assert fingerprint(base) != fingerprint(event("boom", service="api"))
    assert fingerprint(base) != fingerprint(event("boom", environment="staging"))
    assert fingerprint(base) != fingerprint(event("boom", source="sentry"))


def test_the_tool_grouping_key_wins_over_the_text() -> None:
    a = event("ValueError: bad 1", grouping_key="sentry:issue:42")
    b = event("something else entirely", grouping_key="sentry:issue:42")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(event("ValueError: bad 1", grouping_key="sentry:issue:43"))


def test_top_in_app_frames_separate_the_same_message_raised_in_different_places() -> None:
    frames_a = [StackFrame(module="lib", function="x", in_app=False), StackFrame(module="app.orders", function="pay")]
    frames_b = [StackFrame(module="lib", function="x", in_app=False), StackFrame(module="app.users", function="get")]
    a = event("KeyError", exception_type="KeyError", message="'id'", stack_frames=frames_a)
    b = event("KeyError", exception_type="KeyError", message="'id'", stack_frames=frames_b)
    assert fingerprint(a) != fingerprint(b)
    # Line numbers are not part of the frame identity: a redeploy does not split the incident.
    c = event(
        "KeyError",
        exception_type="KeyError",
        message="'name'",
        stack_frames=[*frames_a[:1], StackFrame(module="app.orders", function="pay", lineno=99)],
    )
    assert fingerprint(a) == fingerprint(c)
