"""Function invocations whose process dies: after their first AWS write, before they finish.

A Lambda process can die at any instruction (out of memory, a timeout, the host): what it wrote stays
written, nothing after runs, no ``except Exception`` in the handler sees it. ``ContainerDied`` is a
BaseException raised from botocore's ``after-call`` hook of the invocation's first write, so the
write is in the emulators when it is raised. ``LocalFunctions.invoke`` reports it as Lambda reports a
dead runtime: the function errored with ``Lambda.Unknown`` (what Step Functions' Lambda task sees for
an out-of-memory or timed-out function), and Lambda's retries, the queue's redelivery or the state
machine's Retry take it from there.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from localcloud.hooks import botocore_hooks

_EVENT = "after-call.*.*"
_READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet")
_ARMED: ContextVar[list[str] | None] = ContextVar("localcloud_crash_armed", default=None)


class ContainerDied(BaseException):
    """The invocation's process died after its first AWS write."""


class FunctionCrashed(RuntimeError):
    """What the caller of a dead invocation sees: Lambda's error for a runtime that did not answer."""

    error_type = "Lambda.Unknown"


class InvocationCrashes:
    """Kills ``share`` of the invocations of ``functions`` (all when None), seeded."""

    def __init__(self, share: float, seed: int, functions: frozenset[str] | None = None) -> None:
        self.share = share
        self.functions = functions
        self._rng = random.Random(seed)
        self.died: Counter[str] = Counter()  # function -> invocations killed
        self.after_write: Counter[str] = Counter()  # "service.Operation" the kill followed

    def armed_for(self, function: str) -> bool:
        """Whether this invocation of ``function`` dies at its first write (drawn once per invocation)."""
        if self.functions is not None and function not in self.functions:
            return False
        return self._rng.random() < self.share

    @contextmanager
    def invocation(self, function: str) -> Iterator[None]:
        token = _ARMED.set([function] if self.armed_for(function) else [])
        try:
            yield
        finally:
            _ARMED.reset(token)

    @staticmethod
    def kill_current(function: str) -> None:
        """The running invocation dies at its next write's answer (a fault placed at one call)."""
        armed = _ARMED.get()
        if armed is not None and not armed:
            armed.append(function)

    def _after_call(self, event_name: str = "", parsed: Any = None, **_: Any) -> None:
        armed = _ARMED.get()
        if not armed or (isinstance(parsed, dict) and "Error" in parsed):
            return  # not armed, or the call failed: a write that did not happen is no first write
        _after, service, operation = [*event_name.split("."), "", ""][:3]
        if operation.startswith(_READS):
            return
        function = armed.pop()
        self.died[function] += 1
        self.after_write[f"{service}.{operation}"] += 1
        raise ContainerDied(f"{function} died after {service} {operation}")

    @contextmanager
    def installed(self) -> Iterator[InvocationCrashes]:
        with botocore_hooks([(_EVENT, self._after_call)], name="localcloud-crashes", first=True):
            yield self
