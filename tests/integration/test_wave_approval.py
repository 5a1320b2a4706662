"""Approval per wave (ApprovalScope=WAVE) on the local cloud: one decision for the servers of a wave
that reached the gate, never for a server the approver was not shown."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


from localcloud.cloud import APPROVER
from localcloud.gate import APPROVER_SESSION, CutoverCloud, cutover_cloud
from localcloud.template import Template

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env() -> Iterator[CutoverCloud]:
    with cutover_cloud(parameters={"ApprovalScope": "WAVE", "WaveApprovalGatherMinutes": "10"}) as cloud:
        yield cloud


def _gates(env: CutoverCloud, server_ids: list[str]) -> list[dict[str, Any]]:
    return [env.gate(sid) for sid in server_ids]


def _wave_audit(env: CutoverCloud, wave: str) -> list[dict[str, Any]]:
    return [a for a in env.cloud.audit() if a["subject"] == f"wave/{wave}"]


def test_one_decision_cuts_over_the_whole_wave_once(env: CutoverCloud) -> None:
    ids = env.ready_servers(3, tags={"wave": "w1"})
    # Parked: the token is kept, nobody is asked per server (the wave may be asked already: the
    # pipeline verified the operator's tests, so the servers reached the gate a while ago).
    assert {g["status"] for g in _gates(env, ids)} == {"WAITING_APPROVAL"}
    assert len({g.get("automationExecutionId") for g in _gates(env, ids)} - {None}) <= 1
    env.reconcile()  # the whole wave is at the gate: one request
    automations = {g["automationExecutionId"] for g in _gates(env, ids)}
    assert len(automations) == 1
    [automation] = automations
    execution = env.ssm.execution(automation)
    assert execution.parameters["WaveId"] == ["w1"]
    assert execution.parameters["ServerCount"] == ["3"]
    assert len(execution.parameters["Servers"]) == 3
    # Decided on evidence: each server's lag and test beside it, the wave's worst in one line.
    assert all(": lag 2 s, test " in shown for shown in execution.parameters["Servers"])
    readiness = execution.parameters["Readiness"][0]
    assert readiness.startswith("3 of 3 servers measured; lag up to 2 s; ")
    assert "network health PASS (report " in readiness
    assert readiness in execution.steps[0].inputs["Message"]
    assert execution.parameters["Approvers"] == [APPROVER]
    notices = [n for n in env.cloud.read_notices() if "wave w1" in str(n["subject"])]
    assert [n["subject"] for n in notices] == ["Approval needed: cutover of wave w1 (3 servers)"]
    assert all(sid in notices[0]["body"] for sid in ids)
    # The pipeline's message carries the same readiness: the wave's line, and each server's.
    assert f"Readiness when asked: {readiness}." in notices[0]["body"]
    assert notices[0]["body"].count("  lag 2 s, test ") == 3

    env.reconcile()  # asking again changes nothing
    assert {g["automationExecutionId"] for g in _gates(env, ids)} == {automation}

    # A person approves once, from the terminal (the same SSM record as the console).
    from mgn_pipeline_ops.cli import cutover

    tables = [
        "--table",
        env.cloud.stack.refs["CutoverGateTable"],
        "--servers-table",
        env.cloud.stack.refs["ServersTable"],
    ]
    assert cutover.main(["status", "--wave", "w1", *tables]) == 0
    with env.ssm.acting_as(APPROVER_SESSION):
        assert cutover.main(["approve", "--wave", "w1", "--comment", "CHG-77 wave 1", *tables]) == 0
    env.run_events()
    env.advance(900)
    env.settle()
    for sid in ids:
        assert env.execution(sid)["status"] == "SUCCEEDED"
        assert env.mgn_calls("StartCutover", sid) == 1
        approved = [a for a in env.cloud.audit() if a["subject"] == sid and a["action"] == "cutover-approved"]
        assert len(approved) == 1 and approved[0]["actor"] == APPROVER_SESSION
        assert approved[0]["reason"] == "CHG-77 wave 1"
    assert [a["action"] for a in _wave_audit(env, "w1")] == [
        "wave-approval-requested",
        "wave-approval-decided",
    ]


def test_the_wave_waits_for_its_servers_then_asks_and_latecomers_get_their_own_request(
    env: CutoverCloud,
) -> None:
    # A third server of the wave replicates from the start, but has 40 minutes of initial sync.
    late = env.mgn.register_agent("late-001", tags={"wave": "w2"})
    env.mgn.server(late).initial_sync_seconds = 2400
    first = env.ready_servers(2, tags={"wave": "w2"})
    env.reconcile()
    # One server of the wave is still replicating: nobody is asked yet.
    assert not any("automationExecutionId" in g for g in _gates(env, first))
    env.advance(600)  # the gather limit (10 min) passes: ask for the two at the gate
    [request_one] = {g["automationExecutionId"] for g in _gates(env, first)}
    assert env.ssm.execution(request_one).parameters["ServerCount"] == ["2"]

    # Its sync done, the pipeline tests and verifies the latecomer by itself.
    env.advance(1800)
    env.reconcile()
    late_gate = env.gate(late)
    assert late_gate["status"] == "WAITING_APPROVAL"
    request_two = late_gate["automationExecutionId"]
    assert request_two != request_one

    # Approving the first request cuts over the two it named, not the latecomer.
    env.decide(first[0], "Approve")
    env.advance(900)
    env.settle()
    assert all(env.mgn_calls("StartCutover", sid) == 1 for sid in first)
    assert env.mgn_calls("StartCutover", late) == 0
    assert env.gate(late)["status"] == "WAITING_APPROVAL"

    # Its own request, rejected: it stays ready for cutover and nothing else happens.
    env.decide(late, "Reject", comment="not this weekend")
    env.advance(300)
    env.settle()
    assert env.gate(late)["status"] == "REJECTED"
    assert env.mgn.server(late).lifecycle == "READY_FOR_CUTOVER"
    assert env.mgn_calls("StartCutover", late) == 0


def test_an_approval_whose_server_list_differs_from_the_request_does_nothing(env: CutoverCloud) -> None:
    ids = env.ready_servers(2, tags={"wave": "w3"})
    env.reconcile()
    [automation] = {g["automationExecutionId"] for g in _gates(env, ids)}
    genuine = env.ssm.execution(automation).parameters
    # Someone starts the wave runbook by hand, naming the stored request with another server list.
    ssm = boto3.client("ssm")
    with env.cloud.calls.not_counting():
        forged = ssm.start_automation_execution(
            DocumentName=env.cloud.stack.refs["ApproveWaveCutoverDocument"],
            Parameters={**genuine, "ServerCount": ["3"], "ServerListSha256": ["0" * 64]},
        )["AutomationExecutionId"]
    env.run_events()  # the runbook reaches its approval step
    with env.ssm.acting_as(APPROVER_SESSION), env.cloud.calls.not_counting():
        ssm.send_automation_signal(AutomationExecutionId=forged, SignalType="Approve")
    env.run_events()
    env.advance(600)
    assert env.mgn_calls("StartCutover") == 0
    assert {g["status"] for g in _gates(env, ids)} == {"WAITING_APPROVAL"}


def test_the_wave_runbook_waits_on_aws_approve_and_the_bridge_listens_to_it() -> None:
    resources = Template.load().resources()
    [step] = resources["ApproveWaveCutoverDocument"]["Properties"]["Content"]["mainSteps"]
    assert step["action"] == "aws:approve"
    pattern = resources["ApprovalBridgeFunction"]["Properties"]["Events"]["ApprovalDecided"]["Properties"]
    assert {"Ref": "ApproveWaveCutoverDocument"} in pattern["Pattern"]["detail"]["Definition"]
