"""The START_TEST and VERIFY_TEST actions: queue a ready server, follow its launch, verify, decide.

Neither action calls start_test: the batcher does, for many servers at once, within MGN's quotas.
Both actions read the server's queue item first and continue from where it is, so any trigger
(the first READY_FOR_TEST event, a Launch Result event, the reconciler) takes the same path, and
a duplicated or reordered one finds its transition already made (conditional writes) and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mgn_pipeline.jobs.health_gate import HealthStatus
from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.launch_verifier import verify_launched
from mgn_pipeline.jobs.mgn_jobs import MgnJobs, participant
from mgn_pipeline.jobs.probe import TcpProber
from mgn_pipeline.jobs.verification import (
    TEST_PHASES,
    Check,
    CheckState,
    Verdict,
    VerdictState,
)
from mgn_pipeline.launches.config import CleanupMode, TestLaunchConfig
from mgn_pipeline.launches.gate import CutoverGateStarter
from mgn_pipeline.launches.model import LaunchStatus, QueueItem
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.notifier import Notifier, server_line
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.trigger import Trigger


class TestLaunches:
    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        queue: LaunchQueue,
        jobs: MgnJobs,
        launch_configurations: RememberedLaunchConfigurations,
        instances: Callable[[], Ec2Instances],
        health: HealthStatus,
        prober: TcpProber,
        gate: CutoverGateStarter,
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        config: TestLaunchConfig,
        launch_blocked: Callable[[SourceServer], list[str]],
        in_scope: Callable[[SourceServer], bool],
        now: Callable[[], datetime],
    ) -> None:
        self._queue = queue
        self._jobs = jobs
        self._launch_configurations = launch_configurations
        self._instances = instances
        self._health = health
        self._prober = prober
        self._gate = gate
        self._audit = audit
        self._notifier = notifier
        self._config = config
        self._launch_blocked = launch_blocked
        self._in_scope = in_scope
        self._now = now

    # ================================================================== START_TEST
    def start(self, server: SourceServer, trigger: Trigger) -> str:
        """READY_FOR_TEST with CONTINUOUS replication: check preconditions, then queue for the batcher."""
        if not self._in_scope(server):
            return "out of scope: no test launch"
        item = self._queue.get(server.server_id)
        if item is not None and item.status in {LaunchStatus.LAUNCHING, LaunchStatus.VERIFYING}:
            # A failed launch puts the server back to READY_FOR_TEST: follow the job to learn why.
            return self._follow(server, item, trigger)
        if item is not None and item.status is LaunchStatus.FAILED:
            return f"test launch failed {item.attempt} times: needs a person ({'; '.join(item.reasons)})"
        failed = self._preconditions(server)
        if failed:
            return self._block(server, item, failed, trigger)
        if item is not None and item.status is LaunchStatus.QUEUED:
            return f"queued for a test launch (attempt {item.attempt}); the batcher launches it"
        # New, blocked until now, or passed before and put back to READY_FOR_TEST by a person.
        attempt = 1 if item is None else item.attempt + (item.status is LaunchStatus.PASSED)
        if not self._queue.enqueue(item, server.server_id, server.hostname, attempt, self._now()):
            return "already queued by a concurrent trigger"
        self._record(server, "test-launch-queued", trigger, "preconditions met", {"attempt": attempt})
        metrics.add_metric(name="TestLaunchesQueued", unit=MetricUnit.Count, value=1)
        return f"queued for a test launch (attempt {attempt})"

    def _preconditions(self, server: SourceServer) -> list[str]:
        failed: list[str] = []
        if server.replication is not ReplicationState.CONTINUOUS:
            failed.append(f"data replication is {server.replication.value}, not CONTINUOUS")
        if server.replication_error:
            failed.append(f"replication error {server.replication_error}")
        failed.extend(self._launch_blocked(server))
        green, why = self._health.latest_gate_status()
        if not green:
            failed.extend(why)
        return failed

    def _block(
        self, server: SourceServer, item: QueueItem | None, failed: list[str], trigger: Trigger
    ) -> str:
        for reason in failed:
            logger.warning(
                "test launch precondition failed", extra={"server_id": server.server_id, "reason": reason}
            )
        metrics.add_metric(name="TestLaunchPreconditionFailed", unit=MetricUnit.Count, value=1)
        # Written (and audited) only when the reasons change: a red gate seen by every reconcile
        # is one record, not one every five minutes.
        if self._queue.block(item, server.server_id, server.hostname, failed, self._now()):
            self._record(server, "test-launch-blocked", trigger, "; ".join(failed), {"preconditions": failed})
        return "test launch blocked: " + "; ".join(failed)

    # ================================================================== VERIFY_TEST
    def verify(self, server: SourceServer, trigger: Trigger) -> str:
        """TESTING: follow the launch job, verify the test instance, decide."""
        if not self._in_scope(server):
            return "out of scope: not verified"
        item = self._queue.get(server.server_id)
        mgn_job = server.last_test_job_id
        ours = item is not None and mgn_job in {item.job_id, item.last_job_id}
        if mgn_job and not ours and (item is None or item.status is not LaunchStatus.LAUNCHING):
            # A test the batcher did not start (a person's, or ours before a crash): verify it all the
            # same. A launch of ours still queued is dropped for it (conditional on QUEUED: a batcher
            # run that claims it first wins, and this adoption does nothing).
            if self._queue.adopt(item, server.server_id, server.hostname, mgn_job, self._now()):
                self._record(
                    server, "test-launch-adopted", trigger, "test launch found in MGN", {"jobId": mgn_job}
                )
            item = self._queue.get(server.server_id)
        if item is None:
            return "testing, but MGN names no test job yet"
        if item.status in {LaunchStatus.LAUNCHING, LaunchStatus.VERIFYING}:
            return self._follow(server, item, trigger)
        if item.status is LaunchStatus.PASSED:
            return self._complete_pass(server, item, trigger)
        if item.status in {LaunchStatus.QUEUED, LaunchStatus.FAILED} and ours:
            # The failure was recorded but the lifecycle not reverted (a crash in between): finish it.
            self._jobs.change_lifecycle(server.server_id, LifeCycleState.READY_FOR_TEST.value)
            return f"failed test (attempt {item.attempt if item.status is LaunchStatus.FAILED else item.attempt - 1}): reverted to READY_FOR_TEST"
        return f"testing; launch queue says {item.status.value}"

    # ================================================================== following a launch
    def _follow(self, server: SourceServer, item: QueueItem, trigger: Trigger) -> str:
        now = self._now()
        if item.job_id is None:
            if server.lifecycle is LifeCycleState.TESTING and server.last_test_job_id:
                # The batcher started the job but crashed before recording it.
                if self._queue.launched(item, item.claim_id or "", server.last_test_job_id, now):
                    item = replace(item, job_id=server.last_test_job_id)
                else:
                    return "launch being recorded by a concurrent trigger"
            elif (
                item.claimed_at
                and now - datetime.fromisoformat(item.claimed_at) > self._config.stale_claim_after
            ):
                self._queue.release(
                    item, "the batcher's claim expired before a job was recorded", now, now, refused=False
                )
                return "stale launch claim released: queued again"
            else:
                return "test launch being started by the batcher"
        job_id = item.job_id
        assert job_id is not None  # noqa: S101 - set above
        job = self._jobs.job(job_id)
        entry = participant(job, server.server_id)
        launch_status = str(entry.get("launchStatus", "UNKNOWN"))
        if item.status is LaunchStatus.LAUNCHING:
            if launch_status == "LAUNCHED":
                instance_id = str(entry.get("launchedEc2InstanceID") or server.launched_instance_id or "")
                if not self._queue.start_verifying(item, job_id, instance_id, now):
                    return "launch result already recorded"
                self._record(
                    server,
                    "test-launch-succeeded",
                    trigger,
                    "instance launched",
                    {"jobId": job_id, "instanceId": instance_id, "attempt": item.attempt},
                )
                item = replace(
                    item,
                    status=LaunchStatus.VERIFYING,
                    instance_id=instance_id,
                    verifying_since=now.isoformat(),
                )
            elif launch_status == "FAILED" or job is None or job.get("status") == "COMPLETED":
                reasons = self._jobs.failure_reasons(job_id, server.server_id) if job else []
                reasons = reasons or [
                    f"launch {launch_status.lower()} in job {job_id}"
                    if job
                    else f"job {job_id} not found in MGN"
                ]
                return self._fail(
                    server,
                    item,
                    reasons,
                    None,
                    has_instance=False,
                    trigger=trigger,
                    action="test-launch-failed",
                )
            else:
                return f"test launch in progress (job {job_id}: {launch_status})"
        return self._verify(server, item, entry, trigger)

    def _verify(
        self, server: SourceServer, item: QueueItem, participant: Mapping[str, Any], trigger: Trigger
    ) -> str:
        config = self._config
        facts = self._instances().facts(item.instance_id or "")
        # Since the launch was seen: the SSM agent's grace and the verify timeout both count from it.
        since = datetime.fromisoformat(item.verifying_since or self._now().isoformat())
        waited = self._now() - since
        result = verify_launched(
            config,
            TEST_PHASES,
            tags=server.tags,
            facts=facts,
            post_launch_actions=self._launch_configurations.post_launch_actions(server.server_id),
            participant=participant,
            prober=self._prober,
            since_launch=waited,
        )
        if result.state is VerdictState.PENDING:
            if waited <= config.verify_timeout:
                return "verification pending: " + "; ".join(result.reasons)
            timeout = Check(
                "verification time",
                CheckState.FAILED,
                f"not ready after {_minutes(waited)} minutes: " + "; ".join(result.reasons),
            )
            result = Verdict(VerdictState.FAIL, (*result.checks, timeout))
        if result.state is VerdictState.FAIL:
            return self._fail(
                server,
                item,
                result.reasons,
                result,
                has_instance=facts.state != "missing",
                trigger=trigger,
                action="test-verification-failed",
            )
        cleanup = config.cleanup is CleanupMode.TERMINATE
        now = self._now()
        if not self._queue.passed(item, result.as_dict(), cleanup, now):
            return "verification already recorded"
        self._record(
            server,
            "test-verification-passed",
            trigger,
            "every check passed",
            {
                "jobId": item.job_id,
                "instanceId": item.instance_id,
                "attempt": item.attempt,
                "verdict": result.as_dict(),
            },
        )
        metrics.add_metric(name="TestVerificationsPassed", unit=MetricUnit.Count, value=1)
        passed = replace(
            item, status=LaunchStatus.PASSED, verdict=result.as_dict(), verified_at=now.isoformat()
        )
        return self._complete_pass(server, passed, trigger)

    def _complete_pass(self, server: SourceServer, item: QueueItem, trigger: Trigger) -> str:
        job_id = item.job_id or ""
        observed = server
        if server.lifecycle is LifeCycleState.TESTING:
            observed = self._jobs.change_lifecycle(server.server_id, LifeCycleState.READY_FOR_CUTOVER.value)
            self._record(
                server,
                "marked-ready-for-cutover",
                trigger,
                "test passed",
                {"jobId": job_id, "cleanup": self._config.cleanup.value},
            )
        # Started after the lifecycle change: the gate reads READY_FOR_CUTOVER. Gates tolerate a repeat.
        self._gate.start(server.server_id, job_id, observed, item.verification())
        return f"test passed (job {job_id}): ready for cutover, test instance {'terminate queued' if self._config.cleanup is CleanupMode.TERMINATE else 'kept'}"

    def _fail(
        self,
        server: SourceServer,
        item: QueueItem,
        reasons: list[str],
        result: Verdict | None,
        *,
        has_instance: bool,
        trigger: Trigger,
        action: str,
    ) -> str:
        retry = item.attempt < self._config.max_attempts
        cleanup = has_instance and self._config.cleanup is CleanupMode.TERMINATE
        if not self._queue.failed(
            item, reasons, result.as_dict() if result else None, retry, cleanup, self._now()
        ):
            return "failure already recorded"
        details: dict[str, Any] = {
            "jobId": item.job_id,
            "instanceId": item.instance_id,
            "attempt": item.attempt,
            "reasons": reasons,
        }
        if result is not None:
            details["verdict"] = result.as_dict()
        self._record(server, action, trigger, "; ".join(reasons), details)
        if server.lifecycle is LifeCycleState.TESTING:
            # A failed test must not look under test, and MGN terminates test instances only outside TESTING.
            self._jobs.change_lifecycle(server.server_id, LifeCycleState.READY_FOR_TEST.value)
        limit = self._config.max_attempts
        if retry:
            outcome = f"test attempt {item.attempt} of {limit} failed; attempt {item.attempt + 1} queued"
        else:
            outcome = f"test attempt {item.attempt} of {limit} failed; needs a person"
        self._record(
            server,
            "test-outcome",
            trigger,
            outcome,
            {"jobId": item.job_id, "attempt": item.attempt, "retry": retry, "cleanup": cleanup},
        )
        if not retry:
            # A failed attempt the pipeline retries needs nobody (audit trail and status show it);
            # the last one does.
            self._tell_test_needs_person(server, item, reasons, cleanup, action, trigger)
        metrics.add_metric(
            name="TestLaunchAttemptsFailed" if retry else "TestLaunchesNeedingPerson",
            unit=MetricUnit.Count,
            value=1,
        )
        metrics.add_metric(  # with TestVerificationsPassed: the dashboard's test pass rate
            name="TestVerificationsFailed" if action == "test-verification-failed" else "TestLaunchesFailed",
            unit=MetricUnit.Count,
            value=1,
        )
        return outcome + ": " + "; ".join(reasons)

    def _tell_test_needs_person(
        self,
        server: SourceServer,
        item: QueueItem,
        reasons: list[str],
        cleanup: bool,
        action: str,
        trigger: Trigger,
    ) -> None:
        name = server.hostname or server.server_id
        limit = self._config.max_attempts
        wave = self._audit.wave_for(server.server_id)
        failed = "launch" if action == "test-launch-failed" else "verification"
        self._notifier().tell(
            "test-needs-person",
            f"Test launch of {name} needs a person: {limit} attempts failed",
            wave=wave,
            about=server_line(server.server_id, server.hostname, wave),
            happened=[
                f"Test attempt {item.attempt} of {limit} failed ({failed}, MGN job {item.job_id}); the",
                "pipeline makes no more attempts. The source server keeps replicating.",
                f"Test instance: {'terminated' if cleanup else 'none, or kept for inspection'}.",
            ],
            why=[*(f"- {r}" for r in reasons), f"Found through {trigger.label}."],
            what_to_do=[
                "Fix the cause (MGN > Launch history has the job's log; `mgn-migrate status --server",
                f"{server.server_id}` shows the fix for this failure), then launch a test instance of the",
                "server in the MGN console: the pipeline verifies it like its own and, if it passes, asks",
                "for the cutover approval.",
            ],
        )

    def _record(
        self, server: SourceServer, action: str, trigger: Trigger, reason: str, details: dict[str, Any]
    ) -> None:
        self._audit.append(
            AuditRecord(
                subject=server.server_id,
                action=action,
                trigger=trigger.label,
                actor=PIPELINE_ACTOR,
                reason=reason,
                details=details,
            ),
            self._now(),
        )


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
