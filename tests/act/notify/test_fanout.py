"""The fan-out memory: which targets a retry skips, and how much it keeps."""

from __future__ import annotations

import pytest

from liberation_guardian.act.notify._fanout import Reached, Target, fan_out
from liberation_guardian.errors import DeliveryFailed

A, B = Target("a", "A"), Target("b", "B")


def test_memory_keeps_only_the_most_recent_keys() -> None:
    reached = Reached(capacity=2)
    for key in ("k1", "k2", "k3"):
        reached.add(key, A)
    reached.add("k2", B)  # touching k2 makes k3 the oldest

    reached.add("k4", A)

    assert reached.pending("k1", [A, B]) == [A, B]  # forgotten first: a retry would reach A again
    assert reached.pending("k3", [A, B]) == [A, B]
    assert reached.pending("k2", [A, B]) == []
    assert reached.pending("k4", [A, B]) == [B]


def test_a_settled_delivery_is_forgotten() -> None:
    reached = Reached()
    sent: list[str] = []
    fan_out("test", "k", [A, B], lambda target: sent.append(target.key), reached)

    assert sent == ["a", "b"]
    assert reached.count("k") == 0


def test_the_longest_wait_asked_for_is_kept() -> None:
    waits = {"a": 2.0, "b": 9.0}

    def busy(target: Target) -> None:
        raise DeliveryFailed("busy", retryable=True, retry_after=waits[target.key])

    with pytest.raises(DeliveryFailed) as failed:
        fan_out("test", "k", [A, B], busy, Reached())

    assert failed.value.retry_after == 9.0
    assert failed.value.reason == "test: 2 of 2 not reached: A: busy; B: busy"
