"""Property: over random interleavings of events (lost, duplicated, reordered, delayed), approvals and
rejections by allowed and other principals, approval timeouts, replication stalls and launch failures,
start_cutover is called if and only if an allowed approval exists, and at most once per approval.

The state machine runs in moto's interpreter (real time), everything else on the simulated clock;
each example readies a fresh server in one shared local cloud.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from localcloud.cloud import APPROVER
from localcloud.gate import APPROVER_SESSION, OUTSIDER, CutoverCloud, cutover_cloud
from localcloud.ssm import STEP_STATUS_CHANGE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEVEN_DAYS = 7 * 24 * 3600
ALLOWED = (APPROVER, APPROVER_SESSION)

Step = tuple[Any, ...]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("approve"), st.booleans()),
        st.tuples(st.just("reject"), st.booleans()),
        st.tuples(st.just("timeout")),
        st.tuples(st.just("stall")),
        st.tuples(st.just("unstall")),
        st.tuples(st.just("drop")),
        st.tuples(st.just("duplicate")),
        st.tuples(st.just("reorder"), st.sampled_from([0.0, 30.0, 120.0])),
        st.tuples(st.just("redeliver")),
        st.tuples(st.just("fail_launch")),
        st.tuples(st.just("advance"), st.sampled_from([60, 300, 1800])),
    ),
    min_size=1,
    max_size=8,
)


def _allowed_approvals(env: CutoverCloud, server_id: str) -> int:
    """Approval executions of this server in which an allowed principal's Approve was accepted."""
    return sum(
        1
        for execution in env.ssm.executions.values()
        if execution.parameters.get("ServerId") == [server_id]
        and any(d.decision == "Approve" and d.approver in ALLOWED for d in execution.decisions())
    )


def _signal(env: CutoverCloud, server_id: str, signal: str, principal: str) -> None:
    automation = env.gate(server_id).get("automationExecutionId")
    if not automation:
        return  # nothing asked yet: a person has nothing to click
    try:
        with env.ssm.acting_as(principal), env.cloud.calls.not_counting():
            env.ssm_client.send_automation_signal(AutomationExecutionId=automation, SignalType=signal)
    except ClientError:
        pass  # not an approver, or already decided / timed out: SSM refuses, nothing changes
    env.run_events()


def _apply(env: CutoverCloud, server_id: str, step: Step) -> None:
    record = env.mgn.server(server_id)
    match step:
        case ("approve", allowed):
            _signal(env, server_id, "Approve", APPROVER_SESSION if allowed else OUTSIDER)
        case ("reject", allowed):
            _signal(env, server_id, "Reject", APPROVER_SESSION if allowed else OUTSIDER)
        case ("timeout",):
            env.reconcile_every_s = env.batcher_every_s = 24 * 3600
            env.advance(SEVEN_DAYS + 3600)
            env.reconcile_every_s, env.batcher_every_s = 300, 60
        case ("stall",):
            if record.repl_state == "CONTINUOUS" and record.lifecycle == "READY_FOR_CUTOVER":
                env.mgn.backend.replication._stall(record)
        case ("unstall",):
            if record.repl_state == "STALLED":
                env.mgn.backend.replication.configuration_changed(record, {})
        case ("drop",):
            env.cloud.bus.drop_next(1)
        case ("duplicate",):
            env.cloud.bus.duplicate_next(2)
        case ("reorder", window):
            env.cloud.bus.reorder(window)
        case ("redeliver",):
            mine = [
                e
                for e in env.ssm.events
                if e["detail-type"] == STEP_STATUS_CHANGE
                and e["detail"]["ExecutionId"] == env.gate(server_id).get("automationExecutionId")
            ]
            if mine:
                env.cloud.bus.put_events(mine[-1])
                env.run_events()
        case ("fail_launch",):
            env.mgn.fail_next_launch(server_id, "Failed to launch target instance")
        case ("advance", seconds):
            env.advance(seconds)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps)
def test_start_cutover_iff_an_allowed_approval_and_at_most_once_per_approval(script: list[Step]) -> None:
    with cutover_cloud() as env:
        _check(env, script)


def _check(env: CutoverCloud, script: list[Step]) -> None:
    [server_id] = env.ready_servers(1)
    for step in script:
        _apply(env, server_id, step)
    # Faults end; replication recovers; time passes for events, retries and the reconciler.
    env.cloud.bus.reorder(0.0)
    record = env.mgn.server(server_id)
    if record.repl_state == "STALLED":
        env.mgn.backend.replication.configuration_changed(record, {})
    env.advance(1800)
    env.settle()

    approvals = _allowed_approvals(env, server_id)
    starts = env.mgn_calls("StartCutover", server_id)
    assert starts == (1 if approvals else 0), (script, approvals, starts, env.gate(server_id))
    assert starts <= approvals
    gate = env.gate(server_id)
    if approvals:
        # Approved: cut over and finalized, or rolled back (READY_FOR_CUTOVER, still replicating).
        assert gate["status"] in {"DONE", "ROLLED_BACK"}, (script, gate)
        if gate["status"] == "ROLLED_BACK":
            assert (record.lifecycle, record.repl_state) == ("READY_FOR_CUTOVER", "CONTINUOUS")
    else:
        assert record.lifecycle == "READY_FOR_CUTOVER"
        assert gate["status"] in {"WAITING_APPROVAL", "REJECTED", "TIMED_OUT"}, (script, gate)
