"""The launch batcher's cutover side: starts queued, approved cutovers in as few MGN jobs as fit.

The batcher plans MGN's job capacity for everything (cleanups, then cutovers, then test launches);
this module turns its cutover batches into StartCutover calls. It only ever starts a cutover whose
gate record the gate's start-cutover task put in the queue after an approval (``cutover.queue``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mgn_pipeline.cutover.config import CUTOVER_BATCH_TAG, MAX_CUTOVER_REFUSALS
from mgn_pipeline.cutover.queue import CutoverQueue, QueuedCutover
from mgn_pipeline.jobs.mgn_jobs import CutoverStart, JobRequest, MgnJobs, refusal_backoff_seconds
from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.errors import PipelineError
from mgn_pipeline.shared.server import LifeCycleState

TRIGGER = "launch-batcher"
READY_FOR_CUTOVER = LifeCycleState.READY_FOR_CUTOVER.value
# MGN would take a refused request again without the refused servers; a few rounds at most.
_MAX_ROUNDS = 3


class CutoverLauncher:
    def __init__(
        self,
        queue: CutoverQueue,
        jobs: Callable[[], MgnJobs],
        refuse: Callable[[str, int, str], str],
        audit: AuditTrail,
        now: Callable[[], datetime],
        stale_claim_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self._queue = queue
        self._jobs = jobs
        # Fails the gate's waiting task (CutoverStartRefused): GateLaunch.refuse_start.
        self._refuse = refuse
        self._audit = audit
        self._now = now
        self._stale_claim_after = stale_claim_after
        self._due: dict[str, QueuedCutover] = {}

    def due(self, now: datetime) -> list[QueuedCutover]:
        """Queued cutovers that may be offered now (one Query)."""
        due = self._queue.due(now)
        self._due = {item.server_id: item for item in due}
        return due

    def plannable(
        self, recent_jobs: Iterable[Mapping[str, Any]], now: datetime
    ) -> tuple[list[str], dict[str, str]]:
        """Server ids to plan now, oldest first, and why the others wait.

        A claim younger than ``stale_claim_after`` belongs to a run that may still be starting it. An
        older one is a run that crashed: the job it tagged is adopted, or the claim is released."""
        ready: list[str] = []
        waiting: dict[str, str] = {}
        tagged = _servers_by_claim(recent_jobs)
        for item in sorted(self._due.values(), key=lambda i: (i.eligible_at, i.server_id)):
            if item.claim_id is None:
                ready.append(item.server_id)
                continue
            claimed_at = datetime.fromisoformat(item.claimed_at) if item.claimed_at else now
            if now - claimed_at < self._stale_claim_after:
                waiting[item.server_id] = f"cutover being started by batcher run {item.claim_id}"
                continue
            job_id = tagged.get((item.claim_id, item.server_id))
            if job_id is not None:
                if self._queue.started(item, item.claim_id, job_id, now):
                    self._started_record(item, job_id, 0, adopted=True)
                continue
            if self._queue.release(
                item, item.claim_id, "a batcher run claimed it and started no job", now, now, refused=False
            ):
                self._due[item.server_id] = replace(item, claim_id=None, claimed_at=None)
                ready.append(item.server_id)
        return ready, waiting

    def start(self, server_ids: list[str], claim_id: str) -> CutoverStart:
        """One StartCutover for the batch (again without the servers MGN names as refused).

        The servers are read first: MGN starts a cutover from READY_FOR_TEST too, so one an operator
        sent back to testing after its approval is refused here, as MGN would not refuse it."""
        result = CutoverStart()
        now = self._now()
        claimed = {
            sid: replace(self._due[sid], claim_id=claim_id, claimed_at=now.isoformat())
            for sid in server_ids
            if self._queue.claim(self._due[sid], claim_id, now)
        }
        if claimed:
            try:
                states = self._jobs().lifecycles(list(claimed))
            except PipelineError as exc:
                return self._failed(claimed, claim_id, "DescribeSourceServers", exc, result, now)
            not_ready = {
                sid: f"lifecycle is {states.get(sid) or 'unknown to MGN'}, not {READY_FOR_CUTOVER}"
                for sid in claimed
                if states.get(sid) != READY_FOR_CUTOVER
            }
            if not_ready:
                self._refused(claimed, JobRequest(job_id=None, refused=not_ready), claim_id, result, now)
        for _ in range(_MAX_ROUNDS):
            if not claimed:
                return result
            try:
                answer = self._jobs().start_cutover(list(claimed), {CUTOVER_BATCH_TAG: claim_id})
            except PipelineError as exc:
                return self._failed(claimed, claim_id, "StartCutover", exc, result, now)
            if answer.job_id:
                result.job_id = answer.job_id
                for item in claimed.values():
                    if self._queue.started(item, claim_id, answer.job_id, self._now()):
                        result.started.append(item.server_id)
                        self._started_record(item, answer.job_id, len(claimed), adopted=False)
                return result
            if answer.quota is not None:
                # Someone else used the capacity between describe_jobs and StartCutover: next run.
                for item in claimed.values():
                    self._queue.release(
                        item, claim_id, f"waiting for MGN capacity: {answer.quota}", now, now, refused=False
                    )
                    result.waiting[item.server_id] = answer.quota
                return result
            if not self._refused(claimed, answer, claim_id, result, now):
                break
        for item in claimed.values():
            self._queue.release(
                item, claim_id, "MGN kept refusing the batch; offered again", now, now, refused=False
            )
        return result

    def _failed(
        self,
        claimed: dict[str, QueuedCutover],
        claim_id: str,
        operation: str,
        exc: PipelineError,
        result: CutoverStart,
        now: datetime,
    ) -> CutoverStart:
        """A call failed: every claimed server goes back to the queue, offered again at once."""
        for item in claimed.values():
            self._queue.release(item, claim_id, f"{operation} failed: {exc}", now, now, refused=False)
            result.failures[item.server_id] = str(exc)
        return result

    def _refused(
        self,
        claimed: dict[str, QueuedCutover],
        answer: JobRequest,
        claim_id: str,
        result: CutoverStart,
        now: datetime,
    ) -> bool:
        """Take the servers MGN named out of the batch; False when it named none of them."""
        named = False
        for sid, why in answer.refused.items():
            item = claimed.pop(sid, None)
            if item is None:
                continue
            named = True
            result.refused[sid] = why
            refusals = item.refusals + 1
            if refusals >= MAX_CUTOVER_REFUSALS:
                # Out of the queue first, so no later run offers it while the gate records the failure.
                self._queue.withdraw_claimed(item, claim_id, now)
                self._record(item, "cutover-start-refused", why, {"refusals": refusals, "gateFailed": True})
                self._refuse(sid, item.attempt, f"MGN refused StartCutover {refusals} times: {why}")
                continue
            later = now + timedelta(seconds=refusal_backoff_seconds(refusals))
            self._queue.release(item, claim_id, f"MGN refused StartCutover: {why}", later, now, refused=True)
            self._record(
                item, "cutover-start-refused", why, {"refusals": refusals, "retryAfter": later.isoformat()}
            )
        return named

    def _started_record(self, item: QueuedCutover, job_id: str, batch_size: int, *, adopted: bool) -> None:
        approval = dict(item.decision)
        reason = f"approved by {approval.get('approver')} at {approval.get('time')}"
        if adopted:
            reason += "; job found by its batch tag after a batcher run stopped"
        elif batch_size > 1:
            reason += f"; one of {batch_size} servers in the job"
        self._record(
            item,
            "cutover-started",
            reason,
            {"jobId": job_id, "approval": approval, "batchSize": batch_size},
            actor=approval.get("approver"),
        )

    def _record(
        self,
        item: QueuedCutover,
        action: str,
        reason: str,
        details: dict[str, Any],
        actor: str | None = PIPELINE_ACTOR,
    ) -> None:
        self._audit.append(
            AuditRecord(
                subject=item.server_id,
                action=action,
                trigger=TRIGGER,
                actor=actor,
                reason=reason,
                details={"attempt": item.attempt, **details},
            ),
            self._now(),
        )


def _servers_by_claim(jobs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(claim id, server id) -> job id, for the cutover jobs a batcher run tagged."""
    found: dict[tuple[str, str], str] = {}
    for job in jobs:
        claim = (job.get("tags") or {}).get(CUTOVER_BATCH_TAG)
        if not claim or job.get("initiatedBy") != "START_CUTOVER":
            continue
        for participant in job.get("participatingServers") or []:
            if participant.get("sourceServerID"):
                found[(str(claim), str(participant["sourceServerID"]))] = str(job["jobID"])
    return found
