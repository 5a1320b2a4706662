"""The cutover gate's parts, each driven on its own: the real gate store on an in-memory DynamoDB
(moto, no network), in-memory fakes for MGN, Step Functions, SSM, the health gate and people.

The whole flow (state machine, events, reconciler, emulated MGN) is tests/integration/test_cutover_gate.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mgn_pipeline.cutover.approval import GateApproval
from mgn_pipeline.cutover.completion import GateCompletion
from mgn_pipeline.cutover.config import CutoverConfig
from mgn_pipeline.cutover.errors import (
    CutoverVerificationFailed,
    CutoverVerificationPending,
    GateStateError,
    ReadinessWorsened,
    ReplicationNotReady,
)
from mgn_pipeline.cutover.evidence import ReadinessLimits, VerifiedTest
from mgn_pipeline.cutover.launching import GateLaunch
from mgn_pipeline.cutover.model import Decision, GateStatus, Outcome, token_ref
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.queue import CutoverQueue
from mgn_pipeline.cutover.readiness import GateReadiness
from mgn_pipeline.cutover.service import CutoverGate
from mgn_pipeline.cutover.store import GateStore
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.jobs.verification import InstanceFacts
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.trigger import RECONCILER
from tests.unit.fakes import (
    START,
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

SID = "s-1234567890abcdef0"
APPROVER = "arn:aws:iam::111122223333:role/MigrationLead"
OUTSIDER = "arn:aws:iam::111122223333:role/Developer"
MACHINE = "arn:aws:states:us-east-1:111122223333:stateMachine:gate"
PROFILE_ARN = "arn:aws:iam::111122223333:instance-profile/AWSApplicationMigrationLaunchInstanceWithSsmRole"


# ---------------------------------------------------------------------- in-memory fakes


class FakeGateway:
    """MGN's view of source servers (DescribeSourceServers), counted."""

    def __init__(self, server: SourceServer) -> None:
        self.servers = {server.server_id: server}
        self.reads = 0

    def get_server(self, server_id: str) -> SourceServer:
        self.reads += 1
        return self.servers[server_id]

    def update(self, server_id: str, **changes: Any) -> None:
        self.servers[server_id] = replace(self.servers[server_id], **changes)


@dataclass
class FakeStepFunctions:
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, token, error or output)
    started: list[str] = field(default_factory=list)
    gone_tokens: set[str] = field(default_factory=set)

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:  # noqa: N803
        self.started.append(name)
        return {"executionArn": stateMachineArn.replace(":stateMachine:", ":execution:") + f":{name}"}

    def send_task_success(self, taskToken: str, output: str) -> None:  # noqa: N803
        self._answer(taskToken)
        self.results.append(("success", taskToken, output))

    def send_task_failure(self, taskToken: str, error: str, cause: str) -> None:  # noqa: N803
        self._answer(taskToken)
        self.results.append(("failure", taskToken, error))

    def _answer(self, token: str) -> None:
        if token in self.gone_tokens:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "gone"}}, "SendTask")


@dataclass
class FakeSsm:
    started: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start_automation_execution(self, **request: Any) -> dict[str, str]:
        self.started.append(request)
        return {"AutomationExecutionId": f"auto-{len(self.started)}"}

    def stop_automation_execution(self, AutomationExecutionId: str) -> None:  # noqa: N803
        self.stopped.append(AutomationExecutionId)


# ---------------------------------------------------------------------- the gate on fakes
@dataclass
class Gate:
    gate: CutoverGate
    store: GateStore
    clock: FakeClock
    gateway: FakeGateway
    jobs: FakeJobs
    sfn: FakeStepFunctions
    ssm: FakeSsm
    health: FakeHealth
    audit: FakeAudit
    people: FakeNotifier
    verified: FakeVerifiedTests

    def status(self) -> GateStatus:
        record = self.store.get(SID)
        assert record is not None
        return record.status

    def at(self, status: GateStatus, **fields: Any) -> None:
        """Put attempt 1 of the gate at ``status`` (the state machine's earlier tasks done)."""
        self.store.open(SID, 1, "mgnjob-test", None, self.clock())
        started = {"executionArn": f"{MACHINE}:{SID}-1", **fields}
        self.store.transition(SID, 1, [GateStatus.OPENING], status, self.clock(), set_fields=started)


def _server(**changes: Any) -> SourceServer:
    ready = {
        "lifecycle": LifeCycleState.READY_FOR_CUTOVER,
        "hostname": "payments-db-01",
        "lag_duration": "PT5S",
        "last_test_job_id": "mgnjob-test",
    }
    return source_server(SID, **{**ready, **changes})


