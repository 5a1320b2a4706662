"""Pure rules of the cutover gate: gate statuses, replication readiness, approval decisions, principals."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer, duration_seconds


class GateStatus(StrEnum):
    OPENING = "OPENING"  # execution started, checking preconditions
    WAITING_READY = "WAITING_READY"  # token: network health or replication not ready before asking
    WAITING_APPROVAL = "WAITING_APPROVAL"  # token: the SSM Automation aws:approve step is waiting
    APPROVED = "APPROVED"
    WAITING_REPLICATION = "WAITING_REPLICATION"  # token: approved, but replication stalled before cutover
    CUTTING_OVER = "CUTTING_OVER"  # token: start_cutover called (or being called), waiting for the launch
    LAUNCHED = "LAUNCHED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    DONE = "DONE"
    # Closed: the execution ended; a new attempt needs a new verified test.
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    REFUSED = "REFUSED"  # decided by a principal outside the approver list
    BLOCKED = "BLOCKED"  # preconditions never became ready within the wait limit
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"  # an unexpected error: needs a person


CLOSED = frozenset(
    {
        GateStatus.DONE,
        GateStatus.REJECTED,
        GateStatus.TIMED_OUT,
        GateStatus.REFUSED,
        GateStatus.BLOCKED,
        GateStatus.ROLLED_BACK,
        GateStatus.FAILED,
    }
)
# A token the pipeline resolves from outside the execution, by status.
WAITING = frozenset(
    {
        GateStatus.WAITING_READY,
        GateStatus.WAITING_APPROVAL,
        GateStatus.WAITING_REPLICATION,
        GateStatus.CUTTING_OVER,
    }
)


def readiness_facts(server: SourceServer) -> dict[str, Any]:
    """What the precheck saw of the server, passed on by the state machine to the approval request
    (which then does not read the server again)."""
    return {
        "hostname": server.hostname,
        "waveTag": server.tags.get("wave"),
        "lastTestJobId": server.last_test_job_id,
        "replication": server.replication.value,
        "lag": server.lag_duration,
    }


def observed_snapshot(server: SourceServer, at: datetime) -> dict[str, Any]:
    """What MGN said of a server as its gate opened (its answer to the lifecycle change that made it
    READY_FOR_CUTOVER): the first precheck, moments later, checks it instead of reading MGN again."""
    return {
        "at": at.isoformat(),
        "serverId": server.server_id,
        "arn": server.arn,
        "lifecycle": server.lifecycle.value,
        "replication": server.replication.value,
        "replicationError": server.replication_error,
        "lag": server.lag_duration,
        "lastSnapshotAt": server.last_snapshot_at,
        "hostname": server.hostname,
        "tags": dict(server.tags),
        "lastTestJobId": server.last_test_job_id,
    }


def server_from_snapshot(
    snapshot: Mapping[str, Any], now: datetime, fresh_for: timedelta
) -> SourceServer | None:
    """The server as ``observed_snapshot`` kept it, if taken within ``fresh_for`` of ``now`` (else None)."""
    try:
        if now - datetime.fromisoformat(str(snapshot["at"])) > fresh_for:
            return None
        return SourceServer(
            server_id=str(snapshot["serverId"]),
            arn=str(snapshot.get("arn") or ""),
            lifecycle=LifeCycleState(snapshot["lifecycle"]),
            replication=ReplicationState(snapshot["replication"]),
            is_archived=False,
            hostname=str(snapshot.get("hostname") or ""),
            tags=dict(snapshot.get("tags") or {}),
            replication_error=snapshot.get("replicationError"),
            lag_duration=snapshot.get("lag"),
            last_snapshot_at=snapshot.get("lastSnapshotAt"),
            last_test_job_id=snapshot.get("lastTestJobId"),
        )
    except (KeyError, TypeError, ValueError):
        return None  # unreadable: read MGN instead


def replication_problems(server: SourceServer, max_lag_seconds: int) -> list[str]:
    """Why the server's replication is not fit for a cutover now (empty: it is)."""
    problems: list[str] = []
    if server.replication is not ReplicationState.CONTINUOUS:
        problems.append(f"data replication is {server.replication.value}, not CONTINUOUS")
    if server.replication_error:
        problems.append(f"replication error {server.replication_error}")
    lag = duration_seconds(server.lag_duration)
    if lag is None:
        problems.append(f"replication lag unknown ({server.lag_duration!r})")
    elif lag > max_lag_seconds:
        problems.append(f"replication lag {int(lag)} s is over the {max_lag_seconds} s threshold")
    return problems


