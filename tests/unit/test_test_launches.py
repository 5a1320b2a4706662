"""The test launcher on its own: START_TEST queues only a server that may be tested, VERIFY_TEST
follows the job, verifies the instance, and either marks the server ready for cutover and opens the
gate, or retries, and after the last attempt asks a person. The launch queue is the real one on an
in-memory DynamoDB (moto); MGN, EC2, the health gate and the gate are in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from mgn_pipeline.jobs.verification import InstanceFacts
from mgn_pipeline.launches.config import CleanupMode, TestLaunchConfig
from mgn_pipeline.launches.model import LaunchStatus
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.launches.service import TestLaunches
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.trigger import RECONCILER
from tests.unit.fakes import (
    FakeAudit,
    FakeClock,
    FakeHealth,
    FakeInstances,
    FakeJobs,
    FakeLaunchConfigurations,
    FakeNotifier,
    OpenPorts,
    source_server,
)
from tests.unit.tables import create_table

SID = "s-00000000000000001"
RUNNING = InstanceFacts("i-test", "running", "10.0.2.9", (), "subnet-launch", frozenset(), "ok", "ok")


@dataclass
class FakeGate:
    opened: list[tuple[str, str]] = field(default_factory=list)

    def start(
        self, server_id: str, test_job_id: str, observed: object = None, verified_test: object = None
    ) -> None:
        self.opened.append((server_id, test_job_id))


@dataclass
class World:
    launches: TestLaunches
    queue: LaunchQueue
    jobs: FakeJobs
    health: FakeHealth
    instances: FakeInstances
    gate: FakeGate
    audit: FakeAudit
    people: FakeNotifier
    clock: FakeClock
    scope: set[str]

    def item_status(self) -> LaunchStatus:
        item = self.queue.get(SID)
        assert item is not None
        return item.status

    def launched_by_batcher(self, job_id: str, launch_status: str = "LAUNCHED") -> SourceServer:
        """What the batcher and MGN did between two reconciles: claimed, StartTest, the job's state."""
        item = self.queue.get(SID)
        assert item is not None and self.queue.claim(item, "claim-1", self.clock())
        claimed = self.queue.get(SID)
        assert claimed is not None and self.queue.launched(claimed, "claim-1", job_id, self.clock())
        self.jobs.jobs[job_id] = {
            "status": "STARTED",
            "participatingServers": [
                {"sourceServerID": SID, "launchStatus": launch_status, "launchedEc2InstanceID": "i-test"}
            ],
        }
        return _server(
            lifecycle=LifeCycleState.TESTING, last_test_job_id=job_id, launched_instance_id="i-test"
        )


def _server(**changes: Any) -> SourceServer:
    return source_server(SID, **{"hostname": "erp-app-01", "tags": {"wave": "w1"}, **changes})


@pytest.fixture
def world(dynamodb: Any) -> World:
    create_table(dynamodb, "LaunchQueueTable", "launch-queue")
    config = TestLaunchConfig(
        queue_table="launch-queue",
        health_table="health",
        allowed_subnet_ids=frozenset({"subnet-launch"}),
        max_attempts=2,
        cleanup=CleanupMode.TERMINATE,
    )
    jobs, health, instances = (
        FakeJobs(failure="LAUNCH_FAILED: InsufficientInstanceCapacity"),
        FakeHealth(),
        FakeInstances(RUNNING),
    )
    gate, audit, people, clock, scope = FakeGate(), FakeAudit(), FakeNotifier(), FakeClock(), {SID}
    queue = LaunchQueue(dynamodb, "launch-queue")
    launches = TestLaunches(
        queue=queue,
        jobs=jobs,  # type: ignore[arg-type]
        launch_configurations=FakeLaunchConfigurations(),  # type: ignore[arg-type]
        instances=lambda: instances,  # type: ignore[arg-type,return-value]
        health=health,
        prober=OpenPorts(),
        gate=gate,
        audit=audit,  # type: ignore[arg-type]
        notifier=lambda: people,  # type: ignore[arg-type,return-value]
        config=config,
        launch_blocked=lambda server: [],
        in_scope=lambda server: server.server_id in scope,
        now=clock,
    )
    return World(launches, queue, jobs, health, instances, gate, audit, people, clock, scope)


def test_a_server_outside_the_migration_scope_is_never_queued(world: World) -> None:
    world.scope.clear()
    assert "out of scope" in world.launches.start(_server(), RECONCILER)
    assert world.queue.get(SID) is None and world.audit.records == []


def test_a_red_network_blocks_the_test_and_is_recorded_once_not_every_reconcile(world: World) -> None:
    world.health.green, world.health.reasons = False, ["mgn endpoint: no private DNS"]
    for _ in range(3):
        assert "blocked" in world.launches.start(_server(), RECONCILER)
    assert world.item_status() is LaunchStatus.BLOCKED
    assert world.audit.actions() == ["test-launch-blocked"]
    world.health.green = True
    assert world.launches.start(_server(), RECONCILER) == "queued for a test launch (attempt 1)"
    assert world.item_status() is LaunchStatus.QUEUED


