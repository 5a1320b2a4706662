"""Pure rules of the cutover gate: lag, readiness, the approval decision, principals, task dispatch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mgn_pipeline.cutover.model import (
    Outcome,
    allowed,
    error_cause,
    parse_token_ref,
    principal_matches,
    read_decision,
    replication_problems,
    token_ref,
)
from mgn_pipeline.cutover.tasks import run_task
from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer, duration_seconds
from tests.conftest import load_event

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/MigrationApprover"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/MigrationApprover/alice"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT2S", 2), ("PT5M3S", 303), ("P1DT2H", 93600), ("PT0S", 0), (None, None), ("soon", None)],
)
def test_lag_duration(text: str | None, seconds: float | None) -> None:
    assert duration_seconds(text) == seconds


def _server(replication: ReplicationState, lag: str | None, error: str | None = None) -> SourceServer:
    return SourceServer(
        "s-1234567890abcdef0",
        "arn",
        LifeCycleState.READY_FOR_CUTOVER,
        replication,
        False,
        replication_error=error,
        lag_duration=lag,
    )


def test_replication_is_ready_only_continuous_without_error_and_under_the_lag() -> None:
    assert replication_problems(_server(ReplicationState.CONTINUOUS, "PT10S"), 900) == []
    assert "STALLED" in replication_problems(_server(ReplicationState.STALLED, "PT10S"), 900)[0]
    assert "over the 900 s" in replication_problems(_server(ReplicationState.CONTINUOUS, "PT16M"), 900)[0]
    assert "unknown" in replication_problems(_server(ReplicationState.CONTINUOUS, None), 900)[0]
    assert any(
        "AGENT_NOT_SEEN" in p
        for p in replication_problems(_server(ReplicationState.CONTINUOUS, "PT1S", "AGENT_NOT_SEEN"), 900)
    )


def _execution(status: str, approval: str | None, decisions: list[dict[str, str]]) -> dict[str, Any]:
    outputs: dict[str, list[str]] = {}
    if approval:
        outputs["approveCutover.ApprovalStatus"] = [approval]
    if decisions:
        outputs["approveCutover.ApproverDecisions"] = [json.dumps(d) for d in decisions]
    return {
        "AutomationExecutionId": "4a0e6a3b-5c2d-4f1e-8b7a-9c0d1e2f3a4b",
        "AutomationExecutionStatus": status,
        "Outputs": outputs,
        "Parameters": {"TaskTokenRef": ["gate#s-1234567890abcdef0#2"]},
    }


def test_the_decision_is_read_from_the_execution_not_the_event() -> None:
    approve = {"Approver": SESSION, "Decision": "Approve", "ApprovalDecisionTime": "t", "Comment": "ok"}
    decision = read_decision(_execution("Success", "Approved", [approve]))
    assert (decision.outcome, decision.approver, decision.comment) == (Outcome.APPROVED, SESSION, "ok")
    assert decision.token_ref == "gate#s-1234567890abcdef0#2"
    reject = {**approve, "Decision": "Reject"}
    assert read_decision(_execution("Failed", "Rejected", [reject])).outcome is Outcome.REJECTED
    assert read_decision(_execution("TimedOut", "Waiting", [])).outcome is Outcome.TIMED_OUT
    assert read_decision(_execution("Cancelled", "Waiting", [])).outcome is Outcome.CANCELLED
    assert read_decision(_execution("Waiting", "Waiting", [])).outcome is Outcome.PENDING
    # A broken step is not an approval.
    assert read_decision(_execution("Failed", None, [])).outcome is Outcome.REJECTED


@pytest.mark.parametrize(
    ("entry", "caller", "expected"),
    [
        (ROLE, SESSION, True),
        (ROLE, ROLE, True),
        (f"arn:aws:iam::{ACCOUNT}:role/team/MigrationApprover", SESSION, True),
        (ROLE, "arn:aws:sts::444455556666:assumed-role/MigrationApprover/x", False),
        (ROLE, f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/mallory", False),
        ("alice", f"arn:aws:iam::{ACCOUNT}:user/alice", True),
        (SESSION, f"arn:aws:sts::{ACCOUNT}:assumed-role/MigrationApprover/mallory", False),
    ],
)
def test_principals_match_as_aws_approve_documents(entry: str, caller: str, expected: bool) -> None:
    assert principal_matches(entry, caller, ACCOUNT) is expected


def test_allowed_needs_a_caller_in_the_list() -> None:
    assert allowed(SESSION, [ROLE])
    assert not allowed(None, [ROLE])
    assert not allowed(SESSION, [])


def test_token_ref_round_trips_and_matches_the_runbook_pattern() -> None:
    import re

    ref = token_ref("s-1234567890abcdef0", 3)
    assert re.fullmatch(r"^[A-Za-z0-9._:#/-]{1,256}$", ref)
    assert parse_token_ref(ref) == ("s-1234567890abcdef0", 3)
    assert parse_token_ref("approval#x") is None
    assert parse_token_ref(None) is None


def test_a_caught_lambda_error_gives_its_message() -> None:
    rollback = load_event("cutover-task-rollback.json")
    assert error_cause(rollback["error"]) == "TCP 443: closed or filtered"
    assert error_cause({"Error": "CutoverLaunchFailed"}) == ""  # send_task_failure without a cause


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"task": "nope", "serverId": "s-1234567890abcdef0", "attempt": 1},
        {"task": "precheck", "serverId": "s-1234567890abcdef0"},
    ],
)
def test_a_malformed_task_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError):
        run_task(None, event)  # type: ignore[arg-type]


def test_a_token_task_without_a_token_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="token"):
        run_task(None, {"task": "start-cutover", "serverId": "s-1234567890abcdef0", "attempt": 1})  # type: ignore[arg-type]


def test_the_sample_events_have_the_documented_shape() -> None:
    for name in (
        "ssm-approval-step-success.json",
        "ssm-approval-step-rejected.json",
        "ssm-approval-step-timed-out.json",
    ):
        event = load_event(name)
        assert event["source"] == "aws.ssm"
        assert event["detail"]["Action"] == "aws:approve"
        assert "ApprovalStatus" not in json.dumps(event)  # the decision is never in the event
    assert load_event("cutover-task-precheck.json")["task"] == "precheck"
