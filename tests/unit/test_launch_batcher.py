"""The launch batcher and its cutover side, driven on their own: the real queues on an in-memory
DynamoDB (moto, tables as in template.yaml), an in-memory MGN that answers job requests.

Whole flows against the MGN emulator's quotas are tests/integration/test_cutover_batches.py and
tests/integration/test_test_launches.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from mgn_pipeline.cutover.config import MAX_CUTOVER_REFUSALS
from mgn_pipeline.cutover.launcher import CutoverLauncher
from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.queue import CutoverQueue, queue_fields
from mgn_pipeline.cutover.store import GateStore
from mgn_pipeline.jobs.mgn_jobs import JobRequest
from mgn_pipeline.launches.batcher import BATCH_TAG, LaunchBatcher
from mgn_pipeline.launches.config import TestLaunchConfig
from mgn_pipeline.launches.errors import LaunchBatchIncompleteError
from mgn_pipeline.launches.model import LaunchStatus
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.shared.errors import PipelineError
from tests.unit.fakes import START, FakeAudit
from tests.unit.tables import create_table

SERVERS = [f"s-{i:017x}" for i in range(1, 4)]


@dataclass
class FakeMgnJobs:
    """MGN's job API as the batcher sees it: each answer queued by the test, every request kept."""

    active: list[dict[str, Any]] = field(default_factory=list)
    answers: list[JobRequest | Exception] = field(default_factory=list)
    requests: list[tuple[str, list[str], dict[str, str]]] = field(default_factory=list)
    # Lifecycle states the cutover side reads before StartCutover (READY_FOR_CUTOVER unless set).
    lifecycle: dict[str, str] = field(default_factory=dict)
    lifecycle_reads: list[list[str]] = field(default_factory=list)

    def recent_jobs(self, since: datetime) -> list[dict[str, Any]]:
        return self.active

    def lifecycles(self, server_ids: list[str]) -> dict[str, str]:
        self.lifecycle_reads.append(list(server_ids))
        return {sid: self.lifecycle.get(sid, "READY_FOR_CUTOVER") for sid in server_ids}

    def start_test(self, server_ids: list[str], tags: dict[str, str]) -> JobRequest:
        return self._answer("StartTest", server_ids, tags)

    def start_cutover(self, server_ids: list[str], tags: dict[str, str]) -> JobRequest:
        return self._answer("StartCutover", server_ids, tags)

    def terminate_target_instances(self, server_ids: list[str], tags: dict[str, str]) -> JobRequest:
        return self._answer("TerminateTargetInstances", server_ids, tags)

    def _answer(self, operation: str, server_ids: list[str], tags: dict[str, str]) -> JobRequest:
        self.requests.append((operation, list(server_ids), dict(tags)))
        answer = self.answers.pop(0) if self.answers else JobRequest(job_id=f"mgnjob-{len(self.requests)}")
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class World:
    batcher: LaunchBatcher
    launches: LaunchQueue
    gates: GateStore
    mgn: FakeMgnJobs
    audit: FakeAudit
    refused_gates: list[tuple[str, int, str]]
    clients_made: list[int]
    clock: list[datetime]

    def queue_tests(self, *server_ids: str) -> None:
        for sid in server_ids:
            assert self.launches.enqueue(None, sid, f"host-{sid[-2:]}", 1, self.clock[0])

    def queue_cutover(self, sid: str) -> None:
        now = self.clock[0]
        self.gates.open(sid, 1, "mgnjob-test", None, now)
        approval = {"approver": "arn:aws:iam::111122223333:role/MigrationLead", "time": now.isoformat()}
        self.gates.transition(
            sid,
            1,
            [GateStatus.OPENING],
            GateStatus.CUTTING_OVER,
            now,
            set_fields={**queue_fields(now), "decision": approval},
        )

    def status(self, sid: str) -> LaunchStatus:
        item = self.launches.get(sid)
        assert item is not None
        return item.status


