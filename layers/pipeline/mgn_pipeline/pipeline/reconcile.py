"""The scheduled reconciler: the safety net for MGN events, which are delivered best effort.

It reads every non-archived source server and advances each one, exactly as an event would
have. A failure on one server does not stop the others; the run then fails as a whole, so the
scheduler's retry and the DLQ alarm make it visible. What it read also gives the dashboard's fleet
gauges (``fleet_metrics``): servers per step and lifecycle state, replication lag, approvals waiting.

A run stops advancing before its Lambda timeout (its MGN calls are paced, and a thousand servers
seen for the first time take longer than one run): the next run starts over and gets further,
because a server seen before costs no MGN call beyond its page. A run cut short does not ask for
wave approvals or publish the fleet gauges, which need every server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from mgn_pipeline.pipeline.advance import Pipeline
from mgn_pipeline.pipeline.fleet_metrics import FleetTally, WaitingApprovals, publish_fleet_metrics
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import PipelineError, ReconcileIncompleteError
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.replication_clock import DEFAULT_THRESHOLDS, ClockThresholds
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.trigger import RECONCILER, Trigger

# Stop advancing servers with this much of the run left: what follows (logging, metrics) takes
# seconds, and a run killed by its timeout reports nothing.
STOP_WITH_SECONDS_LEFT = 30.0


@dataclass
class ReconcileReport:
    account: list[str] = field(default_factory=list)
    servers_seen: int = 0
    records_written: int = 0
    steps: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    fleet: dict[str, object] = field(default_factory=dict)
    cut_short: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "cutShort": self.cut_short,
            "account": list(self.account),
            "serversSeen": self.servers_seen,
            "recordsWritten": self.records_written,
            "steps": dict(sorted(self.steps.items())),
            "failures": dict(self.failures),
            "fleet": dict(self.fleet),
        }


def reconcile(
    gateway: MgnGateway,
    pipeline: Pipeline,
    page_size: int = 200,
    trigger: Trigger = RECONCILER,
    approvals: WaitingApprovals | None = None,
    seconds_left: Callable[[], float] | None = None,
    replication_clock: ClockThresholds | None = None,
) -> ReconcileReport:
    """``approvals`` reads which cutover gates wait for a person (None: ``ApprovalsWaiting`` not
    emitted); ``seconds_left`` is the run's time before its timeout (None: no limit);
    ``replication_clock`` the thresholds the fleet's replication-clock gauges count (default 60/80)."""
    report = ReconcileReport()
    # Templates first: a server installed during this run then starts from private settings.
    report.account = pipeline.check_account(trigger)
    fleet = FleetTally(clock=replication_clock or DEFAULT_THRESHOLDS)
    seen: list[SourceServer] = []
    for page in gateway.active_server_pages(page_size=page_size):
        if _out_of_time(seconds_left, report):
            break
        pipeline.read_ahead([server.server_id for server in page])  # their records: a few batch reads
        for server in fleet.observe(page):
            if _out_of_time(seconds_left, report):
                break
            report.servers_seen += 1
            seen.append(server)
            try:
                advance = pipeline.advance(server, trigger)
            except PipelineError as exc:
                report.failures[server.server_id] = f"{type(exc).__name__}: {exc}"
                logger.error(
                    "could not advance server; the next reconcile tries again",
                    extra={
                        "server_id": server.server_id,
                        "error": str(exc),
                        "error_type": type(exc).__name__,
                    },
                )
                continue
            report.steps[advance.step.value] += 1
            report.records_written += int(advance.recorded)
    if report.cut_short:
        metrics.add_metric(name="ReconcileCutShort", unit=MetricUnit.Count, value=1)
    else:
        # After the pass, so account-wide decisions (asking a wave) see every server's fresh step.
        report.account += pipeline.finish_pass(trigger, seen)
        report.fleet = publish_fleet_metrics(fleet, approvals).as_dict()
    metrics.add_metric(name="ServersReconciled", unit=MetricUnit.Count, value=report.servers_seen)
    metrics.add_metric(name="ReconcileFailures", unit=MetricUnit.Count, value=len(report.failures))
    logger.info("reconcile finished", extra=report.as_dict())
    if report.failures:
        raise ReconcileIncompleteError(
            f"{len(report.failures)} of {report.servers_seen} servers could not be advanced: "
            + "; ".join(f"{sid}: {why}" for sid, why in sorted(report.failures.items()))
        )
    return report


def _out_of_time(seconds_left: Callable[[], float] | None, report: ReconcileReport) -> bool:
    if report.cut_short or seconds_left is None or seconds_left() >= STOP_WITH_SECONDS_LEFT:
        return report.cut_short
    report.cut_short = True
    logger.warning(
        "reconcile stopped before its timeout; the next run starts over and gets further",
        extra={"servers_advanced": report.servers_seen},
    )
    return True
