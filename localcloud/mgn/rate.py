"""MGN's API request rate, as the emulator models it: a per-account limit on simulated seconds.

MGN does not publish its API rate limits; the default (10 requests a second for the whole account)
is a conservative model. Only calls the pipeline's functions make are limited and counted: each is
placed at its invocation's own time (``localcloud.pacing``) and takes ``call_seconds`` of it. A call
over the limit in its second is answered with ThrottlingException; botocore retries it after a wait,
which moves that invocation's time on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from localcloud.mgn.errors import ThrottlingError
from localcloud.pacing import spend, spent

DEFAULT_REQUESTS_PER_SECOND = 10
# A call through an interface VPC endpoint in the same Region: tens of milliseconds to MGN and back.
DEFAULT_CALL_SECONDS = 0.1


@dataclass
class RequestRate:
    per_second: int | None = DEFAULT_REQUESTS_PER_SECOND  # None: no limit, only counted
    call_seconds: float = DEFAULT_CALL_SECONDS
    admitted: Counter[int] = field(default_factory=Counter)  # epoch second -> calls answered
    by_operation: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    throttled: Counter[str] = field(default_factory=Counter)

    def admit(self, operation: str, now: datetime) -> None:
        """Count the call in its second, or raise ThrottlingError when that second is full."""
        elapsed = spent()
        if elapsed is None:
            return  # not the pipeline's call
        spend(self.call_seconds)
        second = int(now.timestamp() + elapsed)
        if self.per_second is not None and self.admitted[second] >= self.per_second:
            self.throttled[operation] += 1
            raise ThrottlingError(f"Rate exceeded for {operation}", 1)
        self.admitted[second] += 1
        self.by_operation[operation][second] += 1

    def peak(self) -> int:
        """The most calls answered in one simulated second."""
        return max(self.admitted.values(), default=0)

    def peak_by_operation(self) -> dict[str, int]:
        return {op: max(seconds.values()) for op, seconds in sorted(self.by_operation.items())}
