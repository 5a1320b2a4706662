"""The launch batcher: hands queued work to MGN in as few jobs as the quotas allow.

Runs on a short schedule (the batching window: servers queued between two runs share a job).
Its work: test launches and test cleanups (the launch queue), and approved cutovers (the cutover
queue on the gate table, ``cutover.launcher``), so one place spends MGN's job capacity. With
nothing due it makes one DynamoDB Query per queue and no MGN call. Otherwise it reads MGN's real
job state once (describe_jobs), plans (``model.plan_batches``: cleanups, cutovers, launches),
claims each server (conditional write), and makes one MGN call per planned job. What does not fit
stays queued for the next run; what MGN refuses is queued again with the reason and a back-off,
never dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from mgn_pipeline.jobs.mgn_jobs import CutoverStart, JobRequest, MgnJobs, refusal_backoff_seconds
from mgn_pipeline.launches.config import TestLaunchConfig
from mgn_pipeline.launches.errors import LaunchBatchIncompleteError
from mgn_pipeline.launches.model import (
    Capacity,
    LaunchStatus,
    PendingWork,
    QueueItem,
    plan_batches,
)
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.errors import PipelineError
from mgn_pipeline.shared.observability import logger, metrics

TRIGGER = "launch-batcher"
BATCH_TAG = "mgn-pipeline:batch"
# MGN would take a refused request again without the refused servers; a few rounds at most.
_MAX_ROUNDS = 3


class CutoverStarter(Protocol):
    """The approved cutovers the batcher starts with the test launches (``cutover.launcher``)."""

    def due(self, now: datetime) -> Sized:
        """Read the cutovers that may be offered now (remembered for ``plannable``)."""
        ...

    def plannable(
        self, recent_jobs: Iterable[Mapping[str, Any]], now: datetime
    ) -> tuple[list[str], dict[str, str]]:
        """Server ids to plan now, and why the others wait."""
        ...

    def start(self, server_ids: list[str], claim_id: str) -> CutoverStart:
        """One StartCutover for the batch."""
        ...


@dataclass
class BatchReport:
    due: int = 0
    capacity: dict[str, int] = field(default_factory=dict)
    launch_jobs: dict[str, int] = field(default_factory=dict)
    cleanup_jobs: dict[str, int] = field(default_factory=dict)
    cutover_jobs: dict[str, int] = field(default_factory=dict)
    cutovers_due: int = 0
    waiting: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "due": self.due,
            "capacity": dict(self.capacity),
            "launchJobs": dict(self.launch_jobs),
            "cleanupJobs": dict(self.cleanup_jobs),
            "cutoversDue": self.cutovers_due,
            "cutoverJobs": dict(self.cutover_jobs),
            "waiting": len(self.waiting),
            "refused": dict(self.refused),
            "failures": dict(self.failures),
        }


class LaunchBatcher:
    def __init__(
        self,
        queue: LaunchQueue,
        jobs: Callable[[], MgnJobs],
        audit: AuditTrail,
        config: TestLaunchConfig,
        now: Callable[[], datetime],
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        cutovers: CutoverStarter | None = None,
        read_ahead: Callable[[list[str]], None] = lambda server_ids: None,
    ) -> None:
        """``read_ahead``: reads together what the audit records of the planned servers look up
        (their waves), before the jobs start."""
        self._queue = queue
        self._jobs = jobs  # created only when there is work: an idle run makes no MGN client
        self._audit = audit
        self._config = config
        self._now = now
        self._new_id = new_id
        # None when the stack has no cutover gate.
        self._cutovers = cutovers
        self._read_ahead = read_ahead

    def run(self) -> BatchReport:
        report = BatchReport()
        now = self._now()
        due = self._queue.pending(now)
        report.due = len(due)
        cutovers_due = self._cutovers.due(now) if self._cutovers is not None else []
        report.cutovers_due = len(cutovers_due)
        if not due and not cutovers_due:
            return report
        recent = self._jobs().recent_jobs(now - self._config.job_lookback)
        capacity = Capacity.from_jobs(recent)
        cutovers: list[str] = []
        if self._cutovers is not None and cutovers_due:
            cutovers, claimed_elsewhere = self._cutovers.plannable(recent, now)
            report.waiting.update(claimed_elsewhere)
        report.capacity = {
            "activeJobs": capacity.active_jobs,
            "serversInActiveJobs": capacity.servers_in_active_jobs,
            "jobsFree": capacity.jobs_free,
            "serversFree": capacity.servers_free,
        }
        by_id = {item.server_id: item for item in due}
        plan = plan_batches(
            [i.server_id for i in due if i.pending is PendingWork.LAUNCH],
            [i.server_id for i in due if i.pending is PendingWork.CLEANUP],
            capacity,
            cutovers=cutovers,
        )
        report.waiting.update(plan.waiting)
        self._read_ahead(
            [
                sid
                for jobs in (plan.cleanup_jobs, plan.cutover_jobs, plan.launch_jobs)
                for job in jobs
                for sid in job
            ]
        )
        for batch in plan.cleanup_jobs:
            self._cleanup([by_id[sid] for sid in batch], report)
        for batch in plan.cutover_jobs:
            self._cutover(batch, report)
        for batch in plan.launch_jobs:
            self._launch([by_id[sid] for sid in batch], report)
        metrics.add_metric(name="TestLaunchJobsStarted", unit=MetricUnit.Count, value=len(report.launch_jobs))
        metrics.add_metric(
            name="TestLaunchServersLaunched", unit=MetricUnit.Count, value=sum(report.launch_jobs.values())
        )
        metrics.add_metric(
            name="TestLaunchesWaitingForCapacity", unit=MetricUnit.Count, value=len(report.waiting)
        )
        metrics.add_metric(name="TestLaunchesRefused", unit=MetricUnit.Count, value=len(report.refused))
        metrics.add_metric(name="CutoverJobsStarted", unit=MetricUnit.Count, value=len(report.cutover_jobs))
        metrics.add_metric(
            name="CutoverServersStarted", unit=MetricUnit.Count, value=sum(report.cutover_jobs.values())
        )
        logger.info("launch batch finished", extra=report.as_dict())
        if report.failures:
            raise LaunchBatchIncompleteError(
                f"{len(report.failures)} servers stay queued after an error: "
                + "; ".join(f"{sid}: {why}" for sid, why in sorted(report.failures.items()))
            )
        return report

    # ------------------------------------------------------------------ cutovers
    def _cutover(self, batch: list[str], report: BatchReport) -> None:
        assert self._cutovers is not None  # noqa: S101 - planned only when there is a launcher
        started = self._cutovers.start(batch, self._new_id())
        if started.job_id:
            report.cutover_jobs[started.job_id] = len(started.started)
        report.waiting.update(started.waiting)
        report.refused.update(started.refused)
        report.failures.update(started.failures)

    # ------------------------------------------------------------------ launches
    def _launch(self, batch: list[QueueItem], report: BatchReport) -> None:
        now = self._now()
        claim_id = self._new_id()
        claimed = {
            item.server_id: replace(item, status=LaunchStatus.LAUNCHING, claim_id=claim_id)
            for item in batch
            if self._queue.claim(item, claim_id, now)
        }
        for _ in range(_MAX_ROUNDS):
            if not claimed:
                return
            try:
                answer = self._jobs().start_test(list(claimed), {BATCH_TAG: claim_id})
            except PipelineError as exc:
                for item in claimed.values():
                    self._queue.release(item, f"start_test failed: {exc}", now, now, refused=False)
                    report.failures[item.server_id] = str(exc)
                return
            if answer.job_id:
                self._launched(claimed, answer.job_id, report)
                return
            if not self._refused(claimed, answer, report, now):
                return
        for item in claimed.values():
            self._queue.release(
                item, "MGN kept refusing the batch; offered again next run", now, now, refused=False
            )

    def _launched(self, claimed: dict[str, QueueItem], job_id: str, report: BatchReport) -> None:
        now = self._now()
        report.launch_jobs[job_id] = len(claimed)
        for item in claimed.values():
            self._queue.launched(item, item.claim_id or "", job_id, now)
            self._audit.append(
                AuditRecord(
                    subject=item.server_id,
                    action="test-launch-started",
                    trigger=TRIGGER,
                    actor=PIPELINE_ACTOR,
                    reason=f"attempt {item.attempt}, one of {len(claimed)} servers in the job",
                    details={"jobId": job_id, "attempt": item.attempt, "batchSize": len(claimed)},
                ),
                now,
            )

    def _refused(
        self, claimed: dict[str, QueueItem], answer: JobRequest, report: BatchReport, now: datetime
    ) -> bool:
        """Queue refused servers again with a back-off; True when the rest should be tried again."""
        if answer.quota is not None:
            # Someone else used the capacity between describe_jobs and start_test: next run.
            for item in claimed.values():
                self._queue.release(
                    item, f"waiting for MGN capacity: {answer.quota}", now, now, refused=False
                )
                report.waiting[item.server_id] = answer.quota
            return False
        for sid, why in answer.refused.items():
            if sid not in claimed:
                continue
            item = claimed.pop(sid)
            later = now + timedelta(seconds=refusal_backoff_seconds(item.refusals + 1))
            self._queue.release(item, f"MGN refused the test launch: {why}", later, now, refused=True)
            report.refused[sid] = why
            self._audit.append(
                AuditRecord(
                    subject=sid,
                    action="test-launch-refused",
                    trigger=TRIGGER,
                    actor=PIPELINE_ACTOR,
                    reason=why,
                    details={"attempt": item.attempt, "retryAfter": later.isoformat()},
                ),
                now,
            )
        return bool(answer.refused)

    # ------------------------------------------------------------------ cleanups
    def _cleanup(self, batch: list[QueueItem], report: BatchReport) -> None:
        now = self._now()
        items = {item.server_id: item for item in batch}
        for _ in range(_MAX_ROUNDS):
            if not items:
                return
            try:
                answer = self._jobs().terminate_target_instances(list(items), {BATCH_TAG: self._new_id()})
            except PipelineError as exc:
                for sid in items:
                    report.failures[sid] = str(exc)
                return
            if answer.job_id:
                report.cleanup_jobs[answer.job_id] = len(items)
                for item in items.values():
                    self._queue.cleanup_requested(item, answer.job_id, now)
                    self._audit.append(
                        AuditRecord(
                            subject=item.server_id,
                            action="test-instance-cleanup-started",
                            trigger=TRIGGER,
                            actor=PIPELINE_ACTOR,
                            reason="test finished; instance terminated as configured",
                            details={"jobId": answer.job_id, "attempt": item.attempt},
                        ),
                        now,
                    )
                return
            if answer.quota is not None:
                report.waiting.update(dict.fromkeys(items, answer.quota))
                return
            for sid, why in answer.refused.items():
                if sid not in items:
                    continue
                item = items.pop(sid)
                if "NO_LAUNCHED_INSTANCE" in why:
                    # Nothing left to terminate (MGN replaced or someone removed it): done.
                    self._queue.cleanup_requested(item, "none", now)
                    continue
                later = now + timedelta(seconds=refusal_backoff_seconds(item.refusals + 1))
                self._queue.defer(item, f"MGN refused the cleanup: {why}", later, now)
                report.refused[sid] = why
