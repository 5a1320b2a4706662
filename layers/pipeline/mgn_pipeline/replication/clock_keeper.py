"""Telling a person when a server's 90 free replication days run out: the reconciler's check after
its pass over every server.

From what the pass read (``lifeCycle.elapsedReplicationDuration`` in DescribeSourceServers: no
MGN call of its own), ``shared.replication_clock`` says which servers passed the warning (60
days) or the urgent threshold (80). Each threshold is told once per server and free period: the
servers table's record keeps the highest one told and the period's end (a server replicating again
from the start has a new period), claimed with a conditional write before the message goes out,
so reconciles, restarts and a second run at the same time tell nobody twice. A message that could
not be sent gives its claim back, and the next reconcile tries again. Nothing is done to the
server: cutting over, or stopping replication and archiving, is a person's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.notifier import Notifier, server_line
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.replication_clock import (
    ClockLevel,
    ClockReading,
    ClockThresholds,
    read_clock,
    threshold_to_tell,
)
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.trigger import Trigger

# MGN's elapsed replication moves with the clock it is read on: periods this close are one period.
_SAME_PERIOD = timedelta(days=1)


def _another_period(told_of: str | None, ends: datetime) -> bool:
    """Whether the period the record's thresholds were told of is not the one ending ``ends``
    (a record from before periods were kept counts as the same)."""
    if not told_of:
        return False
    try:
        return abs(datetime.fromisoformat(told_of) - ends) > _SAME_PERIOD
    except ValueError:
        return False


class ReplicationClockKeeper:
    def __init__(
        self,
        *,
        registry: ServerRegistry,
        thresholds: ClockThresholds,
        scope: Scope,
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        now: Callable[[], datetime],
    ) -> None:
        self._registry = registry
        self.thresholds = thresholds
        self._scope = scope
        self._audit = audit
        self._notifier = notifier
        self._now = now

    def keep(self, trigger: Trigger, servers: Sequence[SourceServer]) -> list[str]:
        """Tell each server that passed a threshold not told yet; ``servers``: every server the pass
        read (their records are in the registry already: no read beyond the claims)."""
        now = self._now()
        outcomes: list[str] = []
        for server in servers:
            if not self._scope.includes(server.tags):
                continue
            reading = read_clock(server, now, self.thresholds)
            record = self._registry.get(server.server_id)
            if record is None:  # not recorded by this pass (its write failed): the next pass tells
                continue
            if reading is None:
                continue
            period = reading.free_period_ends.isoformat()
            # Replicating again from the start (agent reinstalled, replication restarted): a new
            # free period, whose thresholds nobody was told of.
            restarted = _another_period(record.clock_period_ends, reading.free_period_ends)
            told = 0 if restarted else record.clock_told_days
            threshold = threshold_to_tell(reading, told)
            if threshold is None:
                continue
            replacing = record.clock_period_ends if restarted else None
            if not self._registry.claim_clock_notice(
                server.server_id, threshold, period, replacing=replacing
            ):
                continue  # told by another run
            try:
                self._tell(server, reading)
            except (ClientError, BotoCoreError) as exc:
                self._registry.release_clock_notice(
                    server.server_id, threshold, record.clock_told_days, record.clock_period_ends
                )
                logger.error(
                    "replication clock message not sent; the next reconcile tries again",
                    extra={"server_id": server.server_id, "threshold_days": threshold, "error": str(exc)},
                )
                continue
            self._audit.append(
                AuditRecord(
                    subject=server.server_id,
                    action="replication-clock-told",  # catalogued in mgn_pipeline_ops/status/fixes.py
                    trigger=trigger.label,
                    actor=PIPELINE_ACTOR,
                    reason=f"replicating for {int(reading.days_replicating)} days: past the"
                    f" {threshold}-day threshold of the {self.thresholds.free_days} free days",
                    details={
                        "thresholdDays": threshold,
                        "level": reading.level.value,
                        "daysReplicating": round(reading.days_replicating, 1),
                        "daysLeft": round(reading.days_left, 1),
                        "freePeriodEnds": reading.free_period_ends.isoformat(),
                    },
                ),
                now,
            )
            outcomes.append(f"{server.server_id}: told of {threshold} days replicating")
        return outcomes

    def _tell(self, server: SourceServer, reading: ClockReading) -> None:
        wave = self._registry.wave_of(server.server_id)
        days = int(reading.days_replicating)
        ends = f"{reading.free_period_ends:%Y-%m-%d %H:%M} UTC"
        if reading.days_left > 0:
            period = f"Its free replication period ends on {ends}, in {int(reading.days_left)} days."
        else:
            period = f"Its free replication period ended on {ends}."
        urgent = reading.level is ClockLevel.URGENT
        if reading.days_left <= 0:
            state = f"{days} days: its free period is over"
        elif urgent:
            state = f"{days} days: its free period is nearly over"
        else:
            state = f"{days} of its {self.thresholds.free_days} free days"
        self._notifier().tell(
            "replication-clock",
            f"{server.hostname or server.server_id} has replicated {state}",
            wave=wave,
            about=server_line(server.server_id, server.hostname, wave),
            happened=[
                f"The server has been replicating for {days} days ({server.lifecycle.value},"
                f" replication {server.replication.value}).",
                period,
            ],
            why=[
                f"MGN replicates each server free for {self.thresholds.free_days} days; after that"
                " every replication hour is charged, and the server keeps a replication server in"
                " the staging area.",
            ],
            what_to_do=[
                "Cut the server over if its wave is ready (test, then approve its cutover).",
                "If it will not migrate soon: stop replication (MGN console: Disconnect from service)"
                " and archive it; install the agent again when its wave comes.",
                "The pipeline does nothing to the server by itself."
                + ("" if urgent else f" It tells you once more at {self.thresholds.urgent_days} days."),
            ],
        )
