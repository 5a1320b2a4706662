"""MGN jobs as test launches and cutovers need them. Takes an injected ``boto3.client("mgn")``.

start_test, start_cutover and terminate_target_instances report a refused request as ConflictException, with an
``errors`` list naming each server MGN would not take, or without one when a quota is reached.
Those refusals are results here (the batcher keeps the servers queued), not errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.shared.aws.mgn import MgnGateway, translate_errors
from mgn_pipeline.shared.server import SourceServer


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What MGN answered to a job request."""

    job_id: str | None
    # server id -> why MGN would not take it (the rest of the request can go again without it)
    refused: dict[str, str] = field(default_factory=dict)
    # set when MGN refused the whole request (a quota), no server named
    quota: str | None = None


def mgn_time(at: datetime) -> str:
    """MGN's ISO8601DatetimeString (``...Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CutoverStart:
    """What one planned cutover batch became."""

    job_id: str | None = None
    started: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class MgnJobs:
    """One instance per invocation: a job read once is not read again in it (a reconcile follows
    the servers of one job with one DescribeJobs)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._read: dict[str, dict[str, Any] | None] = {}

    def recent_jobs(self, since: datetime) -> list[dict[str, Any]]:
        """Jobs created since ``since``, every page (``describe_jobs`` cannot filter on status)."""
        jobs: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("describe_jobs")
        with translate_errors("DescribeJobs"):
            for page in paginator.paginate(
                filters={"fromDate": mgn_time(since)}, PaginationConfig={"PageSize": 1000}
            ):
                jobs.extend(page.get("items", []))
        return jobs

    def job(self, job_id: str) -> dict[str, Any] | None:
        if job_id not in self._read:
            with translate_errors("DescribeJobs"):
                items = self._client.describe_jobs(filters={"jobIDs": [job_id]}).get("items", [])
            self._read[job_id] = dict(items[0]) if items else None
        return self._read[job_id]

    def lifecycles(self, server_ids: list[str]) -> dict[str, str]:
        """Each server's lifecycle state now (a DescribeSourceServers per 200 ids); an id MGN does
        not know is left out."""
        servers = MgnGateway(self._client).describe_many(server_ids)
        return {sid: server.lifecycle.value for sid, server in servers.items()}

    def failure_reasons(self, job_id: str, server_id: str) -> list[str]:
        """What the job's log says went wrong for this server (LAUNCH_FAILED and the like)."""
        reasons: list[str] = []
        paginator = self._client.get_paginator("describe_job_log_items")
        with translate_errors("DescribeJobLogItems"):
            for page in paginator.paginate(jobID=job_id):
                for item in page.get("items", []):
                    data = item.get("eventData") or {}
                    event = str(item.get("event", ""))
                    if data.get("sourceServerID") not in (None, server_id):
                        continue
                    if event.endswith("_FAILED") or data.get("rawError"):
                        reasons.append(f"{event}: {data.get('rawError') or 'no detail in the job log'}")
        return reasons

    def start_test(self, server_ids: list[str], tags: Mapping[str, str]) -> JobRequest:
        return self._job_request("StartTest", self._client.start_test, server_ids, tags)

    def start_cutover(self, server_ids: list[str], tags: Mapping[str, str]) -> JobRequest:
        return self._job_request("StartCutover", self._client.start_cutover, server_ids, tags)

    def terminate_target_instances(self, server_ids: list[str], tags: Mapping[str, str]) -> JobRequest:
        return self._job_request(
            "TerminateTargetInstances", self._client.terminate_target_instances, server_ids, tags
        )

    def change_lifecycle(self, server_id: str, state: str) -> SourceServer:
        """The server as ChangeServerLifeCycleState returns it (its whole record, in its new state)."""
        with translate_errors("ChangeServerLifeCycleState"):
            response = self._client.change_server_life_cycle_state(
                sourceServerID=server_id, lifeCycle={"state": state}
            )
        return SourceServer.from_api(response)

    def finalize_cutover(self, server_id: str) -> SourceServer:
        """The server as FinalizeCutover returns it (its whole record, as DescribeSourceServers would)."""
        with translate_errors("FinalizeCutover"):
            response = self._client.finalize_cutover(sourceServerID=server_id)
        return SourceServer.from_api(response)

    def mark_as_archived(self, server_id: str) -> None:
        with translate_errors("MarkAsArchived"):
            self._client.mark_as_archived(sourceServerID=server_id)

    @staticmethod
    def _job_request(operation: str, call: Any, server_ids: list[str], tags: Mapping[str, str]) -> JobRequest:
        try:
            response = call(sourceServerIDs=server_ids, tags=dict(tags))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConflictException":
                return _refusal(exc.response, server_ids)
            with translate_errors(operation):
                raise
        return JobRequest(job_id=str(response["job"]["jobID"]))


def _refusal(response: Mapping[str, Any], requested: Iterable[str]) -> JobRequest:
    message = str(response.get("Error", {}).get("Message") or response.get("message") or "ConflictException")
    named = {
        str(e["resourceId"]): f"{e.get('code', 'CONFLICT')}: {e.get('message', '')}".strip()
        for e in response.get("errors") or []
        if e.get("resourceId")
    }
    wanted = set(requested)
    if not named and response.get("resourceId") in wanted:
        named = {str(response["resourceId"]): message}
    named = {sid: why for sid, why in named.items() if sid in wanted}
    if named:
        return JobRequest(job_id=None, refused=named)
    return JobRequest(job_id=None, quota=message)


def participant(job: Mapping[str, Any] | None, server_id: str) -> dict[str, Any]:
    """This server's entry in a job's ``participatingServers`` (empty when it is not in the job)."""
    for entry in (job or {}).get("participatingServers") or []:
        if entry.get("sourceServerID") == server_id:
            return dict(entry)
    return {}


def refusal_backoff_seconds(refusals: int) -> int:
    """How long a server MGN refused waits before the batcher offers it again (1, 2, 4 ... 30 min).

    A refusal (wrong lifecycle state, not launchable) rarely clears within a minute; retrying it on
    every run would be a storm of failing calls."""
    return int(min(60 * 2 ** max(0, refusals - 1), 1800))
