"""After the cutover instance is launched: verify it, finalize and archive, or roll back.

Verification is the test launches' verifier (``jobs.verification``) with the cutover's phases. A
failed launch or verification terminates the failed instance and leaves the server
READY_FOR_CUTOVER: the source keeps running and replicating.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from mgn_pipeline.cutover.config import GATE_TAG, CutoverConfig
from mgn_pipeline.cutover.errors import CutoverVerificationFailed, CutoverVerificationPending, GateStateError
from mgn_pipeline.cutover.model import CLOSED, GateStatus, error_cause, token_ref
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.queue import CutoverQueue
from mgn_pipeline.cutover.store import GateRecord
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.launch_verifier import verify_launched
from mgn_pipeline.jobs.mgn_jobs import MgnJobs, participant
from mgn_pipeline.jobs.probe import TcpProber
from mgn_pipeline.jobs.verification import (
    CUTOVER_PHASES,
    VerdictState,
    post_launch_facts,
)
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import MgnConflictError
from mgn_pipeline.shared.server import LifeCycleState, SourceServer


class GateCompletion:
    def __init__(
        self,
        *,
        steps: GateTransitions,
        queue: CutoverQueue,
        gateway: MgnGateway,
        jobs: MgnJobs,
        launch_configurations: RememberedLaunchConfigurations,
        instances: Callable[[], Ec2Instances],
        prober: TcpProber,
        notices: GateNotices,
        config: CutoverConfig,
        finalized: Callable[[SourceServer], None] | None = None,
    ) -> None:
        """``finalized`` is told the server FinalizeCutover returned (the servers table records it)."""
        self._steps = steps
        self._store = steps.store
        self._queue = queue
        self._gateway = gateway
        self._jobs = jobs
        self._launch_configurations = launch_configurations
        self._instances = instances
        self._prober = prober
        self._notices = notices
        self._config = config
        self._finalized = finalized

    def verify(self, server_id: str, attempt: int) -> dict[str, Any]:
        record = self._steps.expect(server_id, attempt, {GateStatus.LAUNCHED, GateStatus.VERIFIED})
        if record.status is GateStatus.VERIFIED:
            return {"verified": True}
        actions = self._launch_configurations.post_launch_actions(server_id)
        result = verify_launched(
            self._config,
            CUTOVER_PHASES,
            tags=record.tags_at_launch
            if record.tags_at_launch is not None
            else self._gateway.get_server(server_id).tags,
            facts=self._instances().facts(record.instance_id or ""),
            post_launch_actions=actions,
            participant=self._participant(record, actions),
            prober=self._prober,
            since_launch=self._since_launch(record),
        )
        details = {"attempt": attempt, "instanceId": record.instance_id, "verdict": result.as_dict()}
        if result.state is VerdictState.PENDING:
            raise CutoverVerificationPending("; ".join(result.reasons))
        if result.state is VerdictState.FAIL:
            why = "; ".join(result.reasons)
            self._steps.move(record, GateStatus.LAUNCHED, set_fields={"reason": why})
            self._notices.record(server_id, "cutover-verification-failed", why, details)
            raise CutoverVerificationFailed(why)
        self._steps.move(record, GateStatus.VERIFIED)
        self._notices.record(server_id, "cutover-verification-passed", "every check passed", details)
        return {"verified": True, "instanceId": record.instance_id}

    def _since_launch(self, record: GateRecord) -> timedelta | None:
        """How long ago the cutover launch was seen (None: a gate launched before this was recorded)."""
        try:
            return (
                self._steps.now() - datetime.fromisoformat(record.launched_at) if record.launched_at else None
            )
        except ValueError:
            return None

    def _participant(self, record: GateRecord, post_launch_actions: Mapping[str, Any]) -> dict[str, Any]:
        """The server's entry in its cutover job: as the launch left it when no post-launch action
        runs on this launch (nothing in it changes after LAUNCHED), else read now (their status)."""
        pending = post_launch_facts(post_launch_actions, {}, CUTOVER_PHASES).applies_to_test
        if record.launch_participant is not None and not pending:
            return dict(record.launch_participant)
        job = self._jobs.job(record.cutover_job_id) if record.cutover_job_id else None
        return participant(job, record.server_id)

    def finalize(self, server_id: str, attempt: int) -> dict[str, Any]:
        record = self._steps.expect(
            server_id, attempt, {GateStatus.VERIFIED, GateStatus.FINALIZED, GateStatus.DONE}
        )
        if record.status is not GateStatus.VERIFIED:
            return {"finalized": True}
        try:
            server = self._jobs.finalize_cutover(server_id)
        except MgnConflictError:
            # A retry after a FinalizeCutover that went through: MGN refuses a second one.
            server = self._gateway.get_server(server_id)
            if not server.cutover_finalized:
                raise
        if self._finalized is not None:
            self._finalized(server)
        archive = self._config.archive_after_seconds is not None
        self._steps.move(record, GateStatus.FINALIZED if archive else GateStatus.DONE)
        self._notices.record(
            server_id,
            "cutover-finalized",
            "verified cutover instance; replication stopped, source can be retired",
            {"attempt": attempt, "instanceId": record.instance_id, "jobId": record.cutover_job_id},
        )
        decision = dict(record.decision or {})
        self._notices.tell(
            server_id,
            "cutover-done",
            "Cutover done: {host}",
            hostname=server.hostname,
            happened=[
                f"Cutover instance {record.instance_id} verified and the cutover finalized"
                f" (job {record.cutover_job_id}).",
                f"Approved by {decision.get('approver')} at {decision.get('time')}.",
            ],
            what_to_do=[
                "Replication has stopped: retire the source server on premises when your runbook says so.",
                (
                    f"MGN archives the source server record {self._config.archive_after_seconds} s from now."
                    if archive
                    else "Archive the source server record in MGN when you no longer need it."
                ),
            ],
        )
        return {"finalized": True}

    def archive(self, server_id: str, attempt: int) -> dict[str, Any]:
        record = self._steps.expect(server_id, attempt, {GateStatus.FINALIZED, GateStatus.DONE})
        if record.status is GateStatus.FINALIZED:
            self._jobs.mark_as_archived(server_id)
            self._steps.move(record, GateStatus.DONE)
            self._notices.record(
                server_id,
                "source-server-archived",
                "archived after the configured delay",
                {"attempt": attempt},
            )
        return {"archived": True}

    def rollback(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        """Launch failed or verification failed: terminate the failed instance, READY_FOR_CUTOVER again."""
        record = self._steps.expect(
            server_id, attempt, {GateStatus.CUTTING_OVER, GateStatus.LAUNCHED, GateStatus.ROLLED_BACK}
        )
        if record.status is GateStatus.ROLLED_BACK:
            return {"rolledBack": True}
        reason = error_cause(error) or record.reason or str(error.get("Error") or "cutover failed")
        # Still queued (the launch timed out waiting for MGN capacity): leave the queue first, unless
        # a batcher run holds it and its StartCutover may be under way (then Rollback is retried).
        still_queued = record.status is GateStatus.CUTTING_OVER and record.cutover_job_id is None
        if still_queued and not self._queue.withdraw(server_id, attempt, self._steps.now()):
            raise MgnConflictError(f"{server_id}: the launch batcher is starting this cutover now")
        terminated = self._terminate_failed_instance(record)
        self._steps.move(record, GateStatus.ROLLED_BACK, remove=["taskToken"], set_fields={"reason": reason})
        self._notices.record(
            server_id,
            "cutover-rolled-back",
            reason,
            {
                "attempt": attempt,
                "jobId": record.cutover_job_id,
                "instanceId": record.instance_id,
                "terminated": terminated,
                "error": error.get("Error"),
            },
        )
        self._notices.tell(
            server_id,
            "cutover-rolled-back",
            "Cutover of {host} rolled back",
            happened=[
                f"Failed instance: {terminated + ' terminated' if terminated else 'none launched'}"
                f" (job {record.cutover_job_id}).",
                "The source server keeps running and replicating; the server is READY_FOR_CUTOVER again.",
            ],
            why=[reason],
            what_to_do=[
                "Fix the cause, then test the server again (MGN: mark it READY_FOR_TEST): a new verified"
                " test opens a new gate.",
            ],
        )
        return {"rolledBack": True, "reason": reason, "terminated": terminated}

    def _terminate_failed_instance(self, record: GateRecord) -> str | None:
        """The instance this attempt launched, terminated; None if there was none to terminate."""
        server_id = record.server_id
        server = self._gateway.get_server(server_id)
        if server.lifecycle is LifeCycleState.CUTTING_OVER:
            # MGN refuses to terminate instances in CUTTING_OVER: revert the lifecycle first.
            self._jobs.change_lifecycle(server_id, LifeCycleState.READY_FOR_CUTOVER.value)
            server = self._gateway.get_server(server_id)
        instance = record.instance_id
        if not instance or server.launched_instance_id != instance:
            return None
        answer = self._jobs.terminate_target_instances(
            [server_id], {GATE_TAG: token_ref(server_id, record.attempt)}
        )
        refused = answer.refused.get(server_id, "")
        if answer.job_id:
            return instance
        if answer.quota or (refused and "NO_LAUNCHED_INSTANCE" not in refused):
            raise MgnConflictError(f"TerminateTargetInstances refused: {answer.quota or refused}")
        return None

    def record_failure(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        reason = f"{error.get('Error')}: {error_cause(error) or 'no cause given'}"
        record = self._store.get(server_id)
        if record is None or record.attempt != attempt:
            # No gate of this attempt to fail: a stray call tells nobody. (A real one fails its
            # execution with this error: the dashboard's failed executions and alarm show it.)
            found = "no gate" if record is None else f"gate attempt {record.attempt}"
            raise GateStateError(
                f"{server_id}: failure of gate attempt {attempt} not recorded, found {found}"
            )
        if record.status not in CLOSED:
            self._steps.move(record, GateStatus.FAILED, remove=["taskToken"], set_fields={"reason": reason})
        self._notices.record(server_id, "cutover-gate-failed", reason, {"attempt": attempt})
        self._notices.tell(
            server_id,
            "cutover-needs-person",
            "Cutover gate of {host} needs a person",
            happened=[
                f"Gate attempt {attempt} stopped on an unexpected error; nothing more is done to the server."
            ],
            why=[reason],
            what_to_do=[
                "Read the gate execution's history and the server's audit trail (`mgn-migrate status --server`).",
                "When fixed, test the server again (MGN: mark it READY_FOR_TEST) to open a new gate.",
            ],
        )
        return {"failed": True}
