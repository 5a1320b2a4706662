"""Time inside a function invocation, so that the emulators can model a request rate.

The local cloud runs a whole invocation at one instant of the simulated clock. For a request rate to
mean something, each call an invocation makes takes some of the invocation's own time (``spend``): the
k-th MGN call of an invocation that started at t happens at about t + k x the call's latency, and the
invocations that start at the same instant overlap, as concurrent Lambdas do. botocore's retry waits
(after a throttle) move that time on too, instead of sleeping. Calls made outside a function (a test,
the simulated person) are at the clock's now and take no time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_SPENT: ContextVar[list[float] | None] = ContextVar("localcloud_invocation_seconds", default=None)


@contextmanager
def invocation_time() -> Iterator[None]:
    """Around one invocation (``LocalFunctions.invoke``): its calls and retry waits add up from 0."""
    token = _SPENT.set([0.0])
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