@pytest.fixture
def world(dynamodb: Any) -> World:
    create_table(dynamodb, "LaunchQueueTable", "launch-queue")
    create_table(dynamodb, "CutoverGateTable", "gates")
    clock = [START]
    mgn, audit, refused, made = FakeMgnJobs(), FakeAudit(), [], []

    def jobs() -> FakeMgnJobs:
        made.append(1)
        return mgn

    def refuse(sid: str, attempt: int, why: str) -> str:
        refused.append((sid, attempt, why))
        return "refused"

    config = TestLaunchConfig(
        queue_table="launch-queue", health_table="health", allowed_subnet_ids=frozenset()
    )
    cutovers = CutoverLauncher(
        queue=CutoverQueue(dynamodb, "gates"),
        jobs=jobs,  # type: ignore[arg-type]
        refuse=refuse,
        audit=audit,  # type: ignore[arg-type]
        now=lambda: clock[0],
    )
    ids = iter(f"claim-{i}" for i in range(1000))
    batcher = LaunchBatcher(
        queue=LaunchQueue(dynamodb, "launch-queue"),
        jobs=jobs,  # type: ignore[arg-type]
        audit=audit,  # type: ignore[arg-type]
        config=config,
        now=lambda: clock[0],
        new_id=lambda: next(ids),
        cutovers=cutovers,
    )
    return World(
        batcher,
        LaunchQueue(dynamodb, "launch-queue"),
        GateStore(dynamodb, "gates"),
        mgn,
        audit,
        refused,
        made,
        clock,
    )


def test_an_idle_run_makes_no_mgn_client_and_no_mgn_call(world: World) -> None:
    report = world.batcher.run()
    assert (report.due, report.cutovers_due) == (0, 0)
    assert world.clients_made == [] and world.mgn.requests == []


def test_servers_queued_between_two_runs_share_one_start_test(world: World) -> None:
    world.queue_tests(*SERVERS)
    report = world.batcher.run()
    ((operation, servers, tags),) = world.mgn.requests
    assert (operation, sorted(servers), tags) == ("StartTest", SERVERS, {BATCH_TAG: "claim-0"})
    assert report.launch_jobs == {"mgnjob-1": 3}
    assert all(world.status(sid) is LaunchStatus.LAUNCHING for sid in SERVERS)
    assert world.audit.actions() == ["test-launch-started"] * 3
    assert {r.actor for r in world.audit.records} == {"pipeline"}  # named, not "unknown"
    # The next run finds nothing due: no second job for the same servers.
    world.batcher.run()
    assert len(world.mgn.requests) == 1


def test_a_server_mgn_refuses_is_backed_off_and_the_rest_launch_in_the_same_run(world: World) -> None:
    world.queue_tests(*SERVERS)
    world.mgn.answers = [JobRequest(None, refused={SERVERS[0]: "UNSUPPORTED_OPERATION: not READY_FOR_TEST"})]
    report = world.batcher.run()
    assert [sorted(servers) for _, servers, _ in world.mgn.requests] == [SERVERS, SERVERS[1:]]
    assert report.refused == {SERVERS[0]: "UNSUPPORTED_OPERATION: not READY_FOR_TEST"}
    assert world.status(SERVERS[0]) is LaunchStatus.QUEUED
    assert world.audit.actions(SERVERS[0]) == ["test-launch-refused"]
    # Backed off: not offered again at once, offered again once the back-off has passed.
    world.batcher.run()
    assert len(world.mgn.requests) == 2
    world.clock[0] += timedelta(hours=1)
    world.batcher.run()
    assert world.mgn.requests[-1][1] == [SERVERS[0]]