class Outcome(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Decision:
    """What an approval automation execution says, read with GetAutomationExecution."""

    execution_id: str
    outcome: Outcome
    token_ref: str | None
    approver: str | None = None
    time: str | None = None
    comment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "automationExecutionId": self.execution_id,
            "decision": self.outcome.value,
            "approver": self.approver,
            "time": self.time,
            "comment": self.comment,
        }


_FINISHED = {"Success", "Failed", "TimedOut", "Cancelled", "Cancelling"}


def read_decision(execution: Mapping[str, Any], step_output_prefix: str = "approveCutover") -> Decision:
    """A Decision from GetAutomationExecution's ``AutomationExecution`` (the event carries none)."""
    execution_id = str(execution.get("AutomationExecutionId", ""))
    status = str(execution.get("AutomationExecutionStatus", ""))
    outputs = execution.get("Outputs") or {}
    token_ref = ((execution.get("Parameters") or {}).get("TaskTokenRef") or [None])[0]
    approval = (outputs.get(f"{step_output_prefix}.ApprovalStatus") or [""])[0]
    decisions: list[dict[str, Any]] = []
    for raw in outputs.get(f"{step_output_prefix}.ApproverDecisions") or []:
        try:
            entry = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            decisions.append(entry)
    last = decisions[-1] if decisions else {}
    if approval == "Approved" and status == "Success":
        outcome = Outcome.APPROVED
    elif approval == "Rejected":
        outcome = Outcome.REJECTED
    elif status == "TimedOut":
        outcome = Outcome.TIMED_OUT
    elif status in {"Cancelled", "Cancelling"}:
        outcome = Outcome.CANCELLED
    elif status in _FINISHED:
        # Failed without a rejection (the step itself broke): nobody approved, so it is a no.
        outcome = Outcome.REJECTED
    else:
        outcome = Outcome.PENDING
    return Decision(
        execution_id=execution_id,
        outcome=outcome,
        token_ref=str(token_ref) if token_ref else None,
        approver=_text(last.get("Approver")),
        time=_text(last.get("ApprovalDecisionTime")),
        comment=_text(last.get("Comment")),
    )


def principal_matches(approver: str, caller_arn: str, account_id: str | None = None) -> bool:
    """Whether ``caller_arn`` is the principal an approver entry names (aws:approve's rules).

    An entry may be an IAM user name, a user ARN, a role ARN or an assumed-role ARN; a caller acting
    through a session of a role matches the role. Paths are not part of a principal's name.
    """
    caller = _principal(caller_arn, account_id)
    if ":" not in approver:
        return (
            caller[0] == "user" and caller[2] == approver and (account_id is None or caller[1] == account_id)
        )
    wanted = _principal(approver, account_id)
    if wanted[0] == "assumed-role":
        return approver == caller_arn
    if wanted[0] == "role" and caller[0] == "assumed-role":
        return wanted[1:] == caller[1:]
    return wanted == caller


def allowed(caller_arn: str | None, approvers: Sequence[str], account_id: str | None = None) -> bool:
    return bool(caller_arn) and any(principal_matches(a, str(caller_arn), account_id) for a in approvers)


def _principal(arn: str, account_id: str | None) -> tuple[str, str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return ("user", account_id or "", arn)
    kind, _, rest = parts[5].partition("/")
    if kind == "assumed-role":
        return ("assumed-role", parts[4], rest.split("/")[0])
    return (kind, parts[4], rest.split("/")[-1])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def execution_name(server_id: str, attempt: int) -> str:
    """The execution of one attempt: a repeated start of the same attempt is refused by Step Functions."""
    return f"{server_id}-{attempt}"


def token_ref(server_id: str, attempt: int) -> str:
    """The opaque key the runbook carries instead of the token (matches TaskTokenRef's allowedPattern)."""
    return f"gate#{server_id}#{attempt}"


def parse_token_ref(ref: str | None) -> tuple[str, int] | None:
    if not ref:
        return None
    parts = ref.split("#")
    if len(parts) != 3 or parts[0] != "gate" or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


def error_cause(error: Mapping[str, Any]) -> str:
    """The message of an error caught in the ASL: Lambda's ``errorMessage`` inside the Cause, or the Cause."""
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(parsed, dict):
            return str(parsed.get("errorMessage") or cause)
        return cause
    return ""
