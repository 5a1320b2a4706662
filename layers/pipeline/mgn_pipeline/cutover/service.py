"""The cutover gate: its parts, and ``follow``, the one entry for events and the reconciler.

Every entry point reads the gate record and continues from where it is, with conditional
transitions (``store``), so a duplicated event, a lost one caught later by the reconciler, and a
retried task all make each step once. The work is done by one part per stage, which the state
machine's tasks (``tasks``) and the approval bridge call directly: ``readiness`` (open, wait until
ready), ``approval`` (ask, apply the decision), ``launching`` (queue the cutover, follow its job) and
``completion`` (verify, finalize, archive, roll back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mgn_pipeline.cutover.approval import GateApproval
from mgn_pipeline.cutover.completion import GateCompletion
from mgn_pipeline.cutover.launching import GateLaunch
from mgn_pipeline.cutover.model import CLOSED, GateStatus
from mgn_pipeline.cutover.readiness import GateReadiness
from mgn_pipeline.cutover.store import GateStore
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.cutover.waves import WaveApprovals
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.trigger import Trigger


class CutoverGate:
    def __init__(
        self,
        *,
        steps: GateTransitions,
        readiness: GateReadiness,
        approval: GateApproval,
        launch: GateLaunch,
        completion: GateCompletion,
    ) -> None:
        self._steps = steps
        self._store: GateStore = steps.store
        self.readiness = readiness
        self.approval = approval
        self.launch = launch
        self.completion = completion

    @property
    def waves(self) -> WaveApprovals | None:
        return self.approval.waves

    def start(
        self,
        server_id: str,
        test_job_id: str | None,
        observed: SourceServer | None = None,
        verified_test: Mapping[str, Any] | None = None,
    ) -> None:
        """``CutoverGateStarter``: open the gate after a verified test; a repeat does nothing."""
        self.readiness.open(
            server_id, test_job_id, reopen=False, observed=observed, verified_test=verified_test
        )

    # ------------------------------------------------------------------ follow (events, reconciler)
    def follow(self, server: SourceServer, trigger: Trigger) -> str:
        """READY_FOR_CUTOVER / CUTTING_OVER: resolve what the execution waits on, or open the gate."""
        record = self._store.get(server.server_id)
        if record is None:
            if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER and server.last_test_job_id:
                return self.readiness.open(server.server_id, server.last_test_job_id, reopen=False)
            return "no cutover gate"
        if record.outbox is not None:
            self._steps.deliver(record)
            return f"delivered the pending result of {record.status.value}"
        if self.readiness.is_waiting(record):
            return self.readiness.follow_waiting(record, server)
        if record.status is GateStatus.WAITING_APPROVAL and record.automation_execution_id:
            # The safety net for a lost SSM event: one GetAutomationExecution per reconcile per
            # waiting approval (the servers of one wave request share it).
            return self.approval.bridge_automation(record.automation_execution_id, trigger=trigger.label)
        if record.status is GateStatus.WAITING_APPROVAL and record.wave:
            return f"waiting to be asked for with wave {record.wave}"
        if record.status is GateStatus.CUTTING_OVER and record.cutover_job_id and record.task_token:
            return self.launch.follow_launch(record, server)
        if record.status in CLOSED:
            if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER and server.last_test_job_id not in (
                None,
                record.test_job_id,
            ):
                return self.readiness.open(server.server_id, server.last_test_job_id, reopen=False)
            return f"cutover gate closed: {record.status.value}"
        if record.status is GateStatus.OPENING and record.execution_arn is None:
            return self.readiness.start_execution(record)
        return f"cutover gate at {record.status.value}"
