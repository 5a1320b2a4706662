"""Time inside a function invocation, so that the emulators can model a request rate.

The local cloud runs a whole invocation at one instant of the simulated clock. For a request rate to
mean something, each call an invocation makes takes some of the invocation's own time (``spend``): the
k-th MGN call of an invocation that started at t happens at about t + k x the call's latency, and the
invocations that start at the same instant overlap, as concurrent Lambdas do. botocore's retry waits
(after a throttle) move that time on too, instead of sleeping. Calls made outside a function (a test,
the simulated person) are at the clock's now and take no time.

An invocation that waited for a free container (``LocalFunctions``: reserved concurrency) starts
with that wait already spent, and the pipeline's own pace (``mgn_pipeline.shared.aws.pace``) reads
and spends the same time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

_SPENT: ContextVar[list[float] | None] = ContextVar("localcloud_invocation_seconds", default=None)


@contextmanager
def invocation_time(start: float = 0.0) -> Iterator[None]:
    """Around one invocation (``LocalFunctions.invoke``): its calls and retry waits add up from
    ``start``, the seconds it waited for a container."""
    token = _SPENT.set([start])
    try:
        yield
    finally:
        _SPENT.reset(token)


def spent() -> float | None:
    """Seconds the current invocation has spent so far; None outside a function."""
    box = _SPENT.get()
    return None if box is None else box[0]


def spend(seconds: float) -> bool:
    """Add ``seconds`` to the current invocation's time; False outside a function."""
    box = _SPENT.get()
    if box is None:
        return False
    box[0] += seconds
    return True


class _InvocationSleep:
    """``time`` as botocore's endpoint sees it: its retry sleep spends invocation time when there is
    an invocation, and really sleeps otherwise."""

    @staticmethod
    def sleep(seconds: float) -> None:
        if not spend(seconds):
            time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def retry_waits_in_invocation_time() -> Iterator[None]:
    import botocore.endpoint

    previous = botocore.endpoint.time
    botocore.endpoint.time = _InvocationSleep()  # its one use of the module: time.sleep
    try:
        yield
    finally:
        botocore.endpoint.time = previous


class _PaceTime:
    """``time`` as the pipeline's pace sees it: the simulated clock plus the invocation's own time;
    a wait spends invocation time (outside a function nothing is paced, so nothing waits)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def monotonic(self) -> float:
        return self._now().timestamp() + (spent() or 0.0)

    @staticmethod
    def sleep(seconds: float) -> None:
        spend(seconds)


@contextmanager
def pace_in_invocation_time(now: Callable[[], datetime]) -> Iterator[None]:
    import mgn_pipeline.shared.aws.pace as pace

    previous = pace.clock
    pace.clock = _PaceTime(now)  # type: ignore[assignment]  # its two uses: monotonic and sleep
    try:
        yield
    finally:
        pace.clock = previous
