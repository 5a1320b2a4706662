"""Approvals decided on measured readiness: the request carries a snapshot, the cutover compares.

The local cloud with the real state machine, handlers and emulated SSM console: a server is
approved, then gets worse (lag, network health, test evidence age) before its cutover starts. The
cutover must not start, the approver must be told why, and a fresh approval must be asked on a
fresh snapshot; the audit trail keeps both snapshots.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from localcloud.gate import CutoverCloud, cutover_cloud
from mgn_pipeline_ops.cli import status as status_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env() -> Iterator[CutoverCloud]:
    with cutover_cloud() as cloud:
        yield cloud


def _audit(env: CutoverCloud, server_id: str, action: str) -> list[dict[str, Any]]:
    return [
        json.loads(a["details"])
        for a in env.cloud.audit()
        if a["subject"] == server_id and a["action"] == action
    ]


def _requests(env: CutoverCloud, server_id: str) -> list[Any]:
    return [e for e in env.ssm.executions.values() if e.parameters.get("ServerId") == [server_id]]


def _readiness(execution: Any) -> str:
    return str(execution.parameters["Readiness"][0])


def _status(env: CutoverCloud, server_id: str) -> str:
    """``mgn-migrate status --server`` as a person runs it."""
    refs = env.cloud.stack.refs
    out = io.StringIO()
    with env.cloud.calls.not_counting():
        code = status_cli.main(
            [
                "status",
                "--server",
                server_id,
                "--servers-table",
                refs["ServersTable"],
                "--audit-table",
                refs["AuditTable"],
                "--gate-table",
                refs["CutoverGateTable"],
                "--queue-table",
                refs["LaunchQueueTable"],
            ],
            mgn=boto3.client("mgn"),
            dynamodb=boto3.client("dynamodb"),
            out=out,
        )
    assert code == 0
    return out.getvalue()


def test_the_approval_request_carries_the_readiness_it_was_asked_on(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    [request] = _requests(env, sid)
    shown = _readiness(request)
    # What the approver reads in the console and in the SNS message.
    assert "replication CONTINUOUS, lag 2 s" in shown
    assert "last snapshot 20" in shown
    assert "network health PASS (report" in shown
    # The console's message and the SNS notification of aws:approve both carry it.
    assert shown in request.steps[0].inputs["Message"]
    notification = request.steps[0].notification
    assert notification is not None and shown in notification["Message"]
    # The same snapshot is kept with the gate and in the audit record of the request.
    asked = _audit(env, sid, "cutover-approval-requested")[-1]["readiness"]
    assert asked == json.loads(env.gate(sid)["approvalReadiness"])
    assert asked["health"]["green"] is True and asked["lagSeconds"] == 2.0
    # The pipeline verified the operator's test: that verification is the evidence shown.
    assert asked["test"]["checksPassed"] == asked["test"]["checksTotal"] > 0
    assert f"test {asked['test']['jobId']}: " in shown
    # And the status command, for whoever looks before deciding.
    assert f"    approval asked on: {shown} (at " in _status(env, sid)

    env.decide(sid, "Approve")
    env.advance(600)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"
    [confirmed] = _audit(env, sid, "cutover-queued")
    assert confirmed["approved"] == asked
    assert confirmed["atCutover"]["takenAt"] > asked["takenAt"]


def test_lag_grown_since_approval_stops_the_cutover_and_asks_again(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1)
    # A write burst on the source: still CONTINUOUS and under MaxReplicationLagSeconds (900 s), but
    # ten minutes behind where the approver saw it.
    env.mgn.server(sid).lag_seconds = 600.0
    env.decide(sid, "Approve", comment="CHG-7")
    env.settle()

    assert env.mgn_calls("StartCutover", sid) == 0
    [worse] = _audit(env, sid, "cutover-readiness-worsened")
    assert worse["approved"]["lagSeconds"] == 2.0 and worse["atCutover"]["lagSeconds"] == 600.0
    assert worse["decision"]["comment"] == "CHG-7"
    [told] = [n for n in env.cloud.read_notices() if "readiness got worse" in str(n["subject"])]
    assert "replication lag grew from 2 s to 600 s" in str(told["body"])
    # A fresh request, on the readiness measured now: the first one is not reused.
    first, second = sorted(_requests(env, sid), key=lambda e: e.start)
    assert "lag 600 s" in _readiness(second) and "lag 2 s" in _readiness(first)
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"
    assert env.gate(sid)["automationExecutionId"] == second.execution_id
    assert "approval asked on: replication CONTINUOUS, lag 600 s" in _status(env, sid)

    # Approved again on what it is now: no worse since this approval, so the cutover goes ahead.
    env.decide(sid, "Approve")
    env.advance(600)
    env.settle()
    assert env.execution(sid)["status"] == "SUCCEEDED"
    assert env.mgn_calls("StartCutover", sid) == 1


def test_network_health_failing_since_approval_stops_the_cutover_until_asked_again(
    env: CutoverCloud,
) -> None:
    [sid] = env.ready_servers(1)
    env.network_green = False
    env.healthy_network("FAIL")
    env.decide(sid, "Approve")
    env.settle()

    assert env.mgn_calls("StartCutover", sid) == 0
    [worse] = _audit(env, sid, "cutover-readiness-worsened")
    assert worse["approved"]["health"]["status"] == "PASS"
    assert worse["atCutover"]["health"]["status"] == "FAIL"
    assert any("readiness got worse" in str(n["subject"]) for n in env.cloud.read_notices())
    # Not asked again while the network is red: the gate waits, then asks once it is green.
    assert env.gate(sid)["status"] == "WAITING_READY"
    assert len(_requests(env, sid)) == 1
    env.network_green = True
    env.advance(300)
    env.settle()
    assert env.gate(sid)["status"] == "WAITING_APPROVAL"
    assert len(_requests(env, sid)) == 2
    assert env.mgn_calls("StartCutover", sid) == 0