def test_replication_that_is_not_continuous_blocks_the_test(world: World) -> None:
    answer = world.launches.start(_server(replication=ReplicationState.INITIAL_SYNC), RECONCILER)
    assert "INITIAL_SYNC, not CONTINUOUS" in answer


def test_a_verified_test_marks_the_server_ready_for_cutover_and_opens_the_gate_once(world: World) -> None:
    world.launches.start(_server(), RECONCILER)
    testing = world.launched_by_batcher("mgnjob-t1")
    assert world.launches.verify(testing, RECONCILER).startswith("test passed (job mgnjob-t1)")
    assert world.jobs.lifecycle_changes == ["READY_FOR_CUTOVER"]
    assert world.gate.opened == [(SID, "mgnjob-t1")]
    assert world.audit.actions() == [
        "test-launch-queued",
        "test-launch-succeeded",
        "test-verification-passed",
        "marked-ready-for-cutover",
    ]
    assert {r.actor for r in world.audit.records} == {"pipeline"}
    # The Launch Result event and the reconciler both come by: the gate tolerates the repeat.
    world.launches.verify(
        _server(lifecycle=LifeCycleState.READY_FOR_CUTOVER, last_test_job_id="mgnjob-t1"), RECONCILER
    )
    assert world.jobs.lifecycle_changes == ["READY_FOR_CUTOVER"]


def test_a_booting_instance_is_pending_until_the_verify_timeout_then_fails(world: World) -> None:
    world.instances.facts_of = replace(RUNNING, state="pending", instance_status=None, system_status=None)
    world.launches.start(_server(), RECONCILER)
    testing = world.launched_by_batcher("mgnjob-t1")
    assert world.launches.verify(testing, RECONCILER).startswith("verification pending")
    world.clock.advance(int(timedelta(minutes=61).total_seconds()))
    answer = world.launches.verify(testing, RECONCILER)
    assert (
        answer.startswith("test attempt 1 of 2 failed; attempt 2 queued")
        and "not ready after 61 minutes" in answer
    )
    assert world.jobs.lifecycle_changes == ["READY_FOR_TEST"]
    assert world.gate.opened == [] and world.people.told == []


def test_the_last_failed_attempt_stops_and_asks_a_person(world: World) -> None:
    world.launches.start(_server(), RECONCILER)
    world.launches.verify(world.launched_by_batcher("mgnjob-t1", "FAILED"), RECONCILER)
    assert world.item_status() is LaunchStatus.QUEUED  # attempt 2, after the cleanup
    item = world.queue.get(SID)
    assert item is not None and item.attempt == 2
    world.launches.verify(world.launched_by_batcher("mgnjob-t2", "FAILED"), RECONCILER)
    assert world.item_status() is LaunchStatus.FAILED
    assert world.people.told == [
        ("test-needs-person", "Test launch of erp-app-01 needs a person: 2 attempts failed")
    ]
    assert "needs a person" in world.launches.start(_server(), RECONCILER)
    assert world.gate.opened == []


def test_a_test_a_person_launched_in_the_console_is_adopted_and_verified(world: World) -> None:
    world.jobs.jobs["mgnjob-console"] = {
        "status": "STARTED",
        "participatingServers": [
            {"sourceServerID": SID, "launchStatus": "LAUNCHED", "launchedEc2InstanceID": "i-test"}
        ],
    }
    testing = _server(
        lifecycle=LifeCycleState.TESTING, last_test_job_id="mgnjob-console", launched_instance_id="i-test"
    )
    assert world.launches.verify(testing, RECONCILER).startswith("test passed (job mgnjob-console)")
    assert world.audit.actions()[0] == "test-launch-adopted"
    assert world.gate.opened == [(SID, "mgnjob-console")]


def test_an_ssm_agent_that_never_registers_fails_the_test_after_the_grace_period(world: World) -> None:
    world.launches._launch_configurations = FakeLaunchConfigurations(  # type: ignore[assignment]
        actions={"deployment": "TEST_ONLY", "ssmDocuments": [{"actionName": "smoke"}]}
    )
    profile = "arn:aws:iam::111122223333:instance-profile/app"
    world.instances.facts_of = replace(RUNNING, instance_profile_arn=profile)
    world.launches.start(_server(), RECONCILER)
    testing = world.launched_by_batcher("mgnjob-t1")
    pending = world.launches.verify(testing, RECONCILER)
    assert pending.startswith("verification pending") and "SSM agent not registered" in pending
    world.clock.advance(int(timedelta(minutes=16).total_seconds()))  # the grace (15) counts from the launch
    answer = world.launches.verify(testing, RECONCILER)
    assert answer.startswith("test attempt 1 of 2 failed")
    assert "SSM agent registration: SSM agent not registered with Systems Manager 16 minutes" in answer
    assert "attach the AmazonSSMManagedInstanceCore policy to app's role" in answer
    assert world.gate.opened == []
