"""Automation executions on simulated time: step sequencing and the ``aws:approve`` action.

Statuses use botocore's ``AutomationExecutionStatus`` values. An approval step runs as
InProgress, then Waiting (execution Waiting too) until enough approvers approve (step
Success), one rejects (step Failed, ApprovalStatus Rejected) or ``timeoutSeconds`` pass
(step and execution TimedOut, as the aws:approve page documents).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from localcloud.clock import SimClock
from localcloud.mgn.util import IdFactory
from localcloud.ssm.document import AutomationDocument, StepSpec, resolve
from localcloud.ssm.errors import DocumentError, SsmError
from localcloud.ssm.events import AutomationEventEmitter

INVALID_SIGNAL = "InvalidAutomationSignalException"
APPROVE = "aws:approve"
# aws:approve's documented default timeout (7 days) and maximum (30 days).
APPROVE_DEFAULT_TIMEOUT = 604800
APPROVE_MAX_TIMEOUT = 2592000
APPROVE_MAX_APPROVERS = 10
APPROVE_MAX_MESSAGE = 4096
# Every AutomationParameterValue is at most 512 characters in the ssm model.
MAX_OUTPUT_VALUE = 512

TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})


@dataclass(frozen=True)
class ApproverDecision:
    """One person's answer to an aws:approve step (as recorded by SSM)."""

    approver: str
    decision: str  # "Approve" or "Reject": the SignalType, as SSM writes it in ApproverDecisions
    time: datetime
    comment: str | None = None

    def output(self) -> str:
        """One ApproverDecisions entry as the step's Outputs carry it (a JSON object in a string).

        The entry keys follow what SSM returns (``ApprovalDecisionTime``, not a date field).
        A long comment is shortened to keep the entry within the model's 512 characters;
        the full comment stays on this record.
        """
        entry: dict[str, str] = {
            "Approver": self.approver,
            "Decision": self.decision,
            "ApprovalDecisionTime": self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if self.comment:
            entry["Comment"] = self.comment
            text = json.dumps(entry)
            excess = len(text) - MAX_OUTPUT_VALUE
            if excess > 0:
                entry["Comment"] = self.comment[: max(0, len(self.comment) - excess - 3)] + "..."
        return json.dumps(entry)


@dataclass
class StepRecord:
    """The state of one step of one execution."""

    spec: StepSpec
    step_execution_id: str
    status: str = "Pending"
    start: datetime | None = None
    end: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure_message: str | None = None
    failure_details: dict[str, Any] | None = None
    # aws:approve only
    approvers: list[str] = field(default_factory=list)
    min_approvals: int = 1
    decisions: list[ApproverDecision] = field(default_factory=list)
    notification: dict[str, str] | None = None

    @property
    def timeout_seconds(self) -> int:
        if self.spec.timeout_seconds is not None:
            return self.spec.timeout_seconds
        return APPROVE_DEFAULT_TIMEOUT if self.spec.action == APPROVE else 0


@dataclass
class ExecutionRecord:
    """One automation execution (what GetAutomationExecution describes)."""

    execution_id: str
    document: AutomationDocument
    region: str
    account_id: str
    parameters: dict[str, list[str]]
    values: dict[str, Any]
    executed_by: str
    start: datetime
    mode: str = "Auto"
    status: str = "Pending"
    end: datetime | None = None
    steps: list[StepRecord] = field(default_factory=list)
    failure_message: str | None = None
    client_token: str | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account_id}:automation-execution/{self.execution_id}"

    @property
    def definition_arn(self) -> str:
        return (
            f"arn:aws:ssm:{self.region}:{self.account_id}:automation-definition/"
            f"{self.document.name}:{self.document.version}"
        )

    @property
    def current_step(self) -> StepRecord | None:
        """The step running or waiting now (None before the first step and after the end)."""
        if self.status in TERMINAL:
            return None
        for step in reversed(self.steps):
            if step.status not in TERMINAL:
                return step
        return None

    @property
    def outputs(self) -> dict[str, list[str]]:
        """The document's declared ``outputs`` (``step.Output``) that steps have produced."""
        found: dict[str, list[str]] = {}
        by_name = {s.spec.name: s for s in self.steps}
        for ref in self.document.outputs:
            step_name, _, output = ref.partition(".")
            step = by_name.get(step_name)
            if step is not None and output in step.outputs:
                found[ref] = step.outputs[output]
        return found

    def decisions(self) -> list[ApproverDecision]:
        """Every approver decision recorded in this execution, in order."""
        return [d for s in self.steps for d in s.decisions]