@pytest.fixture
def world(dynamodb: Any) -> Gate:
    create_table(dynamodb, "CutoverGateTable", "gates")
    config = CutoverConfig(
        gate_table="gates",
        health_table="health",
        state_machine_arn=MACHINE,
        approval_document="approve-cutover",
        approval_topic_arn="arn:aws:sns:us-east-1:111122223333:approvals",
        approvers=(APPROVER,),
        account_id="111122223333",
        allowed_subnet_ids=frozenset({"subnet-launch"}),
    )
    clock, gateway, jobs = FakeClock(), FakeGateway(_server()), FakeJobs()
    sfn, ssm, health, audit, people = (
        FakeStepFunctions(),
        FakeSsm(),
        FakeHealth(),
        FakeAudit(),
        FakeNotifier(),
    )
    verified = FakeVerifiedTests(VerifiedTest("mgnjob-test", clock() - timedelta(hours=2), 9, 9))
    store = GateStore(dynamodb, "gates")
    steps = GateTransitions(store=store, stepfunctions=lambda: sfn, now=clock)
    notices = GateNotices(audit=audit, notifier=lambda: people, gateway=gateway, now=clock)  # type: ignore[arg-type]
    instance = InstanceFacts(
        "i-cutover",
        "running",
        "10.0.2.15",
        (),
        "subnet-launch",
        frozenset(),
        "ok",
        "ok",
        instance_profile_arn=PROFILE_ARN,
    )
    gate = CutoverGate(
        steps=steps,
        readiness=GateReadiness(
            steps=steps,
            gateway=gateway,  # type: ignore[arg-type]
            health=health,
            notices=notices,
            config=config,
            test_evidence=verified,
        ),
        approval=GateApproval(steps=steps, gateway=gateway, ssm=lambda: ssm, notices=notices, config=config),  # type: ignore[arg-type]
        launch=GateLaunch(steps=steps, jobs=jobs, notices=notices),  # type: ignore[arg-type]
        completion=GateCompletion(
            steps=steps,
            queue=CutoverQueue(dynamodb, "gates"),
            gateway=gateway,  # type: ignore[arg-type]
            jobs=jobs,  # type: ignore[arg-type]
            launch_configurations=FakeLaunchConfigurations(),  # type: ignore[arg-type]
            instances=lambda: FakeInstances(instance),  # type: ignore[arg-type,return-value]
            prober=OpenPorts(),
            notices=notices,
            config=config,
        ),
    )
    return Gate(gate, store, clock, gateway, jobs, sfn, ssm, health, audit, people, verified)


@dataclass
class FakeVerifiedTests:
    """The launch queue's record of the passed test, as the readiness snapshot reads it."""

    test: VerifiedTest | None

    def passed_test(self, server_id: str, job_id: str | None) -> VerifiedTest | None:
        return self.test if self.test and job_id in (None, self.test.job_id) else None


def _decision(outcome: Outcome, approver: str | None) -> Decision:
    return Decision("auto-1", outcome, token_ref(SID, 1), approver, START.isoformat(), "change CHG-1")


def _waiting_for_approval(world: Gate) -> None:
    world.at(GateStatus.OPENING)
    world.gate.approval.request_approval(SID, 1, "token-approval", f"{MACHINE}:{SID}-1")


# ---------------------------------------------------------------------- opening and readiness
def test_the_first_precheck_checks_what_mgn_answered_at_the_opening_a_later_one_reads_mgn(
    world: Gate,
) -> None:
    world.gate.start(SID, "mgnjob-test", observed=_server(lag_duration="PT3S"))
    assert world.gate.readiness.precheck(SID, 1)["lag"] == "PT3S"
    assert world.gateway.reads == 0
    world.clock.advance(180)  # a precheck after a wait, or a retry minutes later
    assert world.gate.readiness.precheck(SID, 1)["lag"] == "PT5S"
    assert world.gateway.reads == 1


def test_what_mgn_answered_at_the_opening_is_checked_like_a_read(world: Gate) -> None:
    world.gate.start(SID, "mgnjob-test", observed=_server(lag_duration="PT1200S"))
    with pytest.raises(ReplicationNotReady, match="lag 1200 s"):
        world.gate.readiness.precheck(SID, 1)


