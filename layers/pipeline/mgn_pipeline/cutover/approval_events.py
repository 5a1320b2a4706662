"""The approval bridge's input: SSM Automation's step status-change event for an aws:approve step.

The event carries no decision (the bridge reads it from SSM) but it decides which execution is
read, so it is held to what SSM sends: from ``aws.ssm``, this account and Region (envelope and
resource ARNs), an execution id that is an execution id. Anything else is refused with
``InvalidEventError`` (Lambda retries, then the function's failure queue holds it). A step status
SSM did not document, or a step that is not an approval, is ignored with its reason: SSM may add
statuses, and they decide nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.events import EventOrigin, check_origin, label, shown

SSM_SOURCE = "aws.ssm"
STEP_STATUS_CHANGE = "EC2 Automation Step Status-change Notification"
APPROVE_ACTION = "aws:approve"
# The step statuses SSM documents (AutomationExecutionStatus), the ones the bridge acts on first.
DECIDED_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
STEP_STATUSES = DECIDED_STATUSES | frozenset(
    {
        "Pending",
        "InProgress",
        "Waiting",
        "Cancelling",
        "Approved",
        "Rejected",
        "Scheduled",
        "RunbookInProgress",
        "PendingApproval",
        "PendingChangeCalendarOverride",
        "ChangeCalendarOverrideApproved",
        "ChangeCalendarOverrideRejected",
        "CompletedWithSuccess",
        "CompletedWithFailure",
        "Exited",
    }
)
# SSM's automation execution ids are UUIDs.
_EXECUTION_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_ARN = re.compile(r"\Aarn:aws[a-z-]*:ssm:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)\Z")


@dataclass(frozen=True, slots=True)
class ApprovalStepEvent:
    event_id: str
    execution_id: str
    status: str
    ignored_because: str | None = None  # set: log it, read nothing, write nothing


def parse_approval_event(event: Any, origin: EventOrigin) -> ApprovalStepEvent:
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"expected an EventBridge event object, got {type(event).__name__}")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEventError("event is missing the string field 'id'")
    if event.get("source") != SSM_SOURCE or event.get("detail-type") != STEP_STATUS_CHANGE:
        raise InvalidEventError(
            f"event {label(event_id)}: source {shown(event.get('source'))}, detail-type "
            f"{shown(event.get('detail-type'))}; expected {SSM_SOURCE!r}, {STEP_STATUS_CHANGE!r}"
        )
    check_origin(event_id, "event", event.get("account"), event.get("region"), origin)
    resources = event.get("resources", [])
    if not isinstance(resources, list):
        raise InvalidEventError(f"event {label(event_id)}: 'resources' must be a list")
    for arn in resources:
        match = _ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise InvalidEventError(f"event {label(event_id)}: resource {shown(arn)} is not an SSM ARN")
        check_origin(event_id, "resource", match["account"], match["region"], origin)
    named = {
        match["resource"].removeprefix("automation-execution/")
        for arn in resources
        if (match := _ARN.match(arn)) and match["resource"].startswith("automation-execution/")
    }
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError(f"event {label(event_id)}: 'detail' must be an object")
    execution_id = detail.get("ExecutionId")
    if not isinstance(execution_id, str) or not _EXECUTION_ID.match(execution_id):
        raise InvalidEventError(
            f"event {label(event_id)}: ExecutionId {shown(execution_id)} is not an automation execution id"
        )
    if named - {execution_id}:
        raise InvalidEventError(
            f"event {label(event_id)}: resources name execution {shown(sorted(named)[0])}, detail {execution_id}"
        )
    status, action = detail.get("Status"), detail.get("Action", APPROVE_ACTION)
    ignored = None
    if not isinstance(status, str) or status not in STEP_STATUSES:
        ignored = f"step status {shown(status)} is not one SSM documents"
    elif action != APPROVE_ACTION:
        ignored = f"step action {shown(action)} is not {APPROVE_ACTION}"
    return ApprovalStepEvent(event_id, execution_id, str(status), ignored)
