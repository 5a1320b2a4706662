"""From an approval to a launched cutover instance: queue the cutover, then follow its MGN job.

``start_cutover`` is reached only from APPROVED and leaves it in the same conditional write: one
approval, at most one cutover launch. The launch batcher (``cutover.launcher``) starts the MGN job
within MGN's job quotas; the Launch Result event or the reconciler then resolves the task token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mgn_pipeline.cutover.errors import CutoverLaunchFailed, CutoverStartRefused, GateStateError
from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.queue import queue_fields
from mgn_pipeline.cutover.store import GateRecord, Outbox
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.jobs.mgn_jobs import MgnJobs, participant
from mgn_pipeline.shared.server import SourceServer


class GateLaunch:
    def __init__(self, *, steps: GateTransitions, jobs: MgnJobs, notices: GateNotices) -> None:
        self._steps = steps
        self._store = steps.store
        self._jobs = jobs
        self._notices = notices

    def start_cutover(
        self, server_id: str, attempt: int, token: str, readiness: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """APPROVED -> CUTTING_OVER (once per approval), queued for the launch batcher.
        ``readiness``: the recheck's snapshot, kept beside the approved one."""
        now = self._steps.now()
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.APPROVED],
            GateStatus.CUTTING_OVER,
            now,
            token=token,
            set_fields={**queue_fields(now), "cutoverReadiness": dict(readiness) if readiness else None},
        )
        if moved is None:
            # A retried task (same approval): refresh its token, never queue a second cutover.
            moved = self._store.transition(
                server_id, attempt, [GateStatus.CUTTING_OVER], GateStatus.CUTTING_OVER, now, token=token
            )
            if moved is None:
                raise GateStateError(f"{server_id}: no approved cutover to start for attempt {attempt}")
            return {"jobId": moved.cutover_job_id, "queued": moved.cutover_job_id is None, "retried": True}
        decision = dict(moved.decision or {})
        self._notices.record(
            server_id,
            "cutover-queued",
            f"approved by {decision.get('approver')} at {decision.get('time')}; the launch "
            "batcher starts it within MGN's job quotas",
            {
                "attempt": attempt,
                "approval": decision,
                # The readiness approved and the readiness right before the cutover: both, for the audit.
                "approved": moved.approval_readiness,
                "atCutover": moved.cutover_readiness,
            },
            actor=decision.get("approver"),
        )
        return {"queued": True}

    def refuse_start(self, server_id: str, attempt: int, why: str) -> str:
        """MGN kept refusing the queued cutover: fail the task (CutoverStartRefused); nothing was launched."""
        record = self._store.get(server_id)
        if record is None or record.attempt != attempt or record.status is not GateStatus.CUTTING_OVER:
            return "cutover gate moved on"
        return self._fail_task(record, CutoverStartRefused.__name__, why, "cutover start refused")

    def follow_launch(self, record: GateRecord, server: SourceServer) -> str:
        """The cutover job's word on this server: LAUNCHED resolves the token, FAILED fails it.
        ``server``: as MGN describes it now; its tags are kept for the verification."""
        job = self._jobs.job(record.cutover_job_id or "")
        entry = participant(job, record.server_id)
        status = str(entry.get("launchStatus", "UNKNOWN"))
        if status == "LAUNCHED":
            instance = str(entry.get("launchedEc2InstanceID") or "")
            return self._steps.resolve(
                record,
                GateStatus.CUTTING_OVER,
                GateStatus.LAUNCHED,
                Outbox(
                    record.task_token or "", output={"jobId": record.cutover_job_id, "instanceId": instance}
                ),
                "cutover launched",
                {
                    "instanceId": instance,
                    "launchParticipant": entry,
                    "tagsAtLaunch": dict(server.tags),
                    # When the launch was seen: how long the instance's SSM agent has had to register.
                    "launchedAt": self._steps.now().isoformat(),
                },
            )
        if status == "FAILED" or job is None or job.get("status") == "COMPLETED":
            reasons = self._jobs.failure_reasons(record.cutover_job_id or "", record.server_id) if job else []
            why = "; ".join(reasons) or f"cutover launch {status.lower()} in job {record.cutover_job_id}"
            return self._fail_task(record, CutoverLaunchFailed.__name__, why, "cutover launch failed")
        return f"cutover launch in progress (job {record.cutover_job_id}: {status})"

    def _fail_task(self, record: GateRecord, error: str, why: str, what: str) -> str:
        """Fail the waiting task with ``error``: the token is consumed, the record stays CUTTING_OVER
        (nothing launched, or the Rollback task cleans up what was)."""
        return self._steps.resolve(
            record,
            GateStatus.CUTTING_OVER,
            GateStatus.CUTTING_OVER,
            Outbox(record.task_token or "", error, why),
            what,
            {"reason": why},
        )