def test_a_verified_test_opens_one_gate_and_a_repeat_does_nothing(world: Gate) -> None:
    world.gate.start(SID, "mgnjob-test")
    world.gate.start(SID, "mgnjob-test")
    assert world.sfn.started == [f"{SID}-1"]
    assert world.audit.actions() == ["cutover-gate-opened"]
    record = world.store.get(SID)
    assert record is not None and record.execution_arn and record.execution_arn.endswith(f"{SID}-1")


def test_a_new_verified_test_reopens_a_closed_gate_as_the_next_attempt(world: Gate) -> None:
    world.at(GateStatus.REJECTED)
    assert "closed" in world.gate.follow(world.gateway.servers[SID], RECONCILER)
    world.gateway.update(SID, last_test_job_id="mgnjob-retest")
    world.gate.follow(world.gateway.servers[SID], RECONCILER)
    record = world.store.get(SID)
    assert record is not None and (record.attempt, record.test_job_id) == (2, "mgnjob-retest")


def test_a_parked_wait_is_resolved_only_when_network_and_replication_are_ready(world: Gate) -> None:
    world.at(GateStatus.OPENING)
    world.gate.readiness.wait_ready(
        SID, 1, "token-wait", {"Error": "ReplicationNotReady", "Cause": "lag 20 min"}
    )
    assert world.status() is GateStatus.WAITING_READY
    world.health.green, world.health.reasons = False, ["mgn endpoint has no private DNS"]
    world.gateway.update(SID, replication=ReplicationState.STALLED)
    answer = world.gate.follow(world.gateway.servers[SID], RECONCILER)
    assert "private DNS" in answer and "STALLED" in answer and world.sfn.results == []

    world.health.green = True
    world.gateway.update(SID, replication=ReplicationState.CONTINUOUS)
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "ready"
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "cutover gate at OPENING"
    assert [kind for kind, _, _ in world.sfn.results] == ["success"]
    assert world.status() is GateStatus.OPENING


def test_blocked_gate_tells_people_how_to_fix_it(world: Gate) -> None:
    world.at(GateStatus.WAITING_READY, reason="replication STALLED")
    world.gate.readiness.record_blocked(SID, 1)
    assert world.status() is GateStatus.BLOCKED
    assert world.people.told == [("cutover-blocked", "Cutover gate of payments-db-01 closed: never ready")]


# ---------------------------------------------------------------------- approval
def test_approval_is_asked_once_per_attempt_with_the_runbook_parameters(world: Gate) -> None:
    _waiting_for_approval(world)
    (request,) = world.ssm.started
    assert request["DocumentName"] == "approve-cutover"
    assert request["Parameters"]["Hostname"] == ["payments-db-01"]
    assert request["Parameters"]["TaskTokenRef"] == [token_ref(SID, 1)]
    assert request["Parameters"]["Approvers"] == [APPROVER]
    assert world.status() is GateStatus.WAITING_APPROVAL


def test_an_allowed_approval_is_applied_once_and_names_the_person(world: Gate) -> None:
    _waiting_for_approval(world)
    record = world.store.get(SID)
    assert record is not None
    decision = _decision(Outcome.APPROVED, APPROVER)
    assert world.gate.approval.apply_decision(record, decision, "ssm:Success").startswith("cutover-approved")
    assert world.gate.approval.apply_decision(record, decision, "reconcile") == "decision already applied"
    assert world.status() is GateStatus.APPROVED
    assert [(kind, token) for kind, token, _ in world.sfn.results] == [("success", "token-approval")]
    approved = world.audit.records[-1]
    assert (approved.action, approved.actor, approved.trigger) == (
        "cutover-approved",
        APPROVER,
        "ssm:Success",
    )


def test_an_approval_by_someone_outside_the_list_cuts_nothing_over(world: Gate) -> None:
    _waiting_for_approval(world)
    record = world.store.get(SID)
    assert record is not None
    world.gate.approval.apply_decision(record, _decision(Outcome.APPROVED, OUTSIDER), "ssm:Success")
    assert world.status() is GateStatus.REFUSED
    assert world.sfn.results == [("failure", "token-approval", "ApproverNotAllowed")]
    assert world.people.told[-1][0] == "cutover-approval-refused"
    with pytest.raises(GateStateError):
        world.gate.launch.start_cutover(SID, 1, "token-cutover")


