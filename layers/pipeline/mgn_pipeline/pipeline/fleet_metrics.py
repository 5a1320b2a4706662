"""The fleet's gauges for the dashboard, from what the pipeline already reads: no polling of its own.

At each reconcile the reconciler reads every active server once; :class:`FleetTally` counts those
reads as they pass and :func:`publish_fleet_metrics` emits, once per reconcile:

- ``ServersInStep`` (dimension ``Step``) and ``ServersInLifeCycle`` (dimension ``LifeCycle``): every
  value of :class:`PipelineStep` and :class:`LifeCycleState`, zeros included, so a stacked graph
  never has holes; the enums bound the dimensions (10 values each);
- ``ServersReplicating`` and, when one reports a lag, ``ReplicationLagMaxSeconds``,
  ``ReplicationLagP90Seconds`` and ``ReplicationLagMeanSeconds`` over the servers with work ahead
  whose ``lagDuration`` MGN reports (MGN reports one once the initial sync is done);
- ``ApprovalsWaiting``: servers READY_FOR_CUTOVER whose cutover gate waits for a person's
  approval (asked, or parked until its wave is asked). One BatchGetItem of those servers' gate
  items, only when a server is READY_FOR_CUTOVER; no read otherwise (then it is 0);
- ``ServersPastReplicationWarning`` and ``ServersPastReplicationUrgent``: servers still
  replicating past the warning (60) and the urgent (80) days of their 90 free days
  (``shared.replication_clock``; a server past 80 counts in both), zeros included, and
  ``ReplicationDaysMax``, the longest replicating, when any server is on the clock.

When a server's recorded step changes, :func:`emit_step_duration` emits ``StepDurationSeconds``
(dimension ``Step``: the step it leaves) with the time it spent there; the registry's conditional
write makes that once per change.

Metrics with a dimension go out at once, one EMF document each (``single_metric``): the shared
``metrics`` object has one set of dimensions per flush. The others join the invocation's flush. A
gauge never fails the pipeline: a failed read is logged and that gauge skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import BotoCoreError, ClientError

from mgn_pipeline.shared.aws.dynamodb import BatchReadIncomplete
from mgn_pipeline.shared.aws.server_registry import Observation
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.replication_clock import DEFAULT_THRESHOLDS, ClockThresholds, read_clock
from mgn_pipeline.shared.server import LifeCycleState, SourceServer, duration_seconds
from mgn_pipeline.shared.steps import PipelineStep, next_step

# Servers the pipeline is done with (archived servers are never read): their lag is nobody's concern.
_IDLE_STEPS = frozenset({PipelineStep.NONE, PipelineStep.DONE})


@dataclass(frozen=True, slots=True)
class LagSummary:
    servers: int
    max_seconds: float
    p90_seconds: float
    mean_seconds: float


@dataclass(frozen=True, slots=True)
class FleetGauges:
    servers_per_step: Mapping[str, int]
    servers_per_lifecycle: Mapping[str, int]
    servers_replicating: int
    lag: LagSummary | None
    approvals_waiting: int | None  # None: not counted (no gate table, or the read failed)
    clock: ClockGauges | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "serversPerStep": {k: v for k, v in self.servers_per_step.items() if v},
            "serversPerLifeCycle": {k: v for k, v in self.servers_per_lifecycle.items() if v},
            "serversReplicating": self.servers_replicating,
            "replicationLag": None
            if self.lag is None
            else {
                "maxSeconds": self.lag.max_seconds,
                "p90Seconds": self.lag.p90_seconds,
                "meanSeconds": round(self.lag.mean_seconds, 1),
            },
            "approvalsWaiting": self.approvals_waiting,
            "replicationClock": None if self.clock is None else self.clock.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class ClockGauges:
    """Servers past each threshold of the free replication period (days: the thresholds')."""

    warn_days: int
    urgent_days: int
    past_warning: int
    past_urgent: int
    max_days: float | None  # the longest replicating; None when no server is on the clock

    def as_dict(self) -> dict[str, Any]:
        return {
            "warnDays": self.warn_days,
            "urgentDays": self.urgent_days,
            "pastWarning": self.past_warning,
            "pastUrgent": self.past_urgent,
            "maxDays": None if self.max_days is None else round(self.max_days, 1),
        }


def summarize_lags(lags: Iterable[float]) -> LagSummary | None:
    """Max, 90th percentile (nearest rank) and mean; None for no lag at all. Pure."""
    values = sorted(lags)
    if not values:
        return None
    p90 = values[max(0, math.ceil(0.9 * len(values)) - 1)]
    return LagSummary(len(values), values[-1], p90, sum(values) / len(values))


@dataclass
class FleetTally:
    """What one reconcile read, server by server: counts only, no call of its own."""

    steps: Counter[PipelineStep] = field(default_factory=Counter)
    lifecycles: Counter[LifeCycleState] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    ready_for_cutover: set[str] = field(default_factory=set)
    # The replication clock: its thresholds, and the days each server on the clock has replicated.
    clock: ClockThresholds = DEFAULT_THRESHOLDS
    now: datetime = field(default_factory=utc_now)
    past_warning: int = 0
    past_urgent: int = 0
    replication_days: list[float] = field(default_factory=list)

    def observe(self, servers: Iterable[SourceServer]) -> Iterator[SourceServer]:
        """Pass ``servers`` through, counting each (wraps the reconciler's own read)."""
        for server in servers:
            self.add(server)
            yield server

    def add(self, server: SourceServer) -> None:
        step = next_step(server)
        self.steps[step] += 1
        self.lifecycles[server.lifecycle] += 1
        if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER:
            self.ready_for_cutover.add(server.server_id)
        lag = duration_seconds(server.lag_duration)
        if lag is not None and step not in _IDLE_STEPS:
            self.lags.append(lag)
        reading = read_clock(server, self.now, self.clock)
        if reading is not None:
            self.replication_days.append(reading.days_replicating)
            self.past_warning += reading.past_warning
            self.past_urgent += reading.past_urgent

    def gauges(self, approvals_waiting: int | None) -> FleetGauges:
        return FleetGauges(
            servers_per_step={step.value: self.steps[step] for step in PipelineStep},
            servers_per_lifecycle={state.value: self.lifecycles[state] for state in LifeCycleState},
            servers_replicating=len(self.lags),
            lag=summarize_lags(self.lags),
            approvals_waiting=approvals_waiting,
            clock=ClockGauges(
                warn_days=self.clock.warn_days,
                urgent_days=self.clock.urgent_days,
                past_warning=self.past_warning,
                past_urgent=self.past_urgent,
                max_days=max(self.replication_days, default=None),
            ),
        )


class WaitingApprovals(Protocol):
    def waiting(self, server_ids: Collection[str]) -> set[str]:
        """Those of ``server_ids`` whose cutover gate waits for a person's approval.

        May raise ``BatchReadIncomplete`` (throttled): the gauge is skipped this time."""
        ...


def approvals_waiting(tally: FleetTally, approvals: WaitingApprovals | None) -> int | None:
    """Servers READY_FOR_CUTOVER (as this reconcile read them) whose gate waits for approval.

    No read when none is READY_FOR_CUTOVER: no gate waits for approval then.
    """
    if approvals is None:
        return None
    if not tally.ready_for_cutover:
        return 0
    try:
        return len(approvals.waiting(tally.ready_for_cutover))
    except (ClientError, BotoCoreError, BatchReadIncomplete) as exc:
        logger.warning("approvals waiting not counted this time", extra={"error": str(exc)})
        return None


def publish_fleet_metrics(tally: FleetTally, approvals: WaitingApprovals | None = None) -> FleetGauges:
    """Emit this reconcile's fleet gauges; returns them (for the reconcile's report)."""
    gauges = tally.gauges(approvals_waiting(tally, approvals))
    emit_fleet_gauges(gauges)
    return gauges


def emit_fleet_gauges(gauges: FleetGauges) -> None:
    for step, count in gauges.servers_per_step.items():
        _dimensioned("ServersInStep", MetricUnit.Count, count, "Step", step)
    for state, count in gauges.servers_per_lifecycle.items():
        _dimensioned("ServersInLifeCycle", MetricUnit.Count, count, "LifeCycle", state)
    metrics.add_metric(name="ServersReplicating", unit=MetricUnit.Count, value=gauges.servers_replicating)
    if gauges.lag is not None:
        metrics.add_metric(
            name="ReplicationLagMaxSeconds", unit=MetricUnit.Seconds, value=gauges.lag.max_seconds
        )
        metrics.add_metric(
            name="ReplicationLagP90Seconds", unit=MetricUnit.Seconds, value=gauges.lag.p90_seconds
        )
        metrics.add_metric(
            name="ReplicationLagMeanSeconds", unit=MetricUnit.Seconds, value=gauges.lag.mean_seconds
        )
    if gauges.approvals_waiting is not None:
        metrics.add_metric(name="ApprovalsWaiting", unit=MetricUnit.Count, value=gauges.approvals_waiting)
    if gauges.clock is not None:
        clock = gauges.clock
        metrics.add_metric(
            name="ServersPastReplicationWarning", unit=MetricUnit.Count, value=clock.past_warning
        )
        metrics.add_metric(
            name="ServersPastReplicationUrgent", unit=MetricUnit.Count, value=clock.past_urgent
        )
        if clock.max_days is not None:
            metrics.add_metric(
                name="ReplicationDaysMax", unit=MetricUnit.Count, value=round(clock.max_days, 2)
            )


def step_left(
    observation: Observation, step: PipelineStep, now: datetime
) -> tuple[PipelineStep, float] | None:
    """The step a server just left and the seconds it spent there; None if its step did not change
    with this write (or the record's time is unreadable). Pure."""
    previous = observation.previous
    if not observation.written or previous is None or previous.step is step:
        return None
    try:
        since = datetime.fromisoformat(previous.step_since)
    except ValueError:
        return None
    return previous.step, max(0.0, (now - since).total_seconds())


def emit_step_duration(observation: Observation, step: PipelineStep, now: datetime) -> None:
    """``StepDurationSeconds`` (dimension Step: the step left) when this write changed the step."""
    left = step_left(observation, step, now)
    if left is not None:
        _dimensioned("StepDurationSeconds", MetricUnit.Seconds, left[1], "Step", left[0].value)


def _dimensioned(name: str, unit: MetricUnit, value: float, dimension: str, dimension_value: str) -> None:
    with single_metric(name=name, unit=unit, value=value) as metric:
        metric.add_dimension(name=dimension, value=dimension_value)
