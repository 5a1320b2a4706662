"""The cutover gate's Step Functions executions as moto runs them, and their ASL retries on simulated time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localcloud.cloud import ACCOUNT_ID, REGION, LocalCloud


class Executions:
    """The gate's executions as moto runs them (worker threads, real time), read without copies.

    ``settle`` waits until every running execution is parked on a task token nobody completed yet.
    It reads moto's objects directly: ``get_execution_history`` deep-copies the whole history on
    every call, which made a settle cost O(executions x history) in API calls.
    """

    def __init__(self, cloud: LocalCloud, retry_waits: RetryWaits) -> None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        self.retry_waits = retry_waits
        self._backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        self._arns = set(cloud.state_machines.values())
        self._seen: dict[str, int] = {}
        self._running: list[Any] = []

    def all(self) -> list[Any]:
        return [
            execution
            for machine in list(self._backend.state_machines)
            if machine.arn in self._arns
            for execution in list(machine.executions)
        ]

    def running(self) -> list[Any]:
        """Executions not finished yet; new ones are picked up from moto's lists, finished ones dropped."""
        for machine in list(self._backend.state_machines):
            if machine.arn in self._arns:
                seen = self._seen.get(machine.arn, 0)
                fresh = machine.executions[seen:]
                self._seen[machine.arn] = seen + len(fresh)
                self._running.extend(fresh)
        self._running = [
            execution
            for execution in self._running
            if getattr(execution.exec_status, "value", execution.exec_status) in (None, "RUNNING")
        ]
        return self._running

    @staticmethod
    def history(execution: Any) -> list[dict[str, Any]]:
        worker = execution.exec_worker
        env = worker.env if worker is not None else None
        return list(env.event_manager._history_event_list) if env is not None else []

    @staticmethod
    def _busy(execution: Any) -> bool:
        worker = execution.exec_worker
        env = worker.env if worker is not None else None
        if env is None:
            return True
        events = env.event_manager._history_event_list
        if not events:
            return True
        last = events[-1]
        if str(getattr(last["type"], "value", last["type"])) != "TaskSubmitted":
            return True
        if "waitForTaskToken" not in last.get("taskSubmittedEventDetails", {}).get("resource", ""):
            return True
        pool = env.callback_pool_manager._pool
        if not pool:
            return True
        # Parked unless its token was completed and the worker has not picked the outcome up yet.
        return next(reversed(pool.values())).get_outcome() is not None

    def settle(self, timeout_s: float = 600.0) -> None:
        """Until each running execution waits on a task token or on a retry's simulated wait."""
        deadline = time.monotonic() + timeout_s
        pause = 0.0005
        while sum(1 for execution in self.running() if self._busy(execution)) > self.retry_waits.waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Step Functions executions did not settle within {timeout_s} s")
            # Back off: each look holds the GIL the executions' threads need.
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def statuses(self) -> Counter[str]:
        return Counter(str(getattr(e.exec_status, "value", e.exec_status)) for e in self.all())

    def billable_transitions(self) -> tuple[int, int]:
        """(states entered, retries) over every execution: Step Functions bills both as transitions."""
        entered = retries = 0
        for execution in self.all():
            types = Counter(str(getattr(e["type"], "value", e["type"])) for e in self.history(execution))
            entered += sum(n for kind, n in types.items() if kind.endswith("StateEntered"))
            retries += max(0, types["TaskScheduled"] - types["TaskStateEntered"])
        return entered, retries


class RetryWaits:
    """ASL ``Retry`` waits on the simulated clock, not in real time.

    ``LocalCloud`` scales moto's retry sleeps to 1 % of real time, and its settle waits keep the
    clock still while executions run: a retry waiting for MGN to finish something (a job, a
    lifecycle change) would then never see it end, where in AWS it waits 15 s, 30 s, 60 s ... of
    real time. Here a retry waits until the clock has moved by its
    interval; ``Executions.settle`` counts a waiting retry as parked.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.waiting = 0
        self.waits = 0
        self._lock = threading.Lock()
        self._events: set[threading.Event] = set()
        self._closed = False

    def sleep(self, seconds: float) -> None:
        done = threading.Event()
        with self._lock:
            if self._closed:
                return
            self.waiting += 1
            self.waits += 1
            self._events.add(done)
        self.clock.call_later(seconds, done.set)
        done.wait()
        with self._lock:
            self.waiting -= 1
            self._events.discard(done)

    @contextmanager
    def installed(self) -> Iterator[RetryWaits]:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        previous = retrier_decl.time
        retrier_decl.time = self  # type: ignore[assignment]  # the module's only use of time is time.sleep(interval)
        try:
            yield self
        finally:
            retrier_decl.time = previous
            with self._lock:
                self._closed = True
                for event in self._events:
                    event.set()
