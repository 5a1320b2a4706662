"""The cutover gate's work: the state machine's tasks, the approval bridge, and ``follow`` (events, reconciler).

Every entry point reads the gate record and continues from where it is, with conditional
transitions (``store``), so a duplicated event, a lost one caught later by the reconciler, and a
retried task all make each step once. ``start_cutover`` is reached only from APPROVED, which only
an allowed approval writes, and it leaves APPROVED in the same conditional write: one approval,
at most one cutover launch.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.cutover.config import GATE_TAG, CutoverConfig
from mgn_pipeline.cutover.errors import (
    ApprovalTimedOut,
    ApproverNotAllowed,
    CutoverLaunchFailed,
    CutoverRejected,
    CutoverStartRefused,
    CutoverVerificationFailed,
    CutoverVerificationPending,
    GateStateError,
    ReplicationNotReady,
)
from mgn_pipeline.cutover.model import (
    CLOSED,
    Decision,
    GateStatus,
    Outcome,
    allowed,
    execution_name,
    parse_token_ref,
    read_decision,
    replication_problems,
    token_ref,
)
from mgn_pipeline.cutover.queue import CutoverQueue, queue_fields
from mgn_pipeline.cutover.store import GateRecord, GateStore, Outbox
from mgn_pipeline.cutover.waves import WaveApprovals, is_wave_request
from mgn_pipeline.jobs.health_gate import HealthStatus
from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.mgn_jobs import MgnJobs
from mgn_pipeline.jobs.probe import TcpProber
from mgn_pipeline.jobs.verification import (
    CUTOVER_PHASES,
    Expectations,
    PostLaunchFacts,
    VerdictState,
    declared_ports,
    post_launch_facts,
    verify_instance,
)
from mgn_pipeline.shared.aws.audit import AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.mgn import MgnGateway, translate_errors
from mgn_pipeline.shared.aws.notifier import Notifier, server_line
from mgn_pipeline.shared.errors import MgnConflictError, NetworkHealthGateFailed, PipelineError
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.trigger import Trigger

TRIGGER = "cutover-gate"
# Step Functions answers these when a token was already completed (or its execution ended).
_TOKEN_GONE = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken", "ExecutionDoesNotExist"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE_TEXT = re.compile(r"[^A-Za-z0-9 .,:;()/%+_-]")
# The job id pattern of the runbook; a server without a test job id gets the placeholder.
_NO_TEST_JOB = "mgnjob-00000000000000000"
_PENDING_MEMO = timedelta(seconds=60)


class CutoverGate:
    def __init__(
        self,
        *,
        store: GateStore,
        queue: CutoverQueue,
        gateway: MgnGateway,
        jobs: MgnJobs,
        mgn: Callable[[], Any],
        instances: Callable[[], Ec2Instances],
        health: HealthStatus,
        prober: TcpProber,
        ssm: Callable[[], Any],
        stepfunctions: Callable[[], Any],
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        config: CutoverConfig,
        now: Callable[[], datetime],
        waves: WaveApprovals | None = None,
    ) -> None:
        # Set in wave scope (``ApprovalScope=WAVE``): approval is asked per wave, see cutover.waves.
        self.waves = waves
        self._pending_automations: dict[str, datetime] = {}
        self._store = store
        self._queue = queue
        self._gateway = gateway
        self._jobs = jobs
        self._mgn = mgn
        self._instances = instances
        self._health = health
        self._prober = prober
        self._ssm = ssm
        self._sfn = stepfunctions
        self._audit = audit
        self._notifier = notifier
        self._config = config
        self._now = now

    # ================================================================== opening a gate
    def start(self, server_id: str, test_job_id: str | None) -> None:
        """``CutoverGateStarter``: open the gate after a verified test; a repeat does nothing."""
        self.open(server_id, test_job_id, reopen=False)

    def open(self, server_id: str, test_job_id: str | None, *, reopen: bool) -> str:
        """Start the execution of the next attempt unless one is running or this test was decided."""
        record = self._store.get(server_id)
        if record is not None and record.status not in CLOSED:
            if record.status is GateStatus.OPENING and record.execution_arn is None:
                return self._start_execution(record)  # a crash between the claim and the start
            return f"cutover gate open (attempt {record.attempt}: {record.status.value})"
        if record is not None and not reopen and (test_job_id is None or record.test_job_id == test_job_id):
            return f"cutover gate closed for test {record.test_job_id}: {record.status.value}"
        attempt = 1 if record is None else record.attempt + 1
        job = test_job_id or (record.test_job_id if record else None)
        if not self._store.open(server_id, attempt, job, record, self._now()):
            return "cutover gate being opened by a concurrent trigger"
        opened = self._store.get(server_id)
        assert opened is not None  # noqa: S101 - just written
        self._record(
            server_id,
            "cutover-gate-opened",
            "a verified test; approval will be asked",
            {"attempt": attempt, "testJobId": job},
        )
        return self._start_execution(opened)

    def _start_execution(self, record: GateRecord) -> str:
        machine = self._config.state_machine_arn
        if not machine:
            return "cutover gate recorded; no state machine configured"
        name = execution_name(record.server_id, record.attempt)
        execution_input = {
            "serverId": record.server_id,
            "attempt": record.attempt,
            "testJobId": record.test_job_id,
            "archive": self._config.archive_after_seconds is not None,
            "archiveDelaySeconds": self._config.archive_after_seconds or 0,
        }
        try:
            arn = str(
                self._sfn().start_execution(
                    stateMachineArn=machine, name=name, input=json.dumps(execution_input)
                )["executionArn"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        self._store.transition(
            record.server_id,
            record.attempt,
            [record.status],
            record.status,
            self._now(),
            set_fields={"executionArn": arn},
        )
        return f"cutover gate started: {name}"

    # ================================================================== tasks: before asking
    def precheck(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Health gate green, replication CONTINUOUS with lag under the threshold; raises otherwise."""
        record = self._expect(server_id, attempt, {GateStatus.OPENING, GateStatus.APPROVED})
        server = self._gateway.get_server(server_id)
        if server.lifecycle is not LifeCycleState.READY_FOR_CUTOVER:
            raise GateStateError(f"{server_id} is {server.lifecycle.value}, not READY_FOR_CUTOVER")
        self._check_ready(server)
        return {
            "status": record.status.value,
            "lag": server.lag_duration,
            "replication": server.replication.value,
        }

    def _check_ready(self, server: SourceServer) -> None:
        green, reasons = self._health.latest_gate_status()
        if not green:
            raise NetworkHealthGateFailed(
                "before-cutover", reasons, "network health gate: " + "; ".join(reasons)
            )
        problems = replication_problems(server, self._config.max_lag_seconds)
        if problems:
            raise ReplicationNotReady("; ".join(problems))

    def _ready_problems(self, server: SourceServer) -> list[str]:
        green, reasons = self._health.latest_gate_status()
        return ([] if green else reasons) + replication_problems(server, self._config.max_lag_seconds)

    def wait_ready(
        self, server_id: str, attempt: int, token: str, error: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Park the token until the network and replication are ready (the reconciler and events resolve it)."""
        why = _cause(error)
        record = self._expect(server_id, attempt, {GateStatus.OPENING, GateStatus.APPROVED})
        new = (
            GateStatus.WAITING_READY
            if record.status is GateStatus.OPENING
            else GateStatus.WAITING_REPLICATION
        )
        if (
            self._store.transition(
                server_id, attempt, [record.status], new, self._now(), token=token, set_fields={"reason": why}
            )
            is None
        ):
            raise GateStateError(f"{server_id}: gate moved while parking")
        phase = (
            "before asking for approval"
            if new is GateStatus.WAITING_READY
            else "after approval, before cutover"
        )
        # No message: the pipeline continues by itself when ready; status and the audit show the wait.
        self._record(server_id, "cutover-waiting-for-readiness", why, {"attempt": attempt, "phase": phase})
        return {"waiting": new.value}

    # ================================================================== approval
    def request_approval(
        self, server_id: str, attempt: int, token: str, execution_arn: str
    ) -> dict[str, Any]:
        record = self._expect(server_id, attempt, {GateStatus.OPENING, GateStatus.WAITING_APPROVAL})
        if self.waves is not None:
            return self.waves.park(record, token, execution_arn)
        server = self._gateway.get_server(server_id)
        parameters = {
            "ServerId": [server_id],
            "Hostname": [_safe_name(server.hostname or server_id)],
            "WaveId": [_safe_name(server.tags.get("wave", "none"))[:128]],
            "TestJobId": [record.test_job_id or server.last_test_job_id or _NO_TEST_JOB],
            "TestResult": [
                _safe_text(
                    f"test launch verified; replication {server.replication.value}, lag {server.lag_duration}"
                )
            ],
            "Approvers": list(self._config.approvers),
            "NotificationArn": [self._config.approval_topic_arn],
            "PipelineExecutionArn": [execution_arn],
            "TaskTokenRef": [token_ref(server_id, attempt)],
        }
        # Same attempt, same client token: a retried task finds the execution it started.
        client_token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{execution_arn}#{token_ref(server_id, attempt)}"))
        automation_id = str(
            self._ssm().start_automation_execution(
                DocumentName=self._config.approval_document, Parameters=parameters, ClientToken=client_token
            )["AutomationExecutionId"]
        )
        if (
            self._store.transition(
                server_id,
                attempt,
                [record.status],
                GateStatus.WAITING_APPROVAL,
                self._now(),
                token=token,
                set_fields={"automationExecutionId": automation_id, "executionArn": execution_arn},
            )
            is None
        ):
            raise GateStateError(f"{server_id}: gate moved while asking for approval")
        self._record(
            server_id,
            "cutover-approval-requested",
            "approval asked in Systems Manager (Automation > Approve/Deny)",
            {
                "attempt": attempt,
                "automationExecutionId": automation_id,
                "approvers": list(self._config.approvers),
            },
        )
        return {"automationExecutionId": automation_id}

    def on_approval_event(self, event: Mapping[str, Any]) -> str:
        """The bridge: an aws:approve step finished. The event has no decision: read it from SSM."""
        detail = event.get("detail") or {}
        execution_id = str(detail.get("ExecutionId") or "")
        if not execution_id:
            return "event names no automation execution"
        if str(detail.get("Status")) in {"Pending", "InProgress", "Waiting"}:
            return "approval step still waiting"
        return self.bridge_automation(execution_id, trigger=f"ssm:{detail.get('Status')}")

    def bridge_automation(self, execution_id: str, *, trigger: str) -> str:
        seen_pending = self._pending_automations.get(execution_id)
        if seen_pending is not None and self._now() - seen_pending < _PENDING_MEMO:
            return "approval still waiting"
        execution = self._ssm().get_automation_execution(AutomationExecutionId=execution_id)[
            "AutomationExecution"
        ]
        decision = read_decision(execution)
        if decision.outcome is Outcome.PENDING:
            # The servers of one wave request share an execution: one read per reconcile pass.
            self._pending_automations[execution_id] = self._now()
        if is_wave_request(decision.token_ref):
            if self.waves is None:
                return f"automation {execution_id} is a wave request, but approval is per server here"
            return self.waves.bridge(execution, decision, trigger, self._apply_decision)
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
                self._deliver(record)
            return f"automation {execution_id}: no gate waits on it (already decided, or not ours)"
        return self._apply_decision(record, decision, trigger)

    def _apply_decision(self, record: GateRecord, decision: Decision, trigger: str) -> str:
        if decision.outcome is Outcome.PENDING:
            return "approval still waiting"
        token = record.task_token or ""
        details = {"attempt": record.attempt, **decision.as_dict()}
        if decision.outcome is Outcome.APPROVED and allowed(
            decision.approver, self._config.approvers, self._config.account_id
        ):
            status, outbox, action = (
                GateStatus.APPROVED,
                Outbox(token, output=decision.as_dict()),
                "cutover-approved",
            )
        elif decision.outcome is Outcome.APPROVED:
            status = GateStatus.REFUSED
            outbox = Outbox(token, "ApproverNotAllowed", f"{decision.approver} is not an allowed approver")
            action = "cutover-approval-refused"
        elif decision.outcome is Outcome.TIMED_OUT:
            status, action = GateStatus.TIMED_OUT, "cutover-approval-timed-out"
            outbox = Outbox(token, "ApprovalTimedOut", "nobody decided within the approval timeout")
        else:
            status, action = GateStatus.REJECTED, "cutover-rejected"
            outbox = Outbox(
                token,
                "CutoverRejected",
                f"{decision.outcome.value.lower()} by {decision.approver or 'nobody'}",
            )
        moved = self._store.transition(
            record.server_id,
            record.attempt,
            [GateStatus.WAITING_APPROVAL],
            status,
            self._now(),
            outbox=outbox,
            require_token=True,
            set_fields={"decision": decision.as_dict(), "reason": outbox.cause or "approved"},
        )
        if moved is None:
            return "decision already applied"
        self._audit.append(
            AuditRecord(
                subject=record.server_id,
                action=action,
                trigger=trigger,
                actor=decision.approver,
                reason=decision.comment or outbox.cause or "approved",
                details=details,
            ),
            self._now(),
        )
        if status is GateStatus.REFUSED:
            self._tell(
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
        self._deliver(moved)
        return f"{action} ({decision.approver or 'nobody'})"

    def record_rejection(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        """Not approved (rejected, timed out, refused): the server stays READY_FOR_CUTOVER, nothing else."""
        name = str(error.get("Error", ""))
        if name == "States.Timeout":
            record = self._store.get(server_id)
            moved = self._store.transition(
                server_id,
                attempt,
                [GateStatus.WAITING_APPROVAL],
                GateStatus.TIMED_OUT,
                self._now(),
                remove=["taskToken"],
            )
            # A wave's approval covers other servers too: only a per-server one is stopped.
            if (
                moved is not None
                and record is not None
                and record.automation_execution_id
                and not record.wave_request_id
            ):
                try:
                    self._ssm().stop_automation_execution(
                        AutomationExecutionId=record.automation_execution_id
                    )
                except ClientError as exc:
                    logger.warning("could not stop the approval automation", extra={"error": str(exc)})
        record = self._store.get(server_id)
        status = record.status.value if record else "unknown"
        reason = {
            "CutoverRejected": "rejected",
            "ApprovalTimedOut": "no decision within the approval timeout",
            "States.Timeout": "no decision within the approval timeout",
            "ApproverNotAllowed": "decided by a principal outside the approver list",
        }.get(name, name or "not approved")
        self._record(
            server_id,
            "cutover-gate-closed",
            f"not approved: {reason}; server stays READY_FOR_CUTOVER",
            {"attempt": attempt, "status": status, "error": name},
        )
        if name != "ApproverNotAllowed":  # that one was told when the decision arrived
            decision = dict((record.decision if record else None) or {})
            self._tell(
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

    # ================================================================== tasks: cutover
    def recheck(self, server_id: str, attempt: int) -> dict[str, Any]:
        self._expect(server_id, attempt, {GateStatus.APPROVED})
        server = self._gateway.get_server(server_id)
        self._check_ready(server)
        return {"replication": server.replication.value, "lag": server.lag_duration}

    def withdraw_approval(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Replication stayed stalled past the wait limit: the approval lapses; ask again when ready."""
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.WAITING_REPLICATION, GateStatus.APPROVED],
            GateStatus.OPENING,
            self._now(),
            remove=["taskToken", "automationExecutionId"],
        )
        if moved is None:
            raise GateStateError(f"{server_id}: gate not waiting for replication")
        self._record(
            server_id,
            "cutover-approval-withdrawn",
            "replication not ready before the wait limit; approval will be asked again",
            {"attempt": attempt},
        )
        return {"withdrawn": True}

    def start_cutover(self, server_id: str, attempt: int, token: str) -> dict[str, Any]:
        """APPROVED -> CUTTING_OVER (once per approval), queued for the launch batcher.

        The batcher starts the MGN job within MGN's job quotas (``cutover.launcher``); the Launch
        Result event (or the reconciler) then resolves the token."""
        now = self._now()
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.APPROVED],
            GateStatus.CUTTING_OVER,
            now,
            token=token,
            set_fields=queue_fields(now),
        )
        if moved is None:
            # A retried task (same approval): refresh its token, never queue a second cutover.
            moved = self._store.transition(
                server_id, attempt, [GateStatus.CUTTING_OVER], GateStatus.CUTTING_OVER, now, token=token
            )
            if moved is None:
                raise GateStateError(f"{server_id}: no approved cutover to start for attempt {attempt}")
            return {"jobId": moved.cutover_job_id, "queued": moved.cutover_job_id is None, "retried": True}
        decision = dict(moved.decision or {})
        self._audit.append(
            AuditRecord(
                subject=server_id,
                action="cutover-queued",
                trigger=TRIGGER,
                actor=decision.get("approver"),
                reason=f"approved by {decision.get('approver')} at {decision.get('time')}; the launch "
                "batcher starts it within MGN's job quotas",
                details={"attempt": attempt, "approval": decision},
            ),
            now,
        )
        return {"queued": True}

    def refuse_start(self, server_id: str, attempt: int, why: str) -> str:
        """MGN kept refusing the queued cutover: fail the task (CutoverStartRefused); nothing was launched."""
        record = self._store.get(server_id)
        if record is None or record.attempt != attempt or record.status is not GateStatus.CUTTING_OVER:
            return "cutover gate moved on"
        return self._resolve(
            record,
            GateStatus.CUTTING_OVER,
            GateStatus.CUTTING_OVER,
            Outbox(record.task_token or "", CutoverStartRefused.__name__, why),
            "cutover start refused",
            {"reason": why},
        )

    def verify(self, server_id: str, attempt: int) -> dict[str, Any]:
        """The cutover instance, checked by the test verifier (launches.verification)."""
        record = self._expect(server_id, attempt, {GateStatus.LAUNCHED, GateStatus.VERIFIED})
        if record.status is GateStatus.VERIFIED:
            return {"verified": True}
        server = self._gateway.get_server(server_id)
        config = self._config
        facts = self._instances().facts(record.instance_id or "")
        job = self._jobs.job(record.cutover_job_id or "") if record.cutover_job_id else None
        # The same verifier as test launches.
        result = verify_instance(
            facts,
            Expectations(config.allowed_subnet_ids, config.expected_security_group_ids),
            self._post_launch(server_id, job),
            self._declared_ports(server),
            self._prober,
            config.probe_timeout_seconds,
        )
        if result.state is VerdictState.PENDING:
            raise CutoverVerificationPending("; ".join(result.reasons))
        if result.state is VerdictState.FAIL:
            why = "; ".join(result.reasons)
            self._store.transition(
                server_id,
                attempt,
                [GateStatus.LAUNCHED],
                GateStatus.LAUNCHED,
                self._now(),
                set_fields={"reason": why},
            )
            self._record(
                server_id,
                "cutover-verification-failed",
                why,
                {"attempt": attempt, "instanceId": record.instance_id, "verdict": result.as_dict()},
            )
            raise CutoverVerificationFailed(why)
        self._store.transition(server_id, attempt, [GateStatus.LAUNCHED], GateStatus.VERIFIED, self._now())
        self._record(
            server_id,
            "cutover-verification-passed",
            "every check passed",
            {"attempt": attempt, "instanceId": record.instance_id, "verdict": result.as_dict()},
        )
        return {"verified": True, "instanceId": record.instance_id}

    def finalize(self, server_id: str, attempt: int) -> dict[str, Any]:
        record = self._expect(
            server_id, attempt, {GateStatus.VERIFIED, GateStatus.FINALIZED, GateStatus.DONE}
        )
        if record.status is GateStatus.VERIFIED:
            server = self._gateway.get_server(server_id)
            if not server.cutover_finalized:
                with translate_errors("FinalizeCutover"):
                    self._mgn().finalize_cutover(sourceServerID=server_id)
            archive = self._config.archive_after_seconds is not None
            self._store.transition(
                server_id,
                attempt,
                [GateStatus.VERIFIED],
                GateStatus.FINALIZED if archive else GateStatus.DONE,
                self._now(),
            )
            self._record(
                server_id,
                "cutover-finalized",
                "verified cutover instance; replication stopped, source can be retired",
                {"attempt": attempt, "instanceId": record.instance_id, "jobId": record.cutover_job_id},
            )
            decision = dict(record.decision or {})
            self._tell(
                server_id,
                "cutover-done",
                "Cutover done: {host}",
                happened=[
                    f"Cutover instance {record.instance_id} verified and the cutover finalized"
                    f" (job {record.cutover_job_id}).",
                    f"Approved by {decision.get('approver')} at {decision.get('time')}.",
                ],
                what_to_do=[
                    "Replication has stopped: retire the source server on premises when your runbook says so.",
                    (
                        f"MGN archives the source server record {self._config.archive_after_seconds} s from now."
                        if archive
                        else "Archive the source server record in MGN when you no longer need it."
                    ),
                ],
            )
        return {"finalized": True}

    def archive(self, server_id: str, attempt: int) -> dict[str, Any]:
        record = self._expect(server_id, attempt, {GateStatus.FINALIZED, GateStatus.DONE})
        if record.status is GateStatus.FINALIZED:
            with translate_errors("MarkAsArchived"):
                self._mgn().mark_as_archived(sourceServerID=server_id)
            self._store.transition(server_id, attempt, [GateStatus.FINALIZED], GateStatus.DONE, self._now())
            self._record(
                server_id,
                "source-server-archived",
                "archived after the configured delay",
                {"attempt": attempt},
            )
        return {"archived": True}

    def rollback(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        """Launch failed or verification failed: terminate the failed instance, READY_FOR_CUTOVER again."""
        record = self._expect(
            server_id, attempt, {GateStatus.CUTTING_OVER, GateStatus.LAUNCHED, GateStatus.ROLLED_BACK}
        )
        if record.status is GateStatus.ROLLED_BACK:
            return {"rolledBack": True}
        reason = _cause(error) or record.reason or str(error.get("Error") or "cutover failed")
        # Still queued (the launch timed out waiting for MGN capacity): leave the queue first, unless
        # a batcher run holds it and its StartCutover may be under way (then Rollback is retried).
        still_queued = record.status is GateStatus.CUTTING_OVER and record.cutover_job_id is None
        if still_queued and not self._queue.withdraw(server_id, attempt, self._now()):
            raise MgnConflictError(f"{server_id}: the launch batcher is starting this cutover now")
        server = self._gateway.get_server(server_id)
        if server.lifecycle is LifeCycleState.CUTTING_OVER:
            # MGN refuses to terminate instances in CUTTING_OVER: revert the lifecycle first.
            self._jobs.change_lifecycle(server_id, LifeCycleState.READY_FOR_CUTOVER.value)
            server = self._gateway.get_server(server_id)
        terminated: str | None = None
        instance = record.instance_id
        if instance and server.launched_instance_id == instance:
            answer = self._jobs.terminate_target_instances(
                [server_id], {GATE_TAG: token_ref(server_id, attempt)}
            )
            refused = answer.refused.get(server_id, "")
            if answer.job_id:
                terminated = instance
            elif answer.quota or (refused and "NO_LAUNCHED_INSTANCE" not in refused):
                raise MgnConflictError(f"TerminateTargetInstances refused: {answer.quota or refused}")
        self._store.transition(
            server_id,
            attempt,
            [record.status],
            GateStatus.ROLLED_BACK,
            self._now(),
            remove=["taskToken"],
            set_fields={"reason": reason},
        )
        self._record(
            server_id,
            "cutover-rolled-back",
            reason,
            {
                "attempt": attempt,
                "jobId": record.cutover_job_id,
                "instanceId": instance,
                "terminated": terminated,
                "error": error.get("Error"),
            },
        )
        self._tell(
            server_id,
            "cutover-rolled-back",
            "Cutover of {host} rolled back",
            happened=[
                f"Failed instance: {terminated + ' terminated' if terminated else 'none launched'}"
                f" (job {record.cutover_job_id}).",
                "The source server keeps running and replicating; the server is READY_FOR_CUTOVER again.",
            ],
            why=[reason],
            what_to_do=[
                "Fix the cause, then test the server again (MGN: mark it READY_FOR_TEST): a new verified"
                " test opens a new gate.",
            ],
        )
        return {"rolledBack": True, "reason": reason, "terminated": terminated}

    def record_blocked(self, server_id: str, attempt: int) -> dict[str, Any]:
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.WAITING_READY, GateStatus.OPENING],
            GateStatus.BLOCKED,
            self._now(),
            remove=["taskToken"],
        )
        self._record(
            server_id,
            "cutover-gate-blocked",
            "not ready before the wait limit; a new verified test asks again",
            {"attempt": attempt, "moved": moved is not None},
        )
        if moved is not None:
            self._tell(
                server_id,
                "cutover-blocked",
                "Cutover gate of {host} closed: never ready",
                happened=[f"Gate attempt {attempt} closed without asking for approval."],
                why=[moved.reason or "replication or the network was not ready within the wait limit"],
                what_to_do=[
                    "Fix replication or the network (tools/status.py shows the server's last error and its fix),"
                    " then test the server again (MGN: mark it READY_FOR_TEST).",
                ],
            )
        return {"blocked": True}

    def record_failure(self, server_id: str, attempt: int, error: Mapping[str, Any]) -> dict[str, Any]:
        reason = f"{error.get('Error')}: {_cause(error) or 'no cause given'}"
        record = self._store.get(server_id)
        if record is not None and record.attempt == attempt and record.status not in CLOSED:
            self._store.transition(
                server_id,
                attempt,
                [record.status],
                GateStatus.FAILED,
                self._now(),
                remove=["taskToken"],
                set_fields={"reason": reason},
            )
        self._record(server_id, "cutover-gate-failed", reason, {"attempt": attempt})
        self._tell(
            server_id,
            "cutover-needs-person",
            "Cutover gate of {host} needs a person",
            happened=[
                f"Gate attempt {attempt} stopped on an unexpected error; nothing more is done to the server."
            ],
            why=[reason],
            what_to_do=[
                "Read the gate execution's history and the server's audit trail (tools/status.py --server).",
                "When fixed, test the server again (MGN: mark it READY_FOR_TEST) to open a new gate.",
            ],
        )
        return {"failed": True}

    # ================================================================== follow (events, reconciler)
    def follow(self, server: SourceServer, trigger: Trigger) -> str:
        """READY_FOR_CUTOVER / CUTTING_OVER: resolve what the execution waits on, or open the gate."""
        record = self._store.get(server.server_id)
        if record is None:
            if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER and server.last_test_job_id:
                return self.open(server.server_id, server.last_test_job_id, reopen=False)
            return "no cutover gate"
        if record.outbox is not None:
            self._deliver(record)
            return f"delivered the pending result of {record.status.value}"
        if record.status in {GateStatus.WAITING_READY, GateStatus.WAITING_REPLICATION}:
            problems = self._ready_problems(server)
            if problems:
                return "waiting until ready: " + "; ".join(problems)
            return self._resolve(
                record,
                record.status,
                GateStatus.OPENING if record.status is GateStatus.WAITING_READY else GateStatus.APPROVED,
                Outbox(record.task_token or "", output={"ready": True}),
                "ready",
            )
        if record.status is GateStatus.WAITING_APPROVAL and record.automation_execution_id:
            # The safety net for a lost SSM event: one GetAutomationExecution per reconcile per
            # waiting approval (the servers of one wave request share it).
            return self.bridge_automation(record.automation_execution_id, trigger=trigger.label)
        if record.status is GateStatus.WAITING_APPROVAL and record.wave:
            return f"waiting to be asked for with wave {record.wave}"
        if record.status is GateStatus.CUTTING_OVER and record.cutover_job_id and record.task_token:
            return self._follow_launch(record)
        if record.status in CLOSED:
            if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER and server.last_test_job_id not in (
                None,
                record.test_job_id,
            ):
                return self.open(server.server_id, server.last_test_job_id, reopen=False)
            return f"cutover gate closed: {record.status.value}"
        if record.status is GateStatus.OPENING and record.execution_arn is None:
            return self._start_execution(record)
        return f"cutover gate at {record.status.value}"

    def _follow_launch(self, record: GateRecord) -> str:
        job = self._jobs.job(record.cutover_job_id or "")
        participant: Mapping[str, Any] = next(
            (
                p
                for p in (job or {}).get("participatingServers") or []
                if p.get("sourceServerID") == record.server_id
            ),
            {},
        )
        status = str(participant.get("launchStatus", "UNKNOWN"))
        if status == "LAUNCHED":
            instance = str(participant.get("launchedEc2InstanceID") or "")
            return self._resolve(
                record,
                GateStatus.CUTTING_OVER,
                GateStatus.LAUNCHED,
                Outbox(
                    record.task_token or "", output={"jobId": record.cutover_job_id, "instanceId": instance}
                ),
                "cutover launched",
                {"instanceId": instance},
            )
        if status == "FAILED" or job is None or job.get("status") == "COMPLETED":
            reasons = self._jobs.failure_reasons(record.cutover_job_id or "", record.server_id) if job else []
            why = "; ".join(reasons) or f"cutover launch {status.lower()} in job {record.cutover_job_id}"
            # The token is consumed; the record stays CUTTING_OVER for the Rollback task.
            return self._resolve(
                record,
                GateStatus.CUTTING_OVER,
                GateStatus.CUTTING_OVER,
                Outbox(record.task_token or "", "CutoverLaunchFailed", why),
                "cutover launch failed",
                {"reason": why},
            )
        return f"cutover launch in progress (job {record.cutover_job_id}: {status})"

    def _resolve(
        self,
        record: GateRecord,
        expected: GateStatus,
        new: GateStatus,
        outbox: Outbox,
        what: str,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        moved = self._store.transition(
            record.server_id,
            record.attempt,
            [expected],
            new,
            self._now(),
            outbox=outbox,
            require_token=True,
            set_fields=fields,
        )
        if moved is None:
            return f"{what}: already resolved"
        self._deliver(moved)
        return what

    def _deliver(self, record: GateRecord) -> None:
        box = record.outbox
        if box is None:
            return
        try:
            if box.error is None:
                self._sfn().send_task_success(
                    taskToken=box.token, output=json.dumps(dict(box.output), default=str)
                )
            else:
                # The cause stays short: Step Functions keeps it in the execution history.
                self._sfn().send_task_failure(taskToken=box.token, error=box.error, cause=box.cause[:1000])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _TOKEN_GONE:
                raise
            logger.info("task token already completed", extra={"server_id": record.server_id})
        self._store.clear_outbox(record.server_id, box.token)

    # ================================================================== helpers
    def _expect(self, server_id: str, attempt: int, statuses: set[GateStatus]) -> GateRecord:
        record = self._store.get(server_id)
        if record is None or record.attempt != attempt or record.status not in statuses:
            found = "none" if record is None else f"attempt {record.attempt} {record.status.value}"
            raise GateStateError(
                f"{server_id}: gate attempt {attempt} expected in {sorted(s.value for s in statuses)}, found {found}"
            )
        return record

    def _post_launch(self, server_id: str, job: Mapping[str, Any] | None) -> PostLaunchFacts:
        participant: Mapping[str, Any] = next(
            (
                p
                for p in (job or {}).get("participatingServers") or []
                if p.get("sourceServerID") == server_id
            ),
            {},
        )
        return post_launch_facts(self._jobs.post_launch_actions(server_id), participant, CUTOVER_PHASES)

    def _declared_ports(self, server: SourceServer) -> tuple[tuple[int, ...], str | None]:
        return declared_ports(server.tags, self._config.app_ports_tag, self._config.default_app_ports)

    def _record(self, server_id: str, action: str, reason: str, details: dict[str, Any]) -> None:
        self._audit.append(
            AuditRecord(
                subject=server_id,
                action=action,
                trigger=TRIGGER,
                actor="pipeline",
                reason=reason,
                details=details,
            ),
            self._now(),
        )

    def _tell(
        self,
        server_id: str,
        kind: str,
        subject: str,
        *,
        happened: list[str],
        why: list[str] | tuple[str, ...] = (),
        what_to_do: list[str] | tuple[str, ...] = (),
    ) -> None:
        """A message for people: ``subject`` names the server as ``{host}`` (host name, else id)."""
        hostname = self._hostname(server_id)
        wave = self._audit.wave_for(server_id)
        self._notifier().tell(
            kind,
            subject.format(host=hostname or server_id),
            wave=wave,
            about=server_line(server_id, hostname, wave),
            happened=happened,
            why=why,
            what_to_do=what_to_do,
        )

    def _hostname(self, server_id: str) -> str | None:
        try:
            return self._gateway.get_server(server_id).hostname or None
        except PipelineError:
            return None  # the message still names the server by its id


def _cause(error: Mapping[str, Any]) -> str:
    """The message of a caught error: Lambda's ``errorMessage`` inside the Cause, or the Cause itself."""
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


def _safe_name(text: str) -> str:
    cleaned = _UNSAFE.sub("-", text).lstrip("._-") or "server"
    return cleaned[:253]


def _safe_text(text: str) -> str:
    return _UNSAFE_TEXT.sub(" ", text)[:200] or "verified"


__all__ = ["ApprovalTimedOut", "ApproverNotAllowed", "CutoverGate", "CutoverLaunchFailed", "CutoverRejected"]
