"""Counts every AWS API call made through botocore, by service and operation.

Installed like the emulators, at the front of ``botocore.handlers.BUILTIN_HANDLERS``, so every
client created afterwards (the handlers' module-level clients included) reports its calls. The
benchmarks read calls per server from it; the demo shows where calls go. EventBridge bills custom
events per entry, not per call, so the entries of each ``events:PutEvents`` are counted too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from localcloud.hooks import Hook, botocore_hooks

_EVENT = "before-call.*.*"
# Request parameters as the caller gave them (before serialization): the entries of a PutEvents.
_PUT_EVENTS = "before-parameter-build.events.PutEvents"

# Who is making the calls: the local functions set it around each invocation (function, and the
# gate task it runs), so the bench can say which part of the pipeline spends the calls.
_CALLER: ContextVar[str] = ContextVar("localcloud_caller", default="outside a function")


@contextmanager
def calls_made_by(caller: str) -> Iterator[None]:
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        # The same calls by caller: (caller, service, operation).
        self.by_caller: Counter[tuple[str, str, str]] = Counter()
        # Custom events put on any event bus (events:PutEvents entries), by source.
        self.put_events_entries: Counter[str] = Counter()
        self.paused = False

    def _count(self, model: Any, **_: Any) -> None:
        if not self.paused:
            service = model.service_model.service_name
            self.calls[(service, model.name)] += 1
            self.by_caller[(_CALLER.get(), service, model.name)] += 1

    def _count_entries(self, params: Any, **_: Any) -> None:
        if not self.paused and isinstance(params, dict):
            for entry in params.get("Entries") or []:
                self.put_events_entries[str((entry or {}).get("Source", "?"))] += 1

    @contextmanager
    def installed(self) -> Iterator[CallCounter]:
        hooks: list[Hook] = [(_EVENT, self._count), (_PUT_EVENTS, self._count_entries)]
        with botocore_hooks(hooks, name="localcloud-call-counter", first=True):
            yield self

    @contextmanager
    def not_counting(self) -> Iterator[None]:
        """Calls the test driver makes (a person's clicks, the demo's own reads) are not the pipeline's."""
        previous, self.paused = self.paused, True
        try:
            yield
        finally:
            self.paused = previous

    def by_service(self, service: str) -> Counter[str]:
        return Counter({op: n for (svc, op), n in self.calls.items() if svc == service})

    def total(self, service: str | None = None) -> int:
        return sum(n for (svc, _), n in self.calls.items() if service is None or svc == service)
