"""SimClock: deterministic simulated time with timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localcloud import SimClock


def test_default_start_is_utc_and_fixed() -> None:
    clock = SimClock()
    assert clock.now() == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert clock.now().tzinfo is not None


def test_advance_fires_due_timers_in_time_order_at_their_due_time() -> None:
    clock = SimClock()
    fired: list[tuple[str, datetime]] = []
    clock.call_later(30, lambda: fired.append(("b", clock.now())))
    clock.call_later(10, lambda: fired.append(("a", clock.now())))
    clock.call_later(30, lambda: fired.append(("c", clock.now())))  # same instant: registration order
    clock.call_later(100, lambda: fired.append(("late", clock.now())))
    clock.advance(60)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert fired == [
        ("a", start + timedelta(seconds=10)),
        ("b", start + timedelta(seconds=30)),
        ("c", start + timedelta(seconds=30)),
    ]
    assert clock.now() == start + timedelta(seconds=60)
    assert clock.pending() == 1


def test_callbacks_may_schedule_more_callbacks_inside_the_window() -> None:
    clock = SimClock()
    fired: list[float] = []
    t0 = clock.now()

    def tick() -> None:
        fired.append((clock.now() - t0).total_seconds())
        clock.call_later(10, tick)

    clock.call_later(10, tick)
    clock.advance(35)
    assert fired == [10, 20, 30]
    assert clock.next_due() == t0 + timedelta(seconds=40)


def test_call_at_in_the_past_fires_on_next_advance() -> None:
    clock = SimClock()
    fired = []
    clock.call_at(clock.now() - timedelta(hours=1), lambda: fired.append(clock.now()))
    clock.advance(0)
    assert fired == [clock.now()]


def test_run_until_idle_stops_at_last_timer_within_limit() -> None:
    clock = SimClock()
    t0 = clock.now()
    fired = []
    clock.call_later(100, lambda: fired.append(1))
    clock.call_later(250, lambda: fired.append(2))
    clock.call_later(10_000, lambda: fired.append(3))
    clock.run_until_idle(max_seconds=1000)
    assert fired == [1, 2]
    assert clock.now() == t0 + timedelta(seconds=250)


def test_rejects_naive_times_and_going_back() -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(naive)
    clock = SimClock()
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.call_at(naive, lambda: None)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
