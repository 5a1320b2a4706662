"""Asking a person for the cutover and applying the decision.

Approval is an SSM Automation ``aws:approve`` step, decided in the console. Its event carries no
decision, so the decision is read from SSM and applied to the gate in one conditional write: only an
allowed approver's approval reaches APPROVED, and a decision is applied once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.cutover.config import CutoverConfig
from mgn_pipeline.cutover.errors import GateStateError
from mgn_pipeline.cutover.evidence import read_snapshot, runbook_text
from mgn_pipeline.cutover.model import (
    Decision,
    GateStatus,
    Outcome,
    allowed,
    observed_snapshot,
    parse_token_ref,
    read_decision,
    readiness_facts,
    token_ref,
)
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.store import GateRecord, Outbox
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.cutover.waves import WaveApprovals, is_wave_request
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import PipelineError
from mgn_pipeline.shared.observability import logger

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# The job id pattern of the runbook; a server without a test job id gets the placeholder.
_NO_TEST_JOB = "mgnjob-00000000000000000"
# The servers of one wave request share an execution: read a pending one once per reconcile pass.
_PENDING_MEMO = timedelta(seconds=60)
_NOT_APPROVED_REASONS = {
    "CutoverRejected": "rejected",
    "ApprovalTimedOut": "no decision within the approval timeout",
    "States.Timeout": "no decision within the approval timeout",
    "ApproverNotAllowed": "decided by a principal outside the approver list",
}


class GateApproval:
    def __init__(
        self,
        *,
        steps: GateTransitions,
        gateway: MgnGateway,
        ssm: Callable[[], Any],
        notices: GateNotices,
        config: CutoverConfig,
        waves: WaveApprovals | None = None,
    ) -> None:
        # Set in wave scope (``ApprovalScope=WAVE``): approval is asked per wave, see cutover.waves.
        self.waves = waves
        self._steps = steps
        self._store = steps.store
        self._gateway = gateway
        self._ssm = ssm
        self._notices = notices
        self._config = config
        self._pending_automations: dict[str, datetime] = {}

    def request_approval(
        self,
        server_id: str,
        attempt: int,
        token: str,
        execution_arn: str,
        readiness: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``readiness``: what the precheck just saw (``readiness_facts``); read afresh when absent."""
        record = self._steps.expect(server_id, attempt, {GateStatus.OPENING, GateStatus.WAITING_APPROVAL})
        # The precheck's snapshot: what this request is asked on, and what the recheck compares with.
        snapshot = (readiness or {}).get("snapshot")
        asked_on = {"approvalReadiness": snapshot} if isinstance(snapshot, dict) else {}
        if self.waves is not None:
            return self.waves.park(record, token, execution_arn, asked_on)
        facts = dict(readiness) if readiness else readiness_facts(self._gateway.get_server(server_id))
        ref = token_ref(server_id, attempt)
        parameters = {
            "ServerId": [server_id],
            "Hostname": [_safe_name(str(facts.get("hostname") or server_id))],
            "WaveId": [_safe_name(str(facts.get("waveTag") or "none"))[:128]],
            "TestJobId": [record.test_job_id or str(facts.get("lastTestJobId") or _NO_TEST_JOB)],
            "TestResult": [
                _safe_text(
                    f"test launch verified; replication {facts.get('replication')}, lag {facts.get('lag')}"
                )
            ],
            "Approvers": list(self._config.approvers),
            "NotificationArn": [self._config.approval_topic_arn],
            "PipelineExecutionArn": [execution_arn],
            "TaskTokenRef": [ref],
            "Readiness": [_readiness_text(snapshot)],
        }
        # Same request, same client token: a retried task finds the execution it started. A request
        # asked again (readiness got worse, or the approval lapsed) is a new one: its snapshot is new,
        # and SSM must not hand back the execution that was decided already.
        asked_at = snapshot.get("takenAt") if isinstance(snapshot, dict) else None
        client_token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{execution_arn}#{ref}#{asked_at or ''}"))
        automation_id = str(
            self._ssm().start_automation_execution(
                DocumentName=self._config.approval_document, Parameters=parameters, ClientToken=client_token
            )["AutomationExecutionId"]
        )
        moved = self._steps.move(
            record,
            GateStatus.WAITING_APPROVAL,
            token=token,
            set_fields={"automationExecutionId": automation_id, "executionArn": execution_arn, **asked_on},
            remove=["cutoverReadiness"],
        )
        if moved is None:
            return self._asked_meanwhile(server_id, attempt, automation_id)
        self._notices.record(
            server_id,
            "cutover-approval-requested",
            "approval asked in Systems Manager (Automation > Approve/Deny)",
            {
                "attempt": attempt,
                "automationExecutionId": automation_id,
                "approvers": list(self._config.approvers),
                "readiness": snapshot,
            },
        )
        return {"automationExecutionId": automation_id}

    def _asked_meanwhile(self, server_id: str, attempt: int, automation_id: str) -> dict[str, Any]:
        """The gate moved between our read and our write. If another run of this task (Step Functions
        retried it while this one still ran) asked meanwhile, it started this same execution (same
        client token): the request stands and is not written twice. Anything else is a real move."""
        current = self._store.get(server_id)
        if (
            current is not None
            and current.attempt == attempt
            and current.automation_execution_id == automation_id
        ):
            logger.info(
                "approval already asked by a concurrent run of this task",
                extra={"server_id": server_id, "automation_execution_id": automation_id},
            )
            return {"automationExecutionId": automation_id}
        raise GateStateError(f"{server_id}: gate moved while asking for approval")

    def on_approval_event(self, execution_id: str, status: str) -> str:
        """The bridge: an aws:approve step changed status (``approval_events``: checked). The event has
        no decision: read it from SSM."""
        if status in {"Pending", "InProgress", "Waiting"}:
            return "approval step still waiting"
        return self.bridge_automation(execution_id, trigger=f"ssm:{status}")

    def bridge_automation(self, execution_id: str, *, trigger: str) -> str:
        seen_pending = self._pending_automations.get(execution_id)
        if seen_pending is not None and self._steps.now() - seen_pending < _PENDING_MEMO:
            return "approval still waiting"
        execution = self._ssm().get_automation_execution(AutomationExecutionId=execution_id)[
            "AutomationExecution"
        ]
        decision = read_decision(execution)
        if decision.outcome is Outcome.PENDING:
            self._pending_automations[execution_id] = self._steps.now()
        if is_wave_request(decision.token_ref):
            if self.waves is None:
                return f"automation {execution_id} is a wave request, but approval is per server here"
            return self.waves.bridge(
                execution, decision, trigger, self.apply_decision, read_ahead=self._gateway.read_ahead
            )
        ref = parse_token_ref(decision.token_ref)
        if ref is None:
            return f"automation {execution_id} is not a cutover gate's"
        server_id, attempt = ref
        record = self._store.get(server_id)
        if (
            record is None
            or record.attempt != attempt
            or record.automation_execution_id != execution_id
            or record.status is not GateStatus.WAITING_APPROVAL
        ):
            if record is not None and record.outbox is not None:
                self._steps.deliver(record)
            return f"automation {execution_id}: no gate waits on it (already decided, or not ours)"
        return self.apply_decision(record, decision, trigger)

    def apply_decision(self, record: GateRecord, decision: Decision, trigger: str) -> str:
        if decision.outcome is Outcome.PENDING:
            return "approval still waiting"
        status, action, outbox = self._verdict(record.task_token or "", decision)
        fields: dict[str, Any] = {"decision": decision.as_dict(), "reason": outbox.cause or "approved"}
        if status is GateStatus.APPROVED:
            fields["observed"] = self._observe(record.server_id)
        moved = self._store.transition(
            record.server_id,
            record.attempt,
            [GateStatus.WAITING_APPROVAL],
            status,
            self._steps.now(),
            outbox=outbox,
            require_token=True,
            set_fields=fields,
        )
        if moved is None:
            return "decision already applied"
        self._notices.record(
            record.server_id,
            action,
            decision.comment or outbox.cause or "approved",
            {"attempt": record.attempt, **decision.as_dict()},
            actor=decision.approver,
            trigger=trigger,
        )
        if status is GateStatus.REFUSED:
            self._notices.tell(
                record.server_id,
                "cutover-approval-refused",
                "Cutover approval of {host} refused: not an allowed approver",
                happened=[
                    f"{decision.approver} decided, but is not one of {', '.join(self._config.approvers)}."
                ],
                why=["Only the stack's ApproverPrincipalArns may approve; nothing was cut over."],
                what_to_do=[
                    "Have an allowed approver decide: test the server again (MGN: mark it READY_FOR_TEST);"
                    " a new verified test asks again.",
                ],
            )
        self._steps.deliver(moved)
        return f"{action} ({decision.approver or 'nobody'})"

    def _observe(self, server_id: str) -> dict[str, Any] | None:
        """The server as MGN describes it at the approval (a wave's servers are read together): the
        recheck just after checks it instead of reading MGN again. None if it cannot be read now;
        the recheck then reads it."""
        try:
            return observed_snapshot(self._gateway.get_server(server_id), self._steps.now())
        except PipelineError as exc:
            logger.warning(
                "server not read at its approval; the recheck reads it",
                extra={"server_id": server_id, "error": str(exc)},
            )
            return None

    def _verdict(self, token: str, decision: Decision) -> tuple[GateStatus, str, Outbox]:
        """The gate status, audit action and task result a decision leads to."""
        if decision.outcome is Outcome.APPROVED and allowed(
            decision.approver, self._config.approvers, self._config.account_id
        ):
            return GateStatus.APPROVED, "cutover-approved", Outbox(token, output=decision.as_dict())
        if decision.outcome is Outcome.APPROVED:
            why = f"{decision.approver} is not an allowed approver"
            return GateStatus.REFUSED, "cutover-approval-refused", Outbox(token, "ApproverNotAllowed", why)
        if decision.outcome is Outcome.TIMED_OUT:
            why = "nobody decided within the approval timeout"
            return GateStatus.TIMED_OUT, "cutover-approval-timed-out", Outbox(token, "ApprovalTimedOut", why)
        why = f"{decision.outcome.value.lower()} by {decision.approver or 'nobody'}"
        return GateStatus.REJECTED, "cutover-rejected", Outbox(token, "CutoverRejected", why)

    def record_rejection(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        """Not approved (rejected, timed out, refused): the server stays READY_FOR_CUTOVER, nothing else."""
        name = str(error.get("Error", ""))
        if name == "States.Timeout":
            self._time_out(server_id, attempt)
        # Only a gate this attempt closed unapproved is reported so: a stale or stray call tells nobody.
        record = self._steps.expect(
            server_id, attempt, {GateStatus.REJECTED, GateStatus.REFUSED, GateStatus.TIMED_OUT}
        )
        status = record.status.value
        reason = _NOT_APPROVED_REASONS.get(name, name or "not approved")
        self._notices.record(
            server_id,
            "cutover-gate-closed",
            f"not approved: {reason}; server stays READY_FOR_CUTOVER",
            {"attempt": attempt, "status": status, "error": name},
        )
        if name != "ApproverNotAllowed":  # that one was told when the decision arrived
            decision = dict(record.decision or {})
            self._notices.tell(
                server_id,
                "cutover-not-approved",
                f"Cutover of {{host}} not approved ({reason})",
                happened=[
                    f"Gate attempt {attempt} closed: {reason}"
                    + (f" by {decision['approver']}" if decision.get("approver") else "")
                    + (f', comment "{decision["comment"]}"' if decision.get("comment") else "")
                    + ".",
                    "The server stays READY_FOR_CUTOVER and keeps replicating; nothing else was done.",
                ],
                what_to_do=[
                    "To ask again, test the server again (MGN: mark it READY_FOR_TEST): the pipeline"
                    " launches and verifies a new test, and a new verified test opens a new gate.",
                ],
            )
        return {"closed": status}

    def _time_out(self, server_id: str, attempt: int) -> None:
        """The state machine's own timeout: close the gate and stop the approval nobody answered."""
        record = self._store.get(server_id)
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.WAITING_APPROVAL],
            GateStatus.TIMED_OUT,
            self._steps.now(),
            remove=["taskToken"],
        )
        # A wave's approval covers other servers too: only a per-server one is stopped.
        if moved is None or record is None or not record.automation_execution_id or record.wave_request_id:
            return
        try:
            self._ssm().stop_automation_execution(AutomationExecutionId=record.automation_execution_id)
        except ClientError as exc:
            logger.warning("could not stop the approval automation", extra={"error": str(exc)})


def _safe_name(text: str) -> str:
    cleaned = _UNSAFE.sub("-", text).lstrip("._-") or "server"
    return cleaned[:253]


def _safe_text(text: str) -> str:
    return runbook_text(text, 200) or "verified"


def _readiness_text(snapshot: Mapping[str, Any] | None) -> str:
    """The runbook's Readiness parameter: the snapshot in one plain line."""
    readable = read_snapshot(snapshot)
    return (runbook_text(readable.summary()) if readable else "") or "not measured"