def test_the_state_machine_s_own_timeout_stops_the_unanswered_approval(world: Gate) -> None:
    _waiting_for_approval(world)
    world.gate.approval.record_rejection(SID, 1, {"Error": "States.Timeout"})
    assert world.status() is GateStatus.TIMED_OUT
    assert world.ssm.stopped == ["auto-1"]
    assert world.people.told[-1] == (
        "cutover-not-approved",
        "Cutover of payments-db-01 not approved (no decision within the approval timeout)",
    )


# ---------------------------------------------------------------------- launch
def _approved(world: Gate) -> None:
    _waiting_for_approval(world)
    record = world.store.get(SID)
    assert record is not None
    world.gate.approval.apply_decision(record, _decision(Outcome.APPROVED, APPROVER), "ssm:Success")


def test_one_approval_queues_one_cutover_even_when_the_task_is_retried(world: Gate) -> None:
    _approved(world)
    assert world.gate.launch.start_cutover(SID, 1, "token-cutover") == {"queued": True}
    retried = world.gate.launch.start_cutover(SID, 1, "token-cutover-retry")
    assert retried == {"jobId": None, "queued": True, "retried": True}
    assert world.audit.actions().count("cutover-queued") == 1
    assert world.audit.records[-1].actor == APPROVER
    record = world.store.get(SID)
    assert record is not None and record.task_token == "token-cutover-retry"


def _launching(world: Gate, launch_status: str) -> None:
    _approved(world)
    world.gate.launch.start_cutover(SID, 1, "token-cutover")
    world.store.transition(
        SID,
        1,
        [GateStatus.CUTTING_OVER],
        GateStatus.CUTTING_OVER,
        world.clock(),
        set_fields={"cutoverJobId": "mgnjob-c"},
    )
    world.jobs.jobs["mgnjob-c"] = {
        "status": "STARTED",
        "participatingServers": [
            {"sourceServerID": SID, "launchStatus": launch_status, "launchedEc2InstanceID": "i-cutover"}
        ],
    }


def test_a_launched_cutover_resolves_the_waiting_task_with_its_instance(world: Gate) -> None:
    _launching(world, "PENDING")
    assert "in progress" in world.gate.follow(world.gateway.servers[SID], RECONCILER)
    _, token, output = world.sfn.results[-1]
    assert token == "token-approval"  # only the approval so far
    world.jobs.jobs["mgnjob-c"]["participatingServers"][0]["launchStatus"] = "LAUNCHED"
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "cutover launched"
    kind, token, output = world.sfn.results[-1]
    assert (kind, token, json.loads(output)["instanceId"]) == ("success", "token-cutover", "i-cutover")
    assert world.status() is GateStatus.LAUNCHED


def test_a_failed_launch_fails_the_task_with_the_job_log_s_reason(world: Gate) -> None:
    _launching(world, "FAILED")
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "cutover launch failed"
    assert world.sfn.results[-1] == ("failure", "token-cutover", "CutoverLaunchFailed")
    record = world.store.get(SID)
    assert record is not None and "no free addresses" in (record.reason or "")


def test_a_result_the_execution_no_longer_waits_for_is_dropped_not_retried(world: Gate) -> None:
    _launching(world, "LAUNCHED")
    world.sfn.gone_tokens.add("token-cutover")
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "cutover launched"
    record = world.store.get(SID)
    assert record is not None and record.outbox is None


# ---------------------------------------------------------------------- verify, finalize, roll back
def test_a_cutover_without_post_launch_actions_is_verified_from_the_launch_s_word_alone(world: Gate) -> None:
    _launching(world, "LAUNCHED")
    world.gateway.update(SID, tags={"app-ports": "5432"})
    assert world.gate.follow(world.gateway.servers[SID], RECONCILER) == "cutover launched"
    reads = (world.gateway.reads, world.jobs.job_reads)
    world.gateway.update(SID, tags={})  # what the verification checks is what the launch saw
    assert world.gate.completion.verify(SID, 1) == {"verified": True, "instanceId": "i-cutover"}
    assert (world.gateway.reads, world.jobs.job_reads) == reads  # no DescribeSourceServers, no DescribeJobs
    record = world.store.get(SID)
    assert record is not None and record.tags_at_launch == {"app-ports": "5432"}


