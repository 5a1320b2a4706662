"""MGN's per-Region quotas on source servers that the emulator enforces, and their defaults.

Defaults are the AWS General Reference values for MGN. ``max_replicating_servers`` is adjustable
in a real account (a quota increase request); a run that models such an increase, e.g. a benchmark
of 1,000 servers, raises it and says so. The fixed job quotas (20 jobs, 200 servers in jobs) live
with the job checks in ``api.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Names the emulator gives its quotas in ServiceQuotaExceededException.quotaCode; they are not
# Service Quotas codes of the real service.
SOURCE_SERVERS_QUOTA_CODE = "L-MGN-SOURCE-SERVERS"
SERVERS_PER_APPLICATION_QUOTA_CODE = "L-MGN-SERVERS-PER-APPLICATION"


@dataclass(frozen=True)
class Quotas:
    """Per-Region limits. Frozen: change them with ``MgnEmulator.adjust_quotas``, which also starts
    servers that were waiting for a replication slot."""

    # Non-archived source servers; one more agent install is refused.
    max_source_servers: int = 4000
    # Servers replicating at once; the rest wait in INITIATING until a slot frees (adjustable).
    max_replicating_servers: int = 150
    # Source servers one application may hold (the MGN console's documented limit).
    max_servers_per_application: int = 200

    def __post_init__(self) -> None:
        for name in ("max_source_servers", "max_replicating_servers", "max_servers_per_application"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
