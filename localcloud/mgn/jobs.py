"""MGN jobs: LAUNCH (test/cutover) and TERMINATE, run step by step on the simulated clock.

A LAUNCH job goes PENDING -> STARTED -> COMPLETED. For each server: snapshot, conversion,
then a real EC2 instance is launched in moto from the server's launch template. Job log
items use the model's JobLogEvent values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.mgn.server_state import ServerRecord
from localcloud.mgn.util import iso

if TYPE_CHECKING:
    from localcloud.mgn.backend import MgnBackend
    from localcloud.mgn.post_launch import PostLaunchRun

ACTIVE = ("PENDING", "STARTED")


@dataclass
class Timings:
    """Simulated durations (seconds). Defaults are in MGN's ballpark, tests may shorten them."""

    initiating_seconds: float = 120.0
    initial_sync_seconds: float = 1800.0
    job_pending_seconds: float = 10.0
    snapshot_seconds: float = 30.0
    conversion_seconds: float = 120.0
    boot_seconds: float = 60.0
    terminate_seconds: float = 30.0


@dataclass
class JobRecord:
    job_id: str
    arn: str
    type: str
    initiated_by: str
    created_at: datetime
    server_ids: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "PENDING"
    end_at: datetime | None = None
    launch_status: dict[str, str] = field(default_factory=dict)
    instance_ids: dict[str, str] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    # Servers launched with post-launch actions (localcloud.mgn.post_launch).
    post_launch: dict[str, PostLaunchRun] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def view(self) -> dict[str, Any]:
        """The Job shape."""
        out: dict[str, Any] = {
            "jobID": self.job_id,
            "arn": self.arn,
            "type": self.type,
            "initiatedBy": self.initiated_by,
            "creationDateTime": iso(self.created_at),
            "status": self.status,
            "tags": dict(self.tags),
            "participatingServers": [
                {
                    "sourceServerID": sid,
                    "launchStatus": self.launch_status[sid],
                    **({"launchedEc2InstanceID": self.instance_ids[sid]} if sid in self.instance_ids else {}),
                    **(
                        {"postLaunchActionsStatus": self.post_launch[sid].view()}
                        if sid in self.post_launch
                        else {}
                    ),
                }
                for sid in self.server_ids
            ],
        }
        if self.end_at:
            out["endDateTime"] = iso(self.end_at)
        return out

    def add_log(self, when: datetime, event: str, **data: Any) -> None:
        entry: dict[str, Any] = {"logDateTime": iso(when), "event": event}
        if data:
            entry["eventData"] = data
        self.log.append(entry)


