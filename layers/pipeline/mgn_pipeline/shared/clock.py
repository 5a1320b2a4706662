"""The pipeline's one source of the current time.

Everything that records or compares times calls :func:`utc_now`. The local cloud and the tests run
the pipeline on simulated time with :func:`use_clock`; in Lambda it is the system clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC)


_now: Callable[[], datetime] = _system_now


def utc_now() -> datetime:
    return _now()


@contextmanager
def use_clock(now: Callable[[], datetime]) -> Iterator[None]:
    """Run the block on another clock (simulated time); the system clock again afterwards."""
    global _now
    previous, _now = _now, now
    try:
        yield
    finally:
        _now = previous
