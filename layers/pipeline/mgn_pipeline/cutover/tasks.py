"""The state machine's Lambda tasks: one function, the task named in the payload, run by the gate's part
for that stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mgn_pipeline.cutover.service import CutoverGate
from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.events import is_server_id, shown

# The tasks the state machine runs with .waitForTaskToken.
TOKEN_TASKS = frozenset({"wait-ready", "request-approval", "start-cutover"})
TASKS = frozenset(
    {
        "precheck",
        "wait-ready",
        "request-approval",
        "record-rejection",
        "recheck",
        "withdraw-approval",
        "ask-approval-again",
        "start-cutover",
        "verify",
        "finalize",
        "archive",
        "rollback",
        "record-blocked",
        "record-failure",
    }
)


def run_task(gate: CutoverGate, event: Mapping[str, Any]) -> dict[str, Any]:
    task = event.get("task")
    server_id = event.get("serverId")
    attempt = event.get("attempt")
    # bool is an int to Python: true would pass for attempt 1.
    if not (
        isinstance(task, str)
        and task in TASKS
        and isinstance(server_id, str)
        and is_server_id(server_id)  # anything else would reach MGN's request validation
        and isinstance(attempt, int)
        and not isinstance(attempt, bool)
    ):
        raise InvalidEventError(
            f"not a cutover-gate task: task={shown(task)} serverId={shown(server_id)} attempt={shown(attempt)}"
        )
    error = event.get("error") or {}
    token = str(event.get("token") or "")
    if task in TOKEN_TASKS and not token:
        raise InvalidEventError(f"task {task} needs the task token")
    ready, approval, launch, done = gate.readiness, gate.approval, gate.launch, gate.completion
    match task:
        case "precheck":
            return ready.precheck(server_id, attempt)
        case "wait-ready":
            return ready.wait_ready(server_id, attempt, token, error)
        case "request-approval":
            readiness = event.get("readiness")
            return approval.request_approval(
                server_id,
                attempt,
                token,
                str(event.get("executionArn") or ""),
                readiness if isinstance(readiness, dict) else None,
            )
        case "record-rejection":
            return approval.record_rejection(server_id, attempt, error)
        case "recheck":
            return ready.recheck(server_id, attempt)
        case "withdraw-approval":
            return ready.withdraw_approval(server_id, attempt)
        case "ask-approval-again":
            return ready.ask_again(server_id, attempt)
        case "start-cutover":
            readiness = event.get("readiness")
            return launch.start_cutover(
                server_id, attempt, token, readiness if isinstance(readiness, dict) else None
            )
        case "verify":
            return done.verify(server_id, attempt)
        case "finalize":
            return done.finalize(server_id, attempt)
        case "archive":
            return done.archive(server_id, attempt)
        case "rollback":
            return done.rollback(server_id, attempt, error)
        case "record-blocked":
            return ready.record_blocked(server_id, attempt)
        case _:
            return done.record_failure(server_id, attempt, error)