class JobRunner:
    """Schedules the steps of jobs on the backend's clock and applies their effects."""

    def __init__(self, backend: MgnBackend) -> None:
        self._b = backend

    @property
    def _timings(self) -> Timings:
        return self._b.timings

    def _now(self) -> datetime:
        return self._b.clock.now()

    # ---- LAUNCH --------------------------------------------------------------------------

    def start_launch(self, job: JobRecord) -> None:
        job.add_log(self._now(), "JOB_START")
        self._b.clock.call_later(self._timings.job_pending_seconds, lambda: self._launch_started(job))

    def _launch_started(self, job: JobRecord) -> None:
        job.status = "STARTED"
        for sid in job.server_ids:
            job.launch_status[sid] = "IN_PROGRESS"
            job.add_log(self._now(), "SNAPSHOT_START", sourceServerID=sid)
        self._b.clock.call_later(self._timings.snapshot_seconds, lambda: self._convert(job))

    def _convert(self, job: JobRecord) -> None:
        for sid in job.server_ids:
            job.add_log(self._now(), "SNAPSHOT_END", sourceServerID=sid)
            job.add_log(
                self._now(),
                "CONVERSION_START",
                sourceServerID=sid,
                conversionServerID="i-" + self._b.ids.hex(17),
            )
        self._b.clock.call_later(self._timings.conversion_seconds, lambda: self._launch(job))

    def _launch(self, job: JobRecord) -> None:
        for sid in job.server_ids:
            server = self._b.servers.get(sid)
            job.add_log(self._now(), "CONVERSION_END", sourceServerID=sid)
            if server is None:  # deleted meanwhile: nothing to launch
                job.launch_status[sid] = "FAILED"
                job.add_log(self._now(), "LAUNCH_START", sourceServerID=sid)
                job.add_log(
                    self._now(), "LAUNCH_FAILED", sourceServerID=sid, rawError="source server was deleted"
                )
                continue
            self._launch_one(job, server)
        job.add_log(self._now(), "JOB_END")
        job.status = "COMPLETED"
        job.end_at = self._now()
        for sid in job.server_ids:
            server = self._b.servers.get(sid)
            if server is not None and server.active_job_id == job.job_id:
                server.active_job_id = None

    def _launch_one(self, job: JobRecord, server: ServerRecord) -> None:
        is_test = job.initiated_by == "START_TEST"
        sid = server.server_id
        failure = server.launch_failure
        server.launch_failure = None
        instance_id = None
        documents = self._b.post_launch.documents_for(server, is_test)
        if failure is None:
            try:
                instance_id = self._b.ec2.launch(server, self._b.post_launch.instance_profile(documents))
            except ClientError as err:  # e.g. the launch template's subnet no longer exists
                failure = f"{err.response['Error'].get('Code')}: {err.response['Error'].get('Message')}"
        if failure is not None or instance_id is None:
            job.launch_status[sid] = "FAILED"
            job.add_log(self._now(), "LAUNCH_START", sourceServerID=sid)
            job.add_log(self._now(), "LAUNCH_FAILED", sourceServerID=sid, rawError=failure or "launch failed")
            # A failed launch leaves the server where it was before the job (assumption: the
            # console shows the previous state again and the launch can be retried).
            if server.lifecycle_before_launch:
                server.lifecycle = server.lifecycle_before_launch
            state = "TEST_LAUNCH_FAILED" if is_test else "CUTOVER_LAUNCH_FAILED"
            self._b.emitter.launch_result(self._now(), server.arn, state, job.job_id)
            return
        previous = (server.launched_instance or {}).get("ec2InstanceID")
        if previous:
            # MGN replaces the previously launched (test) instance with the new one.
            self._b.ec2.terminate(previous)
        job.launch_status[sid] = "LAUNCHED"
        job.instance_ids[sid] = instance_id
        job.add_log(self._now(), "LAUNCH_START", sourceServerID=sid, targetInstanceID=instance_id)
        server.launched_instance = {"ec2InstanceID": instance_id, "jobID": job.job_id, "firstBoot": "WAITING"}
        self._b.clock.call_later(self._timings.boot_seconds, lambda: self._booted(server, job.job_id))
        if documents:
            self._b.post_launch.start(job, sid, instance_id, documents)
        state = "TEST_LAUNCH_SUCCEEDED" if is_test else "CUTOVER_LAUNCH_SUCCEEDED"
        self._b.emitter.launch_result(self._now(), server.arn, state, job.job_id)

    def _booted(self, server: ServerRecord, job_id: str) -> None:
        inst = server.launched_instance
        if inst and inst.get("jobID") == job_id:
            inst["firstBoot"] = "SUCCEEDED"

    # ---- TERMINATE -----------------------------------------------------------------------

    def start_terminate(self, job: JobRecord) -> None:
        job.add_log(self._now(), "JOB_START")
        self._b.clock.call_later(self._timings.job_pending_seconds, lambda: self._terminate_started(job))

    def _terminate_started(self, job: JobRecord) -> None:
        job.status = "STARTED"
        for sid in job.server_ids:
            job.launch_status[sid] = "IN_PROGRESS"
            job.add_log(self._now(), "CLEANUP_START", sourceServerID=sid)
        self._b.clock.call_later(self._timings.terminate_seconds, lambda: self._terminated(job))

    def _terminated(self, job: JobRecord) -> None:
        for sid in job.server_ids:
            server = self._b.servers.get(sid)
            instance_id = job.instance_ids.get(sid)
            if instance_id:
                self._b.ec2.terminate(instance_id)
            if server is not None and (server.launched_instance or {}).get("ec2InstanceID") == instance_id:
                server.launched_instance = None
            job.launch_status[sid] = "TERMINATED"
            job.add_log(
                self._now(),
                "CLEANUP_END",
                sourceServerID=sid,
                **({"targetInstanceID": instance_id} if instance_id else {}),
            )
            if server is not None and server.active_job_id == job.job_id:
                server.active_job_id = None
        job.add_log(self._now(), "JOB_END")
        job.status = "COMPLETED"
        job.end_at = self._now()
