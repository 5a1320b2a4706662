"""Approved cutovers are started by the launch batcher, in as few MGN jobs as the quotas allow.

A wave approved at once is more servers than MGN has job slots (20): one StartCutover per server
would be refused for the rest. Here the gate queues each approved cutover and the batcher starts
them together, never refused, and a batcher run that stopped after StartCutover is recovered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from localcloud.gate import APPROVER_SESSION, CutoverCloud, cutover_cloud

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WAVE_SIZE = 30  # more servers than MGN runs jobs at once (20)


@pytest.fixture
def env() -> Iterator[CutoverCloud]:
    with cutover_cloud(parameters={"ApprovalScope": "WAVE", "WaveApprovalGatherMinutes": "10"}) as cloud:
        yield cloud


def _cutover_jobs(env: CutoverCloud) -> list[dict[str, Any]]:
    with env.cloud.calls.not_counting():
        jobs = boto3.client("mgn").describe_jobs(filters={})["items"]
    return [j for j in jobs if j["initiatedBy"] == "START_CUTOVER"]


def _approve_wave(env: CutoverCloud, wave: str) -> None:
    from mgn_pipeline_ops.cli import cutover

    tables = [
        "--table",
        env.cloud.stack.refs["CutoverGateTable"],
        "--servers-table",
        env.cloud.stack.refs["ServersTable"],
    ]
    with env.ssm.acting_as(APPROVER_SESSION):
        assert cutover.main(["approve", "--wave", wave, "--comment", "CHG-88 wave", *tables]) == 0
    env.run_events()


def test_a_wave_approved_at_once_is_cut_over_in_one_job_and_never_refused(env: CutoverCloud) -> None:
    ids = env.ready_servers(WAVE_SIZE, tags={"wave": "w9"})
    env.reconcile()  # the whole wave is at the gate: one request
    _approve_wave(env, "w9")
    queued = [env.gate(sid) for sid in ids]
    assert {g["status"] for g in queued} == {"CUTTING_OVER"}
    assert env.mgn_calls("StartCutover") == 0  # queued for the batcher, not started by 30 tasks

    env.advance(1200)
    env.settle()
    assert {env.execution(sid)["status"] for sid in ids} == {"SUCCEEDED"}
    jobs = _cutover_jobs(env)
    in_jobs = [p["sourceServerID"] for job in jobs for p in job["participatingServers"]]
    assert sorted(in_jobs) == sorted(ids)  # each server in exactly one cutover job
    # Every StartCutover was accepted (a refused one would have no job), in at most a few batches
    # (a server whose test cleanup job still ran waits for the next run).
    assert env.mgn_calls("StartCutover") == len(jobs) <= 3
    started = [a for a in env.cloud.audit() if a["action"] == "cutover-started"]
    assert sorted(a["subject"] for a in started) == sorted(ids)
    assert all(a["actor"] == APPROVER_SESSION for a in started)
    assert {json.loads(a["details"])["jobId"] for a in started} == {j["jobID"] for j in jobs}
    assert not [a for a in env.cloud.audit() if a["action"] == "cutover-start-refused"]


def test_a_batcher_run_that_stopped_after_start_cutover_has_its_job_adopted(env: CutoverCloud) -> None:
    [sid] = env.ready_servers(1, tags={"wave": "w1"})
    env.reconcile()
    env.batcher_on = False  # the batcher's next run "crashes" between StartCutover and its write
    _approve_wave(env, "w1")
    table = env.cloud.stack.refs["CutoverGateTable"]
    claimed_at = env.clock.now()
    with env.cloud.calls.not_counting():
        boto3.client("dynamodb").update_item(
            TableName=table,
            Key={"serverId": {"S": sid}},
            UpdateExpression="SET cutoverClaimId = :c, cutoverClaimedAt = :t",
            ExpressionAttributeValues={":c": {"S": "run-that-crashed"}, ":t": {"S": claimed_at.isoformat()}},
        )
    job = env.cloud.mgn_as_operator().start_cutover(
        sourceServerIDs=[sid], tags={"mgn-pipeline:cutover-batch": "run-that-crashed"}
    )["job"]["jobID"]
    env.batcher_on = True
    env.advance(600)  # the claim is younger than 15 minutes: left alone
    assert "cutoverJobId" not in env.gate(sid) or env.gate(sid)["cutoverJobId"] == job
    env.advance(1200)
    env.settle()
    assert env.gate(sid).get("cutoverJobId") == job
    assert env.execution(sid)["status"] == "SUCCEEDED"
    assert len(_cutover_jobs(env)) == 1  # adopted, not started again
    assert env.clock.now() - claimed_at >= timedelta(minutes=15)


def test_a_cutover_mgn_keeps_refusing_fails_its_gate_after_three_tries_and_launches_nothing() -> None:
    with cutover_cloud() as env:
        [sid] = env.ready_servers(1)
        refusal = {"resourceId": sid, "code": "SOURCE_SERVER_NOT_READY", "message": "not ready for cutover"}
        for _ in range(3):
            env.mgn.fail_next_call(
                "StartCutover", "ConflictException", "Cannot start cutover", errors=[refusal]
            )
        env.decide(sid, "Approve")
        env.advance(900)
        env.settle()
        refused = [a for a in env.cloud.audit() if a["action"] == "cutover-start-refused"]
        assert len(refused) == 3
        assert all("SOURCE_SERVER_NOT_READY" in a["reason"] for a in refused)
        # Offered again after a back-off (1, then 2 minutes), then the gate gave up.
        details = [json.loads(a["details"]) for a in refused]
        assert [d["refusals"] for d in details] == [1, 2, 3] and details[-1]["gateFailed"]
        gate = env.gate(sid)
        assert gate["status"] == "FAILED" and "CutoverStartRefused" in gate["reason"]
        assert "cutoverQueue" not in gate  # nobody offers it again
        assert env.execution(sid)["status"] == "FAILED"
        assert _cutover_jobs(env) == [] and env.mgn_calls("StartCutover", sid) == 3
        assert env.mgn.server(sid).lifecycle == "READY_FOR_CUTOVER"
        assert any("needs a person" in str(n["subject"]) for n in env.cloud.read_notices())


def test_a_server_sent_back_to_testing_after_approval_is_not_cut_over() -> None:
    # MGN starts a cutover from READY_FOR_TEST as well (tests/emulator/test_mgn_fidelity.py), so the
    # batcher cannot count on a refusal: a server an operator sent back to testing while its approved
    # cutover waited in the queue must not be cut over.
    with cutover_cloud() as env:
        [sid] = env.ready_servers(1)
        env.batcher_on = False
        env.decide(sid, "Approve")
        env.settle()
        assert env.gate(sid)["status"] == "CUTTING_OVER" and "cutoverJobId" not in env.gate(sid)
        with env.cloud.calls.not_counting():
            env.cloud.mgn_as_operator().change_server_life_cycle_state(
                sourceServerID=sid, lifeCycle={"state": "READY_FOR_TEST"}
            )
        env.batcher_on = True
        env.advance(900)
        env.settle()
        assert _cutover_jobs(env) == [] and env.mgn_calls("StartCutover", sid) == 0
        refused = [a for a in env.cloud.audit() if a["action"] == "cutover-start-refused"]
        assert refused and "READY_FOR_TEST" in refused[0]["reason"]
        # READY_FOR_TEST is where the pipeline tests a server: it tested it again.
        with env.cloud.calls.not_counting():
            jobs = boto3.client("mgn").describe_jobs(filters={})["items"]
        assert [j["initiatedBy"] for j in jobs].count("START_TEST") == 2
