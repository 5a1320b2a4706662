"""Pure rules of test launches: the queue item, MGN's job quotas, and the batch plan (cutovers too).

MGN's quotas (per Region, fixed): 20 concurrent jobs, 200 source servers in one job and 200 in
all active jobs together, one active job per server. A refused start_test is a ConflictException,
so the batcher plans from MGN's real job state instead of trying and failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_ACTIVE_JOBS = 20
MAX_SERVERS_PER_JOB = 200
MAX_SERVERS_IN_ACTIVE_JOBS = 200
ACTIVE_JOB_STATUSES = frozenset({"PENDING", "STARTED"})


class LaunchStatus(StrEnum):
    # Ready, but a precondition fails (replication, settings, network health): not queued.
    BLOCKED = "BLOCKED"
    QUEUED = "QUEUED"
    # Claimed by the batcher; with a job id once start_test answered.
    LAUNCHING = "LAUNCHING"
    VERIFYING = "VERIFYING"
    PASSED = "PASSED"
    # Attempts exhausted: needs a person.
    FAILED = "FAILED"


class PendingWork(StrEnum):
    """What the batcher must still ask MGN for (both are MGN jobs, so both go through the quotas)."""

    LAUNCH = "LAUNCH"
    CLEANUP = "CLEANUP"


@dataclass(frozen=True, slots=True)
class QueueItem:
    server_id: str
    status: LaunchStatus
    attempt: int
    hostname: str = ""
    job_id: str | None = None
    # The job of the previous (failed) attempt, kept while a retry waits.
    last_job_id: str | None = None
    claim_id: str | None = None
    claimed_at: str | None = None
    instance_id: str | None = None
    pending: PendingWork | None = None
    eligible_at: str | None = None
    reasons: tuple[str, ...] = ()
    refusals: int = 0
    launched_at: str | None = None
    verifying_since: str | None = None
    updated_at: str = ""
    # The last verification's checks (jobs.verification.Verdict.as_dict) and, once passed, when.
    verdict: Mapping[str, Any] | None = None
    verified_at: str | None = None

    def verification(self) -> dict[str, Any] | None:
        """The verification as the cutover gate takes it (``jobId``, ``verifiedAt``, ``verdict``)."""
        if not self.verdict:
            return None
        return {
            "jobId": self.job_id or "",
            "verifiedAt": self.verified_at or self.updated_at,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class Capacity:
    """What MGN's active jobs leave free."""

    jobs_free: int
    servers_free: int
    busy_servers: frozenset[str]
    active_jobs: int
    servers_in_active_jobs: int

    @classmethod
    def from_jobs(cls, jobs: Iterable[Mapping[str, Any]]) -> Capacity:
        """From ``describe_jobs`` items. Every job type counts (TERMINATE and cutover jobs too)."""
        active = [j for j in jobs if j.get("status") in ACTIVE_JOB_STATUSES]
        busy = [
            str(p["sourceServerID"])
            for j in active
            for p in j.get("participatingServers") or []
            if p.get("sourceServerID")
        ]
        return cls(
            jobs_free=max(0, MAX_ACTIVE_JOBS - len(active)),
            servers_free=max(0, MAX_SERVERS_IN_ACTIVE_JOBS - len(busy)),
            busy_servers=frozenset(busy),
            active_jobs=len(active),
            servers_in_active_jobs=len(busy),
        )


@dataclass(frozen=True, slots=True)
class BatchPlan:
    cleanup_jobs: list[list[str]] = field(default_factory=list)
    launch_jobs: list[list[str]] = field(default_factory=list)
    cutover_jobs: list[list[str]] = field(default_factory=list)
    # Server id -> why it waits for a later run.
    waiting: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.cleanup_jobs and not self.launch_jobs and not self.cutover_jobs


def plan_batches(
    launches: Sequence[str],
    cleanups: Sequence[str],
    capacity: Capacity,
    max_per_job: int = MAX_SERVERS_PER_JOB,
    cutovers: Sequence[str] = (),
) -> BatchPlan:
    """The fewest jobs that take as much queued work as the quotas allow, oldest first.

    Cleanups go first: they end a test and (after a failed one) must finish before the retry can
    launch. Approved cutovers go next: a person is waiting for them. A server already in an active
    job waits (one job per server), and so does a server with two kinds of work (its earlier kind
    goes now, the other after).
    """
    jobs_free, servers_free = capacity.jobs_free, capacity.servers_free
    waiting: dict[str, str] = {}
    plan_cleanups: list[list[str]] = []
    plan_cutovers: list[list[str]] = []
    plan_launches: list[list[str]] = []
    taken: set[str] = set()
    for work, queue, out in (
        ("cleanup", cleanups, plan_cleanups),
        ("cutover", cutovers, plan_cutovers),
        ("launch", launches, plan_launches),
    ):
        ready: list[str] = []
        for sid in dict.fromkeys(queue):
            if sid in capacity.busy_servers:
                waiting[sid] = f"{work} waits: the server is in an active MGN job"
            elif sid in taken:
                waiting[sid] = f"{work} waits: the server's other job goes first"
            else:
                ready.append(sid)
        while ready and jobs_free > 0 and servers_free > 0:
            size = min(max_per_job, servers_free, len(ready))
            batch, ready = ready[:size], ready[size:]
            out.append(batch)
            taken.update(batch)
            jobs_free -= 1
            servers_free -= size
        for sid in ready:
            waiting[sid] = (
                f"{work} waits for MGN capacity: {capacity.active_jobs} active jobs with "
                f"{capacity.servers_in_active_jobs} servers (quotas {MAX_ACTIVE_JOBS} jobs, "
                f"{MAX_SERVERS_IN_ACTIVE_JOBS} servers)"
            )
    return BatchPlan(plan_cleanups, plan_launches, plan_cutovers, waiting)


def iso(at: datetime) -> str:
    return at.isoformat()
