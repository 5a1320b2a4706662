"""Approval per wave (``ApprovalScope=WAVE``): one decision covers the servers of a wave that reached the gate.

Each server's execution still waits on its own task token. Instead of asking at once, the gate
parks in WAITING_APPROVAL with ``awaitingWave`` set; the reconciler then asks once for the wave:
as soon as no other server of the wave is still on its way to the gate (replicating, testing,
prechecks), or when the first parked server has waited ``wave_gather_seconds``. Servers that
arrive later are asked for in a follow-up request, never swept into one a person already saw.

What a person approves is a *wave request*: a stored list of (server, attempt) with its SHA-256,
written before the approval runbook starts and passed to it. The bridge applies the decision only
to gates that are in that list and carry that automation execution, so nothing happens to a
server the approver was not shown.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mgn_pipeline.cutover.config import CutoverConfig
from mgn_pipeline.cutover.errors import GateStateError
from mgn_pipeline.cutover.evidence import ReadinessSnapshot, read_snapshot, runbook_text, wave_summary
from mgn_pipeline.cutover.model import Decision, GateStatus, Outcome
from mgn_pipeline.cutover.store import (
    AWAITING_WAVE,
    WAVE_REQUEST_PREFIX,
    GateRecord,
    GateStore,
    ParkedGate,
    WaveRequest,
    WaveRequestStore,
)
from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline.shared.trigger import Trigger

# Steps of a server still on its way to the gate: its wave waits for it (up to the gather limit).
ON_THE_WAY = frozenset(
    {
        PipelineStep.ENFORCE_REPLICATION_SETTINGS,
        PipelineStep.REPAIR_REPLICATION,
        PipelineStep.WAIT_FOR_REPLICATION,
        PipelineStep.START_TEST,
        PipelineStep.VERIFY_TEST,
    }
)
# At the gate but not yet asking (prechecks, waiting for readiness): also on its way.
_GATE_NOT_ASKING = frozenset({GateStatus.OPENING, GateStatus.WAITING_READY})
# The runbook shows this many servers by name; the notification and the status command list all.
SHOWN_IN_RUNBOOK = 50
TRIGGER = "wave-approval"


def request_digest(wave: str, members: Iterable[tuple[str, int]]) -> str:
    lines = [wave, *(f"{sid}#{attempt}" for sid, attempt in sorted(members))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def request_id(wave: str, digest: str) -> str:
    """Same wave and same gates, same request: a repeated ask finds the request it made."""
    return f"{WAVE_REQUEST_PREFIX}{wave}#{digest[:16]}"


def is_wave_request(ref: str | None) -> bool:
    return bool(ref) and str(ref).startswith(WAVE_REQUEST_PREFIX)


@dataclass(frozen=True, slots=True)
class GatherVerdict:
    ask: bool
    why: str


def gather(
    parked: Sequence[ParkedGate],
    still_coming: Sequence[str],
    now: datetime,
    limit: timedelta,
) -> GatherVerdict:
    """Ask now, or wait for the rest of the wave? Pure."""
    if not parked:
        return GatherVerdict(False, "no server waits for approval")
    if not still_coming:
        return GatherVerdict(True, f"all {len(parked)} servers of the wave at the gate are waiting")
    first = min(datetime.fromisoformat(p.since) for p in parked)
    if now - first >= limit:
        return GatherVerdict(
            True,
            f"{len(still_coming)} servers still on their way after {int(limit.total_seconds() // 60)} min;"
            f" asking for the {len(parked)} waiting now",
        )
    return GatherVerdict(
        False,
        f"{len(parked)} waiting; asking when {len(still_coming)} more arrive or at {(first + limit).isoformat()}",
    )


ApplyDecision = Callable[[GateRecord, Decision, str], str]


class WaveApprovals:
    def __init__(
        self,
        *,
        store: GateStore,
        requests: WaveRequestStore,
        registry: ServerRegistry,
        ssm: Callable[[], Any],
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        config: CutoverConfig,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._requests = requests
        self._registry = registry
        self._ssm = ssm
        self._audit = audit
        self._notifier = notifier
        self._config = config
        self._now = now

    # ------------------------------------------------------------------ the state machine's task
    def park(
        self, record: GateRecord, token: str, execution_arn: str, asked_on: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """RequestApproval in wave scope: keep the token and wait to be asked with the wave."""
        if record.status is GateStatus.WAITING_APPROVAL and record.automation_execution_id:
            # A retried task after the wave was asked: keep the request, refresh the token.
            self._store.transition(
                record.server_id,
                record.attempt,
                [GateStatus.WAITING_APPROVAL],
                GateStatus.WAITING_APPROVAL,
                self._now(),
                token=token,
            )
            return {"wave": record.wave, "automationExecutionId": record.automation_execution_id}
        wave = self._registry.wave_of(record.server_id)
        moved = self._store.transition(
            record.server_id,
            record.attempt,
            [record.status],
            GateStatus.WAITING_APPROVAL,
            self._now(),
            token=token,
            set_fields={"wave": wave, AWAITING_WAVE: wave, "executionArn": execution_arn, **(asked_on or {})},
            remove=["cutoverReadiness"],
        )
        if moved is None:
            raise GateStateError(f"{record.server_id}: gate moved while waiting for its wave")
        self._audit.append(
            AuditRecord(
                subject=record.server_id,
                action="cutover-approval-queued-for-wave",
                trigger=TRIGGER,
                actor=PIPELINE_ACTOR,
                reason=f"approval is asked once for wave {wave}, when its servers have reached the gate",
                details={"attempt": record.attempt, "wave": wave},
            ),
            self._now(),
        )
        return {"wave": wave, "waitingForWave": True}

    # ------------------------------------------------------------------ the reconciler's account check
    def ask_waves(self, trigger: Trigger) -> list[str]:
        """Open one approval request per wave that is ready (periodic triggers only: the reconciler)."""
        if not trigger.periodic:
            return []
        by_wave: dict[str, list[ParkedGate]] = defaultdict(list)
        for gate in self._requests.parked():
            by_wave[gate.wave].append(gate)
        return [self._ask_wave(wave, gates) for wave, gates in sorted(by_wave.items())]

    def _ask_wave(self, wave: str, parked: list[ParkedGate]) -> str:
        members = self._registry.wave_members(wave)
        parked_ids = {p.server_id for p in parked}
        at_gate = [sid for sid, step in members.items() if step is PipelineStep.OPEN_CUTOVER_GATE]
        gate_status = self._requests.statuses(sid for sid in at_gate if sid not in parked_ids)
        still_coming = sorted(
            sid
            for sid, step in members.items()
            if sid not in parked_ids
            and (
                step in ON_THE_WAY
                or (step is PipelineStep.OPEN_CUTOVER_GATE and gate_status.get(sid) in _GATE_NOT_ASKING)
            )
        )
        verdict = gather(
            parked, still_coming, self._now(), timedelta(seconds=self._config.wave_gather_seconds)
        )
        if not verdict.ask:
            return f"wave {wave}: {verdict.why}"
        return self._open_request(wave, parked, verdict.why)

    def _open_request(self, wave: str, parked: list[ParkedGate], why: str) -> str:
        members = tuple(sorted((p.server_id, p.attempt) for p in parked))
        digest = request_digest(wave, members)
        request = self._requests.put(
            WaveRequest(
                request_id=request_id(wave, digest),
                wave=wave,
                members=members,
                digest=digest,
                asked_at=self._now().isoformat(),
            )
        )
        hostnames = self._registry.hostnames([sid for sid, _ in request.members])
        # What each server's gate measured as it reached the gate: the decision is on this evidence,
        # and each server's recheck right before its cutover compares with its own.
        stored = self._requests.approval_readiness(sid for sid, _ in request.members)
        snapshots = {sid: s for sid, s in ((sid, read_snapshot(v)) for sid, v in stored.items()) if s}
        shown = [
            f"{hostnames.get(sid) or sid} ({sid})"
            + (f": {snapshots[sid].brief()}" if sid in snapshots else "")
            for sid, _ in request.members[:SHOWN_IN_RUNBOOK]
        ]
        summary = wave_summary(list(snapshots.values()), len(request.members))
        parameters = {
            "WaveId": [wave],
            "ServerCount": [str(len(request.members))],
            "Servers": shown,
            "Readiness": [runbook_text(summary) or "not measured"],
            "ServerListSha256": [request.digest],
            "Approvers": list(self._config.approvers),
            "NotificationArn": [self._config.approval_topic_arn],
            "TaskTokenRef": [request.request_id],
        }
        automation_id = request.automation_execution_id or str(
            self._ssm().start_automation_execution(
                DocumentName=self._config.wave_approval_document,
                Parameters=parameters,
                ClientToken=str(uuid.uuid5(uuid.NAMESPACE_URL, request.request_id)),
            )["AutomationExecutionId"]
        )
        self._requests.attach_automation(request.request_id, automation_id)
        claimed = []
        for sid, attempt in request.members:
            moved = self._store.transition(
                sid,
                attempt,
                [GateStatus.WAITING_APPROVAL],
                GateStatus.WAITING_APPROVAL,
                self._now(),
                set_fields={"automationExecutionId": automation_id, "waveRequestId": request.request_id},
                remove=[AWAITING_WAVE],
                not_yet_asked=True,
            )
            if moved is None:
                continue  # moved on (timed out, closed) or already asked: not this request's
            claimed.append(sid)
            self._audit.append(
                AuditRecord(
                    subject=sid,
                    action="cutover-approval-requested",
                    trigger=TRIGGER,
                    actor=PIPELINE_ACTOR,
                    reason=f"approval asked for wave {wave} ({len(request.members)} servers): {why}",
                    details={
                        "attempt": attempt,
                        "wave": wave,
                        "automationExecutionId": automation_id,
                        "waveRequestId": request.request_id,
                        "readiness": stored.get(sid),
                        "approvers": list(self._config.approvers),
                    },
                ),
                self._now(),
            )
        if claimed:
            self._audit.append(
                AuditRecord(
                    subject=f"wave/{wave}",
                    action="wave-approval-requested",
                    trigger=TRIGGER,
                    actor=PIPELINE_ACTOR,
                    reason=why,
                    details={
                        "automationExecutionId": automation_id,
                        "waveRequestId": request.request_id,
                        "servers": [sid for sid, _ in request.members],
                        "sha256": request.digest,
                    },
                ),
                self._now(),
            )
            self._notify_request(wave, request, automation_id, hostnames, snapshots, summary)
        return f"wave {wave}: approval asked for {len(claimed)} servers ({automation_id})"

    def _notify_request(
        self,
        wave: str,
        request: WaveRequest,
        automation_id: str,
        hostnames: Mapping[str, str],
        snapshots: Mapping[str, ReadinessSnapshot],
        summary: str,
    ) -> None:
        """The pipeline's own message for the wave's request: every server (the runbook shows the
        first 50), each with the readiness it reached the gate with."""
        lines = [
            f"The cutover of wave {wave} ({len(request.members)} servers) waits for approval.",
            f"Approve or deny it once in Systems Manager > Automation > {automation_id}"
            f" (or: mgn-migrate cutover approve --wave {wave}).",
            f"Readiness when asked: {summary}.",
            f"The decision covers exactly these servers (list SHA-256 {request.digest}):",
            *(
                f"  {hostnames.get(sid) or sid}  {sid}"
                + (f"  {snapshots[sid].brief()}" if sid in snapshots else "")
                for sid, _ in request.members
            ),
            "Servers of the wave that reach the gate later are asked for in a new request.",
        ]
        self._notifier().notify(
            f"Approval needed: cutover of wave {wave} ({len(request.members)} servers)",
            "\n".join(lines),
            "wave-approval-waiting",
        )

    # ------------------------------------------------------------------ the bridge
    def bridge(
        self,
        execution: Mapping[str, Any],
        decision: Decision,
        trigger: str,
        apply: ApplyDecision,
        read_ahead: Callable[[list[str]], None] = lambda server_ids: None,
    ) -> str:
        """Apply the wave's decision to each of its gates. ``read_ahead`` is given the members of an
        approved request first (their servers read together, not once per gate)."""
        request = self._requests.get(str(decision.token_ref))
        if request is None:
            logger.error(
                "approval names a wave request the gate table does not hold; nothing done",
                extra={"automation_execution_id": decision.execution_id, "ref": decision.token_ref},
            )
            return f"automation {decision.execution_id}: unknown wave request"
        shown_digest = ((execution.get("Parameters") or {}).get("ServerListSha256") or [""])[0]
        if shown_digest != request.digest:
            logger.error(
                "the approval's server list differs from the stored wave request; nothing done",
                extra={"automation_execution_id": decision.execution_id, "request": request.request_id},
            )
            return f"automation {decision.execution_id}: server list mismatch, nothing done"
        if decision.outcome is Outcome.PENDING:
            return "approval still waiting"
        applied = []
        if decision.outcome is Outcome.APPROVED:
            read_ahead([sid for sid, _ in request.members])
        for sid, attempt in request.members:
            record = self._store.get(sid)
            if (
                record is not None
                and record.attempt == attempt
                and record.automation_execution_id == decision.execution_id
                and record.status is GateStatus.WAITING_APPROVAL
            ):
                applied.append(f"{sid}: {apply(record, decision, trigger)}")
        if applied:
            self._audit.append(
                AuditRecord(
                    subject=f"wave/{request.wave}",
                    action="wave-approval-decided",
                    trigger=trigger,
                    actor=decision.approver,
                    reason=decision.comment or decision.outcome.value.lower(),
                    details={
                        **decision.as_dict(),
                        "waveRequestId": request.request_id,
                        "applied": len(applied),
                    },
                ),
                self._now(),
            )
        return f"wave {request.wave}: {decision.outcome.value.lower()} for {len(applied)} servers"