def principal_matches(approver: str, caller_arn: str, account_id: str) -> bool:
    """Whether ``caller_arn`` is the principal an Approvers entry names.

    Approvers may be an IAM user name, a user ARN, a role ARN or an assumed-role ARN
    (per the aws:approve page). A caller acting through a role session matches the role.
    """
    caller = _parse_principal(caller_arn, account_id)
    if ":" not in approver:  # a bare IAM user name in this account
        return caller == ("user", account_id, approver)
    wanted = _parse_principal(approver, account_id)
    if wanted[0] == "assumed-role":
        return approver == caller_arn
    if wanted[0] == "role" and caller[0] == "assumed-role":
        return wanted[1:] == caller[1:]
    return wanted == caller


def _parse_principal(arn: str, account_id: str) -> tuple[str, str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return ("user", account_id, arn)
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return ("assumed-role", parts[4], rest.split("/")[0])
    # Paths (role/team/name) are not part of the principal's name.
    return (kind, parts[4], rest.split("/")[-1])


class AutomationRunner:
    """Moves executions through their steps on the clock and emits the status-change events."""

    def __init__(
        self,
        clock: SimClock,
        ids: IdFactory,
        emitter: AutomationEventEmitter,
        sns_client: Callable[[], Any],
        start_delay_seconds: float,
    ) -> None:
        self.clock = clock
        self.ids = ids
        self.emitter = emitter
        self._sns = sns_client
        self.start_delay_seconds = start_delay_seconds

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, execution: ExecutionRecord) -> None:
        """Run the execution shortly after the start call returns, as SSM does (asynchronously).

        The delay means a caller that records the execution id right after
        StartAutomationExecution sees it before the first event, as with the real service.
        """
        self.clock.call_later(self.start_delay_seconds, lambda: self._begin(execution))

    def _begin(self, execution: ExecutionRecord) -> None:
        if execution.status != "Pending":  # stopped before it began
            return
        self._set_execution(execution, "InProgress")
        self._run_step(execution, 0)

    def _run_step(self, execution: ExecutionRecord, index: int) -> None:
        spec = execution.document.steps[index]
        step = StepRecord(spec, self.ids.uuid())
        execution.steps.append(step)
        step.start = self.clock.now()
        self._set_step(execution, step, "InProgress")
        try:
            step.inputs = resolve(spec.inputs, lambda ref: self._lookup(execution, ref))
            if spec.action != APPROVE:
                raise DocumentError(f"the SSM emulator does not run {spec.action} steps")
            self._begin_approval(execution, step)
        except DocumentError as exc:
            self._finish_step(execution, step, "Failed", str(exc), ("InputValidation", "Verification"))

    def _lookup(self, execution: ExecutionRecord, ref: str) -> Any:
        builtins = {
            "automation:EXECUTION_ID": execution.execution_id,
            "global:ACCOUNT_ID": execution.account_id,
            "global:REGION": execution.region,
            "global:AWS_PARTITION": "aws",
            "global:DATE_TIME": self.clock.now().strftime("%Y-%m-%d_%H.%M.%S"),
        }
        if ref in builtins:
            return builtins[ref]
        if ref in execution.values:
            return execution.values[ref]
        step_name, _, output = ref.partition(".")
        for step in execution.steps:
            if step.spec.name == step_name and output in step.outputs:
                values = step.outputs[output]
                return values[0] if len(values) == 1 else values
        raise DocumentError(f"{{{{ {ref} }}}} refers to no parameter, variable or step output")

    def _next(self, execution: ExecutionRecord, step: StepRecord) -> None:
        """Continue after a finished step: next step, or end the execution."""
        failed = step.status != "Success"
        if failed and step.spec.on_failure == "Abort":
            self._end_execution(execution, "TimedOut" if step.status == "TimedOut" else "Failed", step)
            return
        if step.spec.is_end:
            self._end_execution(execution, "Failed" if failed else "Success", step if failed else None)
            return
        target = step.spec.next_step
        if failed and step.spec.on_failure.startswith("step:"):
            target = step.spec.on_failure.removeprefix("step:")
        index = (
            execution.document.step_index(target) if target else execution.document.steps.index(step.spec) + 1
        )
        if index >= len(execution.document.steps):
            self._end_execution(execution, "Failed" if failed else "Success", step if failed else None)
            return
        if execution.status != "InProgress":
            self._set_execution(execution, "InProgress")
        self._run_step(execution, index)

    def _end_execution(self, execution: ExecutionRecord, status: str, failed: StepRecord | None) -> None:
        if failed is not None:
            execution.failure_message = (
                f"Step {failed.spec.name} {'timed out' if status == 'TimedOut' else 'failed'}"
                f"{': ' + failed.failure_message if failed.failure_message else ''}"
            )
        execution.end = self.clock.now()
        self._set_execution(execution, status)

    def stop(self, execution: ExecutionRecord) -> None:
        """StopAutomationExecution: Cancelling, the running step Cancelled, then Cancelled."""
        self._set_execution(execution, "Cancelling")
        step = execution.current_step
        if step is not None:
            step.end = self.clock.now()
            self._set_step(execution, step, "Cancelled")
        execution.end = self.clock.now()
        self._set_execution(execution, "Cancelled")

    # ---- aws:approve ----------------------------------------------------------------------------

    def _begin_approval(self, execution: ExecutionRecord, step: StepRecord) -> None:
        inputs = step.inputs
        approvers = inputs.get("Approvers")
        if isinstance(approvers, str):
            approvers = [approvers]
        if not isinstance(approvers, list) or not approvers or not all(isinstance(a, str) for a in approvers):
            raise DocumentError("aws:approve needs Approvers, a non-empty list of principals")
        if len(approvers) > APPROVE_MAX_APPROVERS:
            raise DocumentError(f"aws:approve allows at most {APPROVE_MAX_APPROVERS} Approvers")
        minimum = inputs.get("MinRequiredApprovals", 1)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 1 <= minimum <= len(approvers):
            raise DocumentError("MinRequiredApprovals must be a positive number no larger than Approvers")
        message = inputs.get("Message")
        if message is not None and (not isinstance(message, str) or len(message) > APPROVE_MAX_MESSAGE):
            raise DocumentError(f"Message must be text of at most {APPROVE_MAX_MESSAGE} characters")
        if not 0 < step.timeout_seconds <= APPROVE_MAX_TIMEOUT:
            raise DocumentError(f"timeoutSeconds of aws:approve must be 1..{APPROVE_MAX_TIMEOUT}")
        step.approvers = list(approvers)
        step.min_approvals = minimum
        topic = inputs.get("NotificationArn")
        if topic is not None:
            self._notify(execution, step, str(topic), message)
        step.outputs = {"ApprovalStatus": ["Waiting"]}
        self._set_step(execution, step, "Waiting")
        self._set_execution(execution, "Waiting")
        due = step.start + timedelta(seconds=step.timeout_seconds) if step.start else self.clock.now()
        self.clock.call_at(due, lambda: self._approval_timed_out(execution, step))

    def _notify(self, execution: ExecutionRecord, step: StepRecord, topic: str, message: str | None) -> None:
        # The aws:approve page: "The title of the Amazon SNS topic must be prefixed with
        # 'Automation'". The emulator fails the step rather than let a misnamed topic pass.
        if not topic.rsplit(":", 1)[-1].startswith("Automation"):
            raise DocumentError(f"NotificationArn {topic}: the SNS topic name must start with 'Automation'")
        subject = f"Automation approval needed: {execution.document.name}"[:100]
        body = "\n".join(
            [
                f"Approval requested for Automation execution {execution.execution_id}",
                f"Document: {execution.document.name} (version {execution.document.version})",
                f"Step: {step.spec.name}",
                f"Approvers: {', '.join(step.approvers)}",
                "",
                message or "",
                "",
                "Approve or deny in the Systems Manager console (Automation > Approve/Deny):",
                f"https://console.aws.amazon.com/systems-manager/automation/execution/"
                f"{execution.execution_id}?region={execution.region}",
            ]
        )
        try:
            self._sns().publish(TopicArn=topic, Subject=subject, Message=body)
        except ClientError as exc:
            raise DocumentError(f"could not publish to NotificationArn {topic}: {exc}") from exc
        step.notification = {"TopicArn": topic, "Subject": subject, "Message": body}

    def signal(
        self, execution: ExecutionRecord, signal_type: str, principal: str, comment: str | None
    ) -> None:
        """Apply an Approve or Reject signal from ``principal``, or refuse it as SSM does."""
        step = execution.current_step
        if step is None or step.spec.action != APPROVE or step.status != "Waiting":
            raise SsmError(
                INVALID_SIGNAL,
                f"Automation execution {execution.execution_id} is not waiting for approval "
                f"(status {execution.status}).",
            )
        if not any(principal_matches(a, principal, execution.account_id) for a in step.approvers):
            raise SsmError(
                INVALID_SIGNAL,
                f"{principal} is not an approver of step {step.spec.name} "
                f"of Automation execution {execution.execution_id}.",
            )
        if any(d.approver == principal for d in step.decisions):
            raise SsmError(INVALID_SIGNAL, f"{principal} has already sent a decision for this step.")
        step.decisions.append(ApproverDecision(principal, signal_type, self.clock.now(), comment))
        step.outputs["ApproverDecisions"] = [d.output() for d in step.decisions]
        approvals = sum(d.decision == "Approve" for d in step.decisions)
        if signal_type == "Reject":
            step.outputs["ApprovalStatus"] = ["Rejected"]
            self._finish_step(execution, step, "Failed", f"Step rejected by {principal}.", None)
        elif approvals >= step.min_approvals:
            step.outputs["ApprovalStatus"] = ["Approved"]
            self._finish_step(execution, step, "Success", None, None)

    def _approval_timed_out(self, execution: ExecutionRecord, step: StepRecord) -> None:
        if step.status != "Waiting":  # decided or cancelled before the deadline
            return
        self._finish_step(
            execution,
            step,
            "TimedOut",
            f"Step timed out after {step.timeout_seconds} seconds waiting for approval.",
            ("Execution", "Verification"),
        )

    # ---- status changes ---------------------------------------------------------------------------

    def _finish_step(
        self,
        execution: ExecutionRecord,
        step: StepRecord,
        status: str,
        failure: str | None,
        details: tuple[str, str] | None,
    ) -> None:
        step.end = self.clock.now()
        step.failure_message = failure
        if details is not None and failure is not None:
            step.failure_details = {"FailureStage": details[0], "FailureType": details[1]}
        self._set_step(execution, step, status)
        self._next(execution, step)

    def _set_step(self, execution: ExecutionRecord, step: StepRecord, status: str) -> None:
        step.status = status
        self.emitter.step_changed(self.clock.now(), execution, step)

    def _set_execution(self, execution: ExecutionRecord, status: str) -> None:
        execution.status = status
        self.emitter.execution_changed(self.clock.now(), execution)