def test_post_launch_actions_on_the_cutover_are_verified_from_the_job_as_it_is_now(world: Gate) -> None:
    world.gate.completion._launch_configurations = FakeLaunchConfigurations(  # type: ignore[assignment]
        actions={"deployment": "TEST_AND_CUTOVER", "ssmDocuments": [{"actionName": "smoke"}]}
    )
    _launching(world, "LAUNCHED")
    world.gate.follow(world.gateway.servers[SID], RECONCILER)
    with pytest.raises(CutoverVerificationPending, match="smoke"):
        world.gate.completion.verify(SID, 1)  # the launch's entry has no status for it yet
    world.jobs.jobs["mgnjob-c"]["participatingServers"][0]["postLaunchActionsStatus"] = {
        "ssmAgentDiscoveryDatetime": "2026-01-05T08:20:00Z",
        "postLaunchActionsLaunchStatusList": [
            {"ssmDocument": {"actionName": "smoke"}, "executionStatus": "SUCCESS"}
        ],
    }
    reads = world.jobs.job_reads
    assert world.gate.completion.verify(SID, 1)["verified"] is True
    assert world.jobs.job_reads == reads + 1


def test_a_cutover_instance_without_an_instance_profile_fails_when_post_launch_actions_apply(
    world: Gate,
) -> None:
    world.gate.completion._launch_configurations = FakeLaunchConfigurations(  # type: ignore[assignment]
        actions={"deployment": "CUTOVER_ONLY", "ssmDocuments": [{"actionName": "smoke"}]}
    )
    world.at(GateStatus.LAUNCHED, instanceId="i-cutover", cutoverJobId="mgnjob-c")
    world.gate.completion._instances = lambda: FakeInstances(  # type: ignore[method-assign]
        InstanceFacts("i-cutover", "running", "10.0.2.15", (), "subnet-launch", frozenset(), "ok", "ok")
    )
    with pytest.raises(
        CutoverVerificationFailed, match=r"instance profile: none attached.*IamInstanceProfile"
    ):
        world.gate.completion.verify(SID, 1)


def test_a_verified_cutover_is_finalized_once_and_people_are_told(world: Gate) -> None:
    world.at(GateStatus.LAUNCHED, instanceId="i-cutover", cutoverJobId="mgnjob-c")
    assert world.gate.completion.verify(SID, 1) == {"verified": True, "instanceId": "i-cutover"}
    world.gate.completion.finalize(SID, 1)
    world.gate.completion.finalize(SID, 1)
    assert world.jobs.writes == [("FinalizeCutover", SID)]
    assert world.status() is GateStatus.DONE
    assert world.people.told == [("cutover-done", "Cutover done: payments-db-01")]


def test_an_instance_in_the_wrong_subnet_fails_verification_and_is_not_finalized(world: Gate) -> None:
    world.at(GateStatus.LAUNCHED, instanceId="i-cutover", cutoverJobId="mgnjob-c")
    world.gate.completion._instances = lambda: FakeInstances(  # type: ignore[method-assign]
        InstanceFacts("i-cutover", "running", "10.9.0.4", (), "subnet-other", frozenset(), "ok", "ok")
    )
    with pytest.raises(CutoverVerificationFailed, match="subnet-other"):
        world.gate.completion.verify(SID, 1)
    with pytest.raises(GateStateError):
        world.gate.completion.finalize(SID, 1)
    assert world.jobs.writes == []


def test_rollback_reverts_the_lifecycle_then_terminates_only_this_attempt_s_instance(world: Gate) -> None:
    world.at(GateStatus.LAUNCHED, instanceId="i-cutover", cutoverJobId="mgnjob-c")
    world.gateway.update(SID, lifecycle=LifeCycleState.CUTTING_OVER, launched_instance_id="i-cutover")
    error = {"Error": "CutoverVerificationFailed", "Cause": json.dumps({"errorMessage": "port 5432 closed"})}
    result = world.gate.completion.rollback(SID, 1, error)
    assert result == {"rolledBack": True, "reason": "port 5432 closed", "terminated": "i-cutover"}
    assert world.jobs.writes == [
        ("ChangeServerLifeCycleState", "READY_FOR_CUTOVER"),
        ("TerminateTargetInstances", SID),
    ]
    assert world.gate.completion.rollback(SID, 1, error) == {"rolledBack": True}
    assert len(world.jobs.writes) == 2


def test_rollback_leaves_alone_an_instance_someone_else_launched(world: Gate) -> None:
    world.at(GateStatus.LAUNCHED, instanceId="i-cutover", cutoverJobId="mgnjob-c")
    world.gateway.update(SID, launched_instance_id="i-launched-by-a-person")
    assert (
        world.gate.completion.rollback(SID, 1, {"Error": "CutoverVerificationFailed"})["terminated"] is None
    )
    assert world.jobs.writes == []
    assert world.status() is GateStatus.ROLLED_BACK


