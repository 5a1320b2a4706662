"""MGN's job and replication quotas, watched through a wave: every maximum the emulator reached."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from localcloud.cloud import LocalCloud

# AWS General Reference, "Application Migration Service endpoints and quotas": concurrent jobs 20,
# source servers in all active jobs 200, one active job per source server (not adjustable); actively
# replicating source servers 150 (adjustable: the 1,000-server wave raises it, as an approved
# increase request would).
MAX_ACTIVE_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 200
MAX_JOBS_PER_SERVER = 1
_IN_PROGRESS = ("PENDING", "IN_PROGRESS")  # a server's launchStatus while its part of a job runs


class QuotaWatch:
    """Samples the MGN emulator's jobs at every clock step and at every job start.

    The set of active jobs only grows when a job starts (``MgnBackend.new_job``, wrapped here on the
    instance) and only shrinks on a clock step, so sampling at both sees every maximum. Jobs may start
    from a Step Functions worker thread (StartCutover): a lock keeps the bookkeeping consistent.
    """

    def __init__(self, cloud: LocalCloud, replicating_quota: int) -> None:
        self.cloud = cloud
        self.replicating_quota = replicating_quota
        self.jobs: list[Any] = []  # every job started, in order (JobRecord)
        self.samples = 0
        self.max_jobs = 0
        self.max_servers_in_jobs = 0
        self.max_jobs_per_server = 0
        self.max_replicating = 0
        self.violations: list[str] = []
        self._open: list[Any] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        backend = self.cloud.mgn.backend
        new_job = backend.new_job

        def watched_new_job(*args: Any, **kwargs: Any) -> Any:
            job = new_job(*args, **kwargs)
            with self._lock:
                self.jobs.append(job)
                # A server is in a job until its own part of it ends (the emulator frees each server of a
                # TERMINATE job as its cleanup ends, a moment before the job is COMPLETED).
                busy = {
                    sid: other
                    for other in self._open
                    if other.active
                    for sid in other.server_ids
                    if other.launch_status.get(sid) in _IN_PROGRESS
                }
                clash = [(sid, busy[sid]) for sid in job.server_ids if sid in busy]
                self.max_jobs_per_server = max(self.max_jobs_per_server, 2 if clash else 1)
                for sid, other in clash[:3]:
                    self._violation(
                        f"{job.initiated_by} job {job.job_id} takes {sid}, already in {other.initiated_by} job "
                        f"{other.job_id} ({other.status})"
                    )
                self._open.append(job)
            self.sample()
            return job

        backend.new_job = watched_new_job  # type: ignore[method-assign]
        clock = self.cloud.clock
        call_at = clock.call_at

        def sampled_call_at(when: datetime, fn: Callable[[], object]) -> None:
            def step() -> object:
                try:
                    return fn()
                finally:
                    self.sample()

            call_at(when, step)

        clock.call_at = sampled_call_at  # type: ignore[method-assign]

    def sample(self) -> None:
        with self._lock:
            self._open = [job for job in self._open if job.active]
            jobs = len(self._open)
            servers = sum(len(job.server_ids) for job in self._open)
            self.samples += 1
            self.max_jobs = max(self.max_jobs, jobs)
            self.max_servers_in_jobs = max(self.max_servers_in_jobs, servers)
            if jobs > MAX_ACTIVE_JOBS:
                self._violation(f"{jobs} active jobs (quota {MAX_ACTIVE_JOBS})")
            if servers > MAX_SERVERS_IN_ACTIVE_JOBS:
                self._violation(f"{servers} servers in active jobs (quota {MAX_SERVERS_IN_ACTIVE_JOBS})")
            replicating = int(getattr(self.cloud.mgn, "replicating_servers", 0))
            self.max_replicating = max(self.max_replicating, replicating)
            if replicating > self.replicating_quota:
                self._violation(f"{replicating} servers replicating (quota {self.replicating_quota})")

    def _violation(self, what: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"{self.cloud.clock.now():%H:%M:%S} {what}")

    def per_server(self, initiated_by: str) -> Counter[str]:
        return Counter(sid for job in self.jobs if job.initiated_by == initiated_by for sid in job.server_ids)


def raise_replication_quota(
    cloud: LocalCloud, servers: int, *, keep_default: bool = False
) -> tuple[int, str]:
    """Raise the emulator's actively-replicating-servers quota to the wave, as an approved increase would
    (unless ``keep_default``: then the wave replicates in turns, as finalized servers free their slots)."""
    adjust = getattr(cloud.mgn, "adjust_quotas", None)
    quotas = getattr(cloud.mgn.backend, "quotas", None)
    current = getattr(quotas, "max_replicating_servers", None)
    if adjust is None or current is None:
        return (
            servers,
            "the MGN emulator has no actively-replicating-servers quota (150 by default in MGN) yet: "
            "the wave replicates all at once",
        )
    if keep_default and servers > current:
        return int(current), (
            f"actively replicating servers quota {current} kept (MGN's default): the rest of the wave "
            "waits to replicate until finalized servers free their slots"
        )
    if servers <= current:
        return int(current), f"actively replicating servers quota {current}: enough for {servers}, not raised"
    adjust(max_replicating_servers=servers)
    return servers, (
        f"actively replicating servers quota raised {current} -> {servers} "
        "(MgnEmulator.adjust_quotas, as an approved quota increase request)"
    )
