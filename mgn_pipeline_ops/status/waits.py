"""What a server waits for, derived from its step, its launch-queue item and its cutover gate. Pure."""

from __future__ import annotations

from typing import assert_never

from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.store import GateRecord
from mgn_pipeline.launches.model import LaunchStatus, PendingWork, QueueItem
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline_ops.status.model import Wait

_TEST_AGAIN = "mark it READY_FOR_TEST in MGN to test and ask again"
_TEST_STEPS = {PipelineStep.START_TEST, PipelineStep.VERIFY_TEST}
_GATE_STEPS = {
    PipelineStep.OPEN_CUTOVER_GATE,
    PipelineStep.VERIFY_CUTOVER,
    PipelineStep.FINALIZE_CUTOVER,
}


def waiting_for(
    server: SourceServer,
    step: PipelineStep | None,
    step_since: str | None,
    queue: QueueItem | None,
    gate: GateRecord | None,
) -> Wait | None:
    """None when the server waits for nothing (done, or left alone)."""
    if step is None:
        return Wait("the pipeline's first look (an MGN event or the next reconcile)", None)
    if step in {PipelineStep.NONE, PipelineStep.DONE}:
        return None
    if step is PipelineStep.ENFORCE_REPLICATION_SETTINGS:
        if server.lifecycle in {LifeCycleState.DISCOVERED, LifeCycleState.PENDING_INSTALLATION}:
            return Wait("the agent's installation to finish", step_since)
        return Wait(f"the initial replication (MGN: {server.replication.value})", step_since)
    if step is PipelineStep.WAIT_FOR_REPLICATION:
        return Wait(
            f"continuous replication (MGN: {server.replication.value}, lag {server.lag_duration or '?'})",
            step_since,
        )
    if step is PipelineStep.REPAIR_REPLICATION:
        cause = server.replication_error or server.replication.value
        return Wait(f"a person: replication {cause}; see the fix", step_since, on_person=True)
    if step in _TEST_STEPS:
        return _test_wait(queue, step_since)
    if step in _GATE_STEPS:
        return _gate_wait(gate, step_since)
    return Wait(step.value, step_since)  # pragma: no cover - every step is handled above


def _test_wait(item: QueueItem | None, step_since: str | None) -> Wait:
    if item is None:
        return Wait("the test-launch preconditions, checked at the next trigger", step_since)
    since = item.updated_at or step_since
    attempt = f"attempt {item.attempt}"
    reasons = "; ".join(item.reasons)
    match item.status:
        case LaunchStatus.BLOCKED:
            return Wait(f"test-launch preconditions: {reasons}", since)
        case LaunchStatus.QUEUED if item.pending is PendingWork.CLEANUP:
            return Wait(f"the last test instance's cleanup, then a test launch slot ({attempt})", since)
        case LaunchStatus.QUEUED:
            why = f": {reasons}" if reasons else ""
            return Wait(f"a test launch slot (launch queue, {attempt}){why}", since)
        case LaunchStatus.LAUNCHING:
            job = item.job_id or "being started by the batcher"
            return Wait(f"the test launch job {job} ({attempt})", since)
        case LaunchStatus.VERIFYING:
            return Wait(f"verification of test instance {item.instance_id} ({attempt})", since)
        case LaunchStatus.FAILED:
            return Wait(
                f"a person: the test launch failed {item.attempt} time(s): {reasons}; fix the cause, then "
                "launch a test instance in the MGN console",
                since,
                on_person=True,
            )
        case LaunchStatus.PASSED:
            return Wait("MGN to show READY_FOR_CUTOVER (test passed)", since)
    assert_never(item.status)


def _gate_wait(gate: GateRecord | None, step_since: str | None) -> Wait | None:
    if gate is None:
        return Wait("the cutover gate to open (a verified test opens it)", step_since)
    since = gate.updated_at or step_since
    reason = gate.reason or "no reason recorded"
    match gate.status:
        case GateStatus.OPENING:
            return Wait("the cutover gate's prechecks (network health, replication lag)", since)
        case GateStatus.WAITING_READY:
            return Wait(f"readiness before approval is asked: {reason}", since)
        case GateStatus.WAITING_APPROVAL if gate.automation_execution_id is None:
            # Approval per wave: parked until the reconciler asks once for the wave.
            return Wait(
                f"its wave's approval request (wave {gate.wave}, asked when the wave is at the gate)", since
            )
        case GateStatus.WAITING_APPROVAL:
            for_wave = f" for wave {gate.wave}" if gate.wave_request_id else ""
            return Wait(
                f"approval by a person (SSM Automation {gate.automation_execution_id}){for_wave}",
                since,
                on_person=True,
            )
        case GateStatus.APPROVED:
            return Wait("the cutover launch to start (approved)", since)
        case GateStatus.WAITING_REPLICATION:
            return Wait(f"readiness before the approved cutover: {reason}", since)
        case GateStatus.CUTTING_OVER:
            if gate.cutover_job_id is None:
                return Wait("the launch batcher to start the approved cutover within MGN's job quotas", since)
            return Wait(f"the cutover launch (job {gate.cutover_job_id})", since)
        case GateStatus.LAUNCHED:
            return Wait(f"verification of cutover instance {gate.instance_id}", since)
        case GateStatus.VERIFIED:
            return Wait("the cutover to be finalized", since)
        case GateStatus.FINALIZED:
            return Wait("archiving (after the configured delay)", since)
        case GateStatus.DONE:
            return None
        case GateStatus.REJECTED | GateStatus.TIMED_OUT | GateStatus.REFUSED:
            return Wait(
                f"a person: cutover not approved ({gate.status.value}: {reason}); " + _TEST_AGAIN,
                since,
                on_person=True,
            )
        case GateStatus.BLOCKED:
            return Wait(
                "a person: not ready before the gate's wait limit; fix replication or the network, then "
                + _TEST_AGAIN,
                since,
                on_person=True,
            )
        case GateStatus.ROLLED_BACK:
            return Wait(
                f"a person: cutover rolled back ({reason}); fix the cause, then " + _TEST_AGAIN,
                since,
                on_person=True,
            )
        case GateStatus.FAILED:
            return Wait(f"a person: the cutover gate failed ({reason})", since, on_person=True)
    assert_never(gate.status)