# ---------------------------------------------------------------------- readiness snapshots
def _approved_on_a_snapshot(world: Gate) -> None:
    """Precheck, approval asked on its snapshot, approved: the state machine up to the recheck."""
    world.gate.start(SID, "mgnjob-test", observed=_server())
    facts = world.gate.readiness.precheck(SID, 1)
    world.gate.approval.request_approval(SID, 1, "token-approval", f"{MACHINE}:{SID}-1", facts)
    record = world.store.get(SID)
    assert record is not None
    world.gate.approval.apply_decision(record, _decision(Outcome.APPROVED, APPROVER), "ssm:Success")


def test_the_approval_is_asked_on_a_snapshot_kept_with_the_gate(world: Gate) -> None:
    _approved_on_a_snapshot(world)
    (request,) = world.ssm.started
    shown = request["Parameters"]["Readiness"][0]
    assert "lag 5 s" in shown and "test mgnjob-test: 9/9 checks passed, verified 2 h ago" in shown
    record = world.store.get(SID)
    assert record is not None and record.approval_readiness is not None
    assert record.approval_readiness["test"]["jobId"] == "mgnjob-test"


def test_test_evidence_aged_past_the_limit_since_approval_stops_the_cutover(world: Gate) -> None:
    _approved_on_a_snapshot(world)
    limit = ReadinessLimits().test_evidence_max_age_days
    world.clock.advance(limit * 86400)  # approved, then left until the evidence is too old
    with pytest.raises(ReadinessWorsened, match=f"over the {limit}-day limit"):
        world.gate.readiness.recheck(SID, 1)
    assert world.gate.readiness.ask_again(SID, 1) == {"askedAgain": True}
    assert world.status() is GateStatus.OPENING
    record = world.store.get(SID)
    assert record is not None and record.task_token is None and record.automation_execution_id is None
    worse = next(r for r in world.audit.records if r.action == "cutover-readiness-worsened")
    assert worse.details["approved"]["test"] == worse.details["atCutover"]["test"]
    assert worse.details["atCutover"]["takenAt"] > worse.details["approved"]["takenAt"]
    assert [kind for kind, subject in world.people.told if "readiness got worse" in subject] == [
        "cutover-reapproval"
    ]
    # A retried task does not tell twice; the next request is a new SSM execution, not the old one.
    assert world.gate.readiness.ask_again(SID, 1) == {"askedAgain": True}
    assert len([s for _, s in world.people.told if "readiness got worse" in s]) == 1
    facts = world.gate.readiness.precheck(SID, 1)
    world.gate.approval.request_approval(SID, 1, "token-again", f"{MACHINE}:{SID}-1", facts)
    first, second = world.ssm.started
    assert first["ClientToken"] != second["ClientToken"]
    assert "verified 7.1 days ago" in second["Parameters"]["Readiness"][0]


def test_readiness_no_worse_than_approved_is_kept_with_the_queued_cutover(world: Gate) -> None:
    _approved_on_a_snapshot(world)
    world.clock.advance(600)
    world.gateway.update(SID, lag_duration="PT200S")  # grown, but within the limit
    rechecked = world.gate.readiness.recheck(SID, 1)
    world.gate.launch.start_cutover(SID, 1, "token-cutover", rechecked["snapshot"])
    confirmed = world.audit.records[-1]
    assert confirmed.action == "cutover-queued"
    assert (confirmed.details["approved"]["lagSeconds"], confirmed.details["atCutover"]["lagSeconds"]) == (
        5.0,
        200.0,
    )


def test_a_cutover_whose_ssm_agent_never_registers_fails_after_the_grace_with_the_fixes(world: Gate) -> None:
    world.gate.completion._launch_configurations = FakeLaunchConfigurations(  # type: ignore[assignment]
        actions={"deployment": "TEST_AND_CUTOVER", "ssmDocuments": [{"actionName": "smoke"}]}
    )
    _launching(world, "LAUNCHED")
    world.gate.follow(world.gateway.servers[SID], RECONCILER)  # LAUNCHED: the launch is seen now
    world.clock.advance(10 * 60)
    with pytest.raises(CutoverVerificationPending, match="not registered with Systems Manager yet"):
        world.gate.completion.verify(SID, 1)
    world.clock.advance(6 * 60)  # past the 15-minute grace, counted from the launch, not the first verify
    with pytest.raises(CutoverVerificationFailed, match=r"AmazonSSMManagedInstanceCore.*ssmmessages"):
        world.gate.completion.verify(SID, 1)
