"""The cutover gate end to end on the local cloud: the state machine in moto's interpreter, the real
handlers, approvals in the emulated SSM Automation console, MGN events through the template's rules."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


from localcloud.cloud import APPROVER
from localcloud.gate import APPROVER_SESSION, OUTSIDER, CutoverCloud, cutover_cloud
from localcloud.ssm import STEP_STATUS_CHANGE
from localcloud.template import Template

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture
def env() -> Iterator[CutoverCloud]:
    with cutover_cloud() as cloud:
        yield cloud


def _audit(env: CutoverCloud, server_id: str) -> list[dict[str, Any]]:
    return [a for a in env.cloud.audit() if a["subject"] == server_id]


def _actions(env: CutoverCloud, server_id: str) -> list[str]:
    return [a["action"] for a in _audit(env, server_id)]


def _subjects(env: CutoverCloud) -> list[str]:
    return [str(n["subject"]) for n in env.cloud.read_notices()]


def test_approved_cutover_is_verified_finalized_and_audited(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"
    assert env.mgn_calls("StartCutover") == 0
    execution = env.ssm.execution(env.automation_id(sid))
    # The console shows the runbook waiting for the configured approvers, with an SNS notice.
    assert execution.steps[0].approvers == [APPROVER]
    assert execution.steps[0].notification is not None
    assert "taskToken" not in json.dumps(execution.parameters)
    assert env.gate(sid)["taskToken"] not in json.dumps(execution.parameters)

    env.decide(sid, "Approve", comment="CHG-1234 approved")
    env.advance(600)
    env.settle()

    assert env.execution(sid)["status"] == "SUCCEEDED"
    assert env.transitions(sid) <= 25
    assert env.mgn_calls("StartCutover", sid) == 1
    assert env.mgn_calls("FinalizeCutover", sid) == 1
    server = env.mgn.server(sid)
    assert (server.lifecycle, server.repl_state) == ("CUTOVER", "DISCONNECTED")
    approved = next(a for a in _audit(env, sid) if a["action"] == "cutover-approved")
    details = json.loads(approved["details"])
    assert approved["actor"] == APPROVER_SESSION
    assert (details["decision"], details["comment"]) == ("APPROVED", "CHG-1234 approved")
    assert details["time"]
    # (The test instance's cleanup, started by the launch batcher meanwhile, is its own record.)
    assert [a for a in _actions(env, sid) if a.startswith("cutover-")][-6:] == [
        "cutover-approval-requested",
        "cutover-approved",
        "cutover-queued",
        "cutover-started",
        "cutover-verification-passed",
        "cutover-finalized",
    ]
    gate = env.gate(sid)
    assert gate["status"] == "DONE" and "taskToken" not in gate


def test_rejection_leaves_the_server_ready_for_cutover_and_does_nothing_else(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    env.decide(sid, "Reject", comment="freeze window")
    env.advance(900)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"  # ended as designed: not approved
    assert env.gate(sid)["status"] == "REJECTED"
    assert env.mgn_calls("StartCutover") == 0
    assert env.mgn.server(sid).lifecycle == "READY_FOR_CUTOVER"
    rejected = next(a for a in _audit(env, sid) if a["action"] == "cutover-rejected")
    assert rejected["actor"] == APPROVER_SESSION and rejected["reason"] == "freeze window"
    assert any("not approved" in s for s in _subjects(env))
    # The reconciler does not ask again for the same test.
    env.advance(3600)
    assert env.gate(sid)["attempt"] == "1"


def test_no_decision_in_7_days_is_a_rejection(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    env.reconcile_every_s = env.batcher_every_s = 6 * 3600
    env.advance(SEVEN_DAYS + 3600)
    env.settle()
    assert env.gate(sid)["status"] == "TIMED_OUT"
    assert env.execution(sid)["status"] == "SUCCEEDED"
    assert env.mgn_calls("StartCutover") == 0
    assert "cutover-approval-timed-out" in _actions(env, sid)


def test_only_allowed_principals_approve(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    with pytest.raises(Exception, match="not an approver"):
        env.decide(sid, "Approve", principal=OUTSIDER)
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"
    # The bridge checks the decision against its own list too (here narrowed after the request).
    env.cloud.stack.functions.override_environment(
        "ApprovalBridgeFunction", {"APPROVER_PRINCIPAL_ARNS": "arn:aws:iam::111122223333:role/Other"}
    )
    env.decide(sid, "Approve")
    env.advance(600)
    env.settle()
    assert env.gate(sid)["status"] == "REFUSED"
    assert env.mgn_calls("StartCutover") == 0
    assert "cutover-approval-refused" in _actions(env, sid)


def test_a_lost_approval_event_is_bridged_by_the_reconciler_and_a_duplicate_does_nothing(
    env: CutoverCloud,
) -> None:
    [sid] = env.ready_servers(1)
    env.cloud.bus.drop_next(1, detail_type=STEP_STATUS_CHANGE)
    env.decide(sid, "Approve")
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"  # the event was lost
    env.advance(300)  # one reconcile: one GetAutomationExecution for the waiting gate
    env.advance(600)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"
    # The same event again (EventBridge redelivers) changes nothing.
    step_event = next(e for e in reversed(env.ssm.events) if e["detail-type"] == STEP_STATUS_CHANGE)
    env.cloud.bus.put_events(step_event)
    env.run_events()
    assert env.mgn_calls("StartCutover", sid) == 1
    assert _actions(env, sid).count("cutover-approved") == 1


def test_launch_failure_rolls_back_and_the_source_keeps_replicating(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    env.mgn.fail_next_launch(sid, "Failed to launch target instance: InsufficientInstanceCapacity")
    env.decide(sid, "Approve")
    env.advance(600)
    env.settle()
    result = env.execution(sid)
    assert (result["status"], result.get("error")) == ("FAILED", "CutoverRolledBack")
    server = env.mgn.server(sid)
    assert (server.lifecycle, server.repl_state) == ("READY_FOR_CUTOVER", "CONTINUOUS")
    assert env.gate(sid)["status"] == "ROLLED_BACK"
    rolled = next(a for a in _audit(env, sid) if a["action"] == "cutover-rolled-back")
    assert "InsufficientInstanceCapacity" in rolled["reason"]
    assert any("rolled back" in s for s in _subjects(env))
    assert env.mgn_calls("FinalizeCutover") == 0


def test_failed_verification_terminates_the_instance_and_rolls_back(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1, tags={"mgn-pipeline:app-ports": "443"})
    env.prober.closed.add(443)
    env.decide(sid, "Approve")
    env.advance(900)
    env.settle()
    assert env.execution(sid)["error"] == "CutoverRolledBack"
    gate = env.gate(sid)
    instance = gate["instanceId"]
    assert gate["status"] == "ROLLED_BACK"
    env.advance(300)
    server = env.mgn.server(sid)
    assert (server.lifecycle, server.repl_state) == ("READY_FOR_CUTOVER", "CONTINUOUS")
    # One for the test instance (the launch batcher's cleanup), one for the failed cutover instance.
    assert env.mgn_calls("TerminateTargetInstances", sid) == 2
    ec2 = env.mgn.backend.ec2.client
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    rolled = next(a for a in _audit(env, sid) if a["action"] == "cutover-rolled-back")
    assert "TCP 443" in rolled["reason"]
    assert env.mgn_calls("FinalizeCutover") == 0


def test_stalled_replication_after_approval_waits_and_continues_without_bothering_anyone(
    env: CutoverCloud,
) -> None:
    [sid] = env.ready_servers(1)
    record = env.mgn.server(sid)
    env.mgn.backend.replication._stall(record)
    env.decide(sid, "Approve")
    assert env.gate(sid)["status"] == "WAITING_REPLICATION"
    assert env.mgn_calls("StartCutover") == 0
    # The pipeline continues by itself: status and the audit trail show the wait, no inbox does.
    assert not any("wait" in s for s in _subjects(env))
    assert "cutover-waiting-for-readiness" in _actions(env, sid)
    env.advance(900)
    assert env.gate(sid)["status"] == "WAITING_REPLICATION"  # still stalled: no polling, no launch
    env.mgn.backend.replication.configuration_changed(record, {})  # the network is fixed
    env.advance(900)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"
    assert env.mgn_calls("StartCutover", sid) == 1


def test_red_network_health_before_asking_waits_without_asking(env: CutoverCloud) -> None:
    env.network_green = False
    env.healthy_network("FAIL")
    [sid] = env.ready_servers(1)
    assert env.gate(sid)["status"] == "WAITING_READY"
    assert env.ssm.executions == {}
    env.network_green = True
    env.advance(300)
    env.settle()  # the execution moves on in moto's real-time thread
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"


def test_cli_approves_through_the_same_record(env: CutoverCloud, capsys: pytest.CaptureFixture[str]) -> None:
    from mgn_pipeline_ops.cli import cutover

    [sid] = env.ready_servers(1)
    table = env.cloud.stack.refs["CutoverGateTable"]
    assert cutover.main(["status", sid, "--table", table]) == 0
    assert "WAITING_APPROVAL" in capsys.readouterr().out
    with env.ssm.acting_as(APPROVER_SESSION):
        assert cutover.main(["approve", sid, "--table", table, "--comment", "from the terminal"]) == 0
    env.run_events()
    env.advance(600)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"
    approved = next(a for a in _audit(env, sid) if a["action"] == "cutover-approved")
    assert json.loads(approved["details"])["comment"] == "from the terminal"


def test_the_runbook_waits_on_aws_approve_and_only_the_launch_batcher_starts_cutovers() -> None:
    resources = Template.load().resources()
    [step] = resources["ApproveCutoverDocument"]["Properties"]["Content"]["mainSteps"]
    assert step["action"] == "aws:approve"
    rule = resources["ApprovalBridgeFunction"]["Properties"]["Events"]["ApprovalDecided"]["Properties"]
    assert rule["RetryPolicy"] and rule["DeadLetterConfig"]
    batcher_policy = json.dumps(resources["LaunchBatcherFunction"]["Properties"]["Policies"])
    assert "mgn:StartCutover" in batcher_policy
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]
    for other in set(functions) - {"LaunchBatcherFunction"}:
        assert "mgn:StartCutover" not in json.dumps(resources[other]["Properties"].get("Policies"))
