"""Counts every AWS API call made through botocore, by service and operation.

Installed like the emulators, at the front of ``botocore.handlers.BUILTIN_HANDLERS``, so every
client created afterwards (the handlers' module-level clients included) reports its calls. The
benchmarks read calls per server from it; the demo shows where calls go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.handlers

_EVENT = "before-call.*.*"


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.paused = False

    def _count(self, model: Any, **_: Any) -> None:
        if not self.paused:
            self.calls[(model.service_model.service_name, model.name)] += 1

    @contextmanager
    def installed(self) -> Iterator[CallCounter]:
        entry = (_EVENT, self._count)
        botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
        # boto3's default session may predate the handler list entry (it copies the list when made).
        default = boto3.DEFAULT_SESSION
        if default is not None:
            default.events.register_first(_EVENT, self._count, unique_id="localcloud-call-counter")
        try:
            yield self
        finally:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
            if default is not None:
                default.events.unregister(_EVENT, self._count, unique_id="localcloud-call-counter")

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
