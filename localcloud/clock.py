"""Simulated time shared by the emulators (MGN, event bus, scheduled rules).

Nothing here reads the wall clock: time only moves when a test calls ``advance`` or
``run_until_idle``, so the same test always sees the same timeline.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


class SimClock:
    """A deterministic clock with timers.

    Timers due at the same instant fire in the order they were registered (a sequence
    number breaks ties), which keeps runs reproducible.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._timers: list[tuple[datetime, int, Callable[[], object]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """The current simulated time (tz-aware UTC)."""
        return self._now

    def call_at(self, when: datetime, fn: Callable[[], object]) -> None:
        """Run ``fn()`` once simulated time reaches ``when`` (at once on the next advance if past)."""
        if when.tzinfo is None:
            raise ValueError("call_at needs a timezone-aware datetime")
        heapq.heappush(self._timers, (when.astimezone(UTC), next(self._seq), fn))

    def call_later(self, seconds: float, fn: Callable[[], object]) -> None:
        """Run ``fn()`` after ``seconds`` of simulated time."""
        self.call_at(self._now + timedelta(seconds=max(0.0, seconds)), fn)

    def pending(self) -> int:
        """How many timers are waiting."""
        return len(self._timers)

    def next_due(self) -> datetime | None:
        """When the earliest timer fires, or None."""
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in time order.

        Time is set to each timer's due time before it runs, so a callback sees the
        instant it was scheduled for; timers it adds inside the window fire too.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + timedelta(seconds=seconds)
        while self._timers and self._timers[0][0] <= target:
            when, _, fn = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            fn()
        self._now = target

    def run_until_idle(self, max_seconds: float) -> None:
        """Jump from timer to timer until none is due within ``max_seconds`` from now.

        Time stops at the last timer fired (not at ``max_seconds``), so callers can
        tell how long the work took.
        """
        limit = self._now + timedelta(seconds=max_seconds)
        while self._timers and self._timers[0][0] <= limit:
            due = self._timers[0][0]
            self.advance(max(0.0, (due - self._now).total_seconds()))