def test_mgn_at_its_job_quota_leaves_everything_queued_for_the_next_run(world: World) -> None:
    world.queue_tests(*SERVERS)
    world.mgn.active = [
        {"jobID": f"mgnjob-busy-{i}", "status": "STARTED", "participatingServers": []} for i in range(20)
    ]
    report = world.batcher.run()
    assert world.mgn.requests == []
    assert set(report.waiting) == set(SERVERS)
    assert all(world.status(sid) is LaunchStatus.QUEUED for sid in SERVERS)


def test_an_mgn_error_keeps_the_servers_queued_and_fails_the_run_loudly(world: World) -> None:
    world.queue_tests(SERVERS[0])
    world.mgn.answers = [PipelineError("StartTest: ThrottlingException")]
    with pytest.raises(LaunchBatchIncompleteError, match="ThrottlingException"):
        world.batcher.run()
    assert world.status(SERVERS[0]) is LaunchStatus.QUEUED
    world.batcher.run()
    assert [op for op, _, _ in world.mgn.requests] == ["StartTest", "StartTest"]


def test_approved_cutovers_start_in_one_job_and_name_their_approver(world: World) -> None:
    for sid in SERVERS[:2]:
        world.queue_cutover(sid)
    report = world.batcher.run()
    ((operation, servers, _),) = world.mgn.requests
    assert (operation, sorted(servers)) == ("StartCutover", SERVERS[:2])
    assert report.cutover_jobs == {"mgnjob-1": 2}
    for sid in SERVERS[:2]:
        record = world.gates.get(sid)
        assert record is not None and record.cutover_job_id == "mgnjob-1"
    started = [r for r in world.audit.records if r.action == "cutover-started"]
    assert {r.actor for r in started} == {"arn:aws:iam::111122223333:role/MigrationLead"}
    world.batcher.run()
    assert len(world.mgn.requests) == 1  # started once


def test_a_cutover_mgn_keeps_refusing_fails_its_gate_instead_of_retrying_forever(world: World) -> None:
    world.queue_cutover(SERVERS[0])
    for _ in range(MAX_CUTOVER_REFUSALS):
        world.mgn.answers.append(
            JobRequest(None, refused={SERVERS[0]: "UNSUPPORTED_OPERATION: replication stalled"})
        )
        world.batcher.run()
        world.clock[0] += timedelta(hours=2)
    assert [op for op, _, _ in world.mgn.requests] == ["StartCutover"] * MAX_CUTOVER_REFUSALS
    ((sid, attempt, why),) = world.refused_gates
    assert (sid, attempt) == (SERVERS[0], 1) and "replication stalled" in why
    world.batcher.run()
    assert len(world.mgn.requests) == MAX_CUTOVER_REFUSALS  # out of the queue


def test_a_queued_cutover_of_a_server_no_longer_ready_for_cutover_is_refused_before_mgn(world: World) -> None:
    # MGN would start a cutover from READY_FOR_TEST too: the batcher reads the lifecycle first.
    world.queue_cutover(SERVERS[0])
    world.queue_cutover(SERVERS[1])
    world.mgn.lifecycle[SERVERS[0]] = "READY_FOR_TEST"
    world.batcher.run()
    assert sorted(world.mgn.lifecycle_reads[0]) == sorted(SERVERS[:2])
    assert [(op, ids) for op, ids, _ in world.mgn.requests] == [("StartCutover", [SERVERS[1]])]
    refusal = [a for a in world.audit.records if a.action == "cutover-start-refused"]
    assert [a.subject for a in refusal] == [SERVERS[0]] and "READY_FOR_TEST" in refusal[0].reason


def test_cleanups_and_cutovers_go_before_test_launches_when_capacity_is_short(world: World) -> None:
    world.queue_tests(SERVERS[0])
    world.queue_cutover(SERVERS[1])
    world.mgn.active = [
        {"jobID": f"mgnjob-busy-{i}", "status": "STARTED", "participatingServers": []} for i in range(19)
    ]
    report = world.batcher.run()
    assert [op for op, _, _ in world.mgn.requests] == ["StartCutover"]
    assert SERVERS[0] in report.waiting
