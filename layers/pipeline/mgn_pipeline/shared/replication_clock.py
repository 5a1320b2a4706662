"""The 90-day replication clock: where a server stands in MGN's free replication period. Pure.

MGN replicates each source server free for 90 days (2,160 replication hours, usage type
``Free_replication``); after that every hour is charged (``Paid_replication``) and the server
still holds a replication server in the staging area. A server left replicating in a wave that
slipped costs money, so the pipeline warns at ``warn_days`` (default 60) and again at
``urgent_days`` (default 80). It never acts on the server: cutting over, or stopping replication
and archiving a server that will not migrate soon, is a person's decision.

Only servers still replicating count: not archived, not cut over, disconnected or stopped, and
with a replication state whose agent still sends (a paused server keeps its staging disks and
its clock, so it counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer

FREE_REPLICATION_DAYS = 90
DEFAULT_WARN_DAYS = 60
DEFAULT_URGENT_DAYS = 80
_DAY = timedelta(days=1)

# Lifecycle states of a server no longer on the clock: cut over, or replication ended.
_OFF_THE_CLOCK = frozenset({LifeCycleState.CUTOVER, LifeCycleState.DISCONNECTED, LifeCycleState.STOPPED})
# Replication states with no replication behind them (UNKNOWN: it never replicated).
_NOT_REPLICATING = frozenset(
    {ReplicationState.STOPPED, ReplicationState.DISCONNECTED, ReplicationState.UNKNOWN}
)


class ClockLevel(StrEnum):
    OK = "OK"  # before the first threshold
    WARNING = "WARNING"  # past warn_days
    URGENT = "URGENT"  # past urgent_days (and past the free period, still URGENT)


@dataclass(frozen=True, slots=True)
class ClockThresholds:
    warn_days: int = DEFAULT_WARN_DAYS
    urgent_days: int = DEFAULT_URGENT_DAYS
    free_days: int = FREE_REPLICATION_DAYS

    def __post_init__(self) -> None:
        if not 0 < self.warn_days < self.urgent_days <= self.free_days:
            raise ValueError(
                f"replication clock thresholds must satisfy 0 < warn ({self.warn_days}) < urgent"
                f" ({self.urgent_days}) <= the free period ({self.free_days} days)"
            )


DEFAULT_THRESHOLDS = ClockThresholds()


@dataclass(frozen=True, slots=True)
class ClockReading:
    days_replicating: float
    days_left: float  # of the free period; negative once it is over
    free_period_ends: datetime
    level: ClockLevel
    # The highest threshold passed (warn_days or urgent_days), None before the first.
    threshold_days: int | None

    @property
    def past_warning(self) -> bool:
        return self.level is not ClockLevel.OK

    @property
    def past_urgent(self) -> bool:
        return self.level is ClockLevel.URGENT


def on_the_clock(server: SourceServer) -> bool:
    """Whether the server still replicates (and so spends its free period)."""
    return (
        not server.is_archived
        and not server.cutover_finalized
        and server.lifecycle not in _OFF_THE_CLOCK
        and server.replication not in _NOT_REPLICATING
    )


def read_clock(server: SourceServer, now: datetime, thresholds: ClockThresholds) -> ClockReading | None:
    """Where ``server`` stands at ``now``; None when it is not on the clock or never sent a byte."""
    if not on_the_clock(server):
        return None
    elapsed = server.replicated_for(now)
    if elapsed is None:
        return None
    days = elapsed / _DAY
    if days >= thresholds.urgent_days:
        level, threshold = ClockLevel.URGENT, thresholds.urgent_days
    elif days >= thresholds.warn_days:
        level, threshold = ClockLevel.WARNING, thresholds.warn_days
    else:
        level, threshold = ClockLevel.OK, None
    left = thresholds.free_days * _DAY - elapsed
    return ClockReading(
        days_replicating=days,
        days_left=left / _DAY,
        free_period_ends=now + left,
        level=level,
        threshold_days=threshold,
    )


def threshold_to_tell(reading: ClockReading | None, told_days: int) -> int | None:
    """The threshold a person should now be told of, given the highest one told (``told_days``, 0
    for none); None when there is nothing new. A server first seen past both is told once, of
    the higher."""
    if reading is None or reading.threshold_days is None or reading.threshold_days <= told_days:
        return None
    return reading.threshold_days
