"""A container's share of an account-wide API rate: its calls to one service spaced evenly.

MGN's API rate is per account and shared by every function of the stack (and by the people in
the console). A shared counter would cost a DynamoDB call per MGN call, so each function gets a
fixed share instead: ``MGN_CALLS_PER_SECOND`` per container, times its reserved concurrency; the
shares add up to less than the account's rate (``tests/emulator/test_template.py`` holds the sum).
The pace is a botocore hook on the client: it waits before a call that would come sooner than
``1 / per_second`` after this container's previous one, including across invocations (a gate task
makes one MGN call, so only the container's memory spaces a burst of tasks).
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

# What the pace reads and waits on; the local cloud, many containers in one process, swaps in
# their simulated time.
clock: ModuleType = time


class CallPace:
    """At most ``per_second`` calls a second through the clients it is attached to; None: unpaced."""

    def __init__(self, per_second: float | None = None) -> None:
        self.per_second = per_second
        self._next_call_at = 0.0  # clock.monotonic() of the earliest next call

    def attach(self, client: Any) -> Any:
        """Pace every API call of ``client`` (a boto3 client); returns the client."""
        service = client.meta.service_model.service_name
        # Before the parameters are built: every handler of that event runs (none answers the call),
        # once per API call; botocore's own retries wait their backoff.
        client.meta.events.register(f"before-parameter-build.{service}", self.wait_turn)
        return client

    def wait_turn(self, **_: Any) -> None:
        """Block until this container may call again (the botocore hook: keyword arguments only)."""
        if not self.per_second:
            return
        now = clock.monotonic()
        if now < self._next_call_at:
            clock.sleep(self._next_call_at - now)
            now = self._next_call_at
        self._next_call_at = now + 1.0 / self.per_second
