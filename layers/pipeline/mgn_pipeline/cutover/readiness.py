"""Opening a gate after a verified test, and holding it until the network and replication are ready.

Readiness is asked twice: before approval is asked (WAITING_READY) and again after it, just before
the cutover (WAITING_REPLICATION). A parked task token is resolved by ``follow`` when ready. Each
check takes a readiness snapshot (``cutover.evidence``): the approval is asked on the first, and a
second one worse beyond the limits sends the gate back for a fresh approval instead of a cutover.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mgn_pipeline.cutover.config import CutoverConfig
from mgn_pipeline.cutover.errors import GateStateError, ReadinessWorsened, ReplicationNotReady
from mgn_pipeline.cutover.evidence import (
    ReadinessSnapshot,
    VerifiedTestSource,
    read_snapshot,
    take_snapshot,
    verified_test_of,
    what_got_worse,
)
from mgn_pipeline.cutover.model import (
    CLOSED,
    GateStatus,
    error_cause,
    observed_snapshot,
    readiness_facts,
    replication_problems,
    server_from_snapshot,
)
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.store import GateRecord, Outbox
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.jobs.health_gate import HealthReadings
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import NetworkHealthGateFailed
from mgn_pipeline.shared.server import LifeCycleState, SourceServer

_WAITING = {GateStatus.WAITING_READY, GateStatus.WAITING_REPLICATION}
# How long what MGN said at the gate's opening stands in for a read: the execution's first task
# runs seconds after it starts.
OBSERVED_FRESH_FOR = timedelta(minutes=2)


class GateReadiness:
    def __init__(
        self,
        *,
        steps: GateTransitions,
        gateway: MgnGateway,
        health: HealthReadings,
        notices: GateNotices,
        config: CutoverConfig,
        test_evidence: VerifiedTestSource | None = None,
    ) -> None:
        """``test_evidence``: where the passed test verification is read (None: snapshots have none)."""
        self._test_evidence = test_evidence
        self._steps = steps
        self._store = steps.store
        self._gateway = gateway
        self._health = health
        self._notices = notices
        self._config = config

    # ------------------------------------------------------------------ opening
    def open(
        self,
        server_id: str,
        test_job_id: str | None,
        *,
        reopen: bool,
        observed: SourceServer | None = None,
        verified_test: Mapping[str, Any] | None = None,
    ) -> str:
        """Start the execution of the next attempt unless one is running or this test was decided.
        ``observed``: the server as MGN just returned it, kept for the first precheck;
        ``verified_test``: the test verification that opens it, kept as the approval's evidence."""
        record = self._store.get(server_id)
        if record is not None and record.status not in CLOSED:
            if record.status is GateStatus.OPENING and record.execution_arn is None:
                return self.start_execution(record)  # a crash between the claim and the start
            return f"cutover gate open (attempt {record.attempt}: {record.status.value})"
        if record is not None and not reopen and (test_job_id is None or record.test_job_id == test_job_id):
            return f"cutover gate closed for test {record.test_job_id}: {record.status.value}"
        attempt = 1 if record is None else record.attempt + 1
        job = test_job_id or (record.test_job_id if record else None)
        now = self._steps.now()
        snapshot = observed_snapshot(observed, now) if observed is not None else None
        wave = self._notices.wave_of(server_id)
        if not self._store.open(
            server_id,
            attempt,
            job,
            record,
            now,
            observed=snapshot,
            server_wave=wave,
            verified_test=verified_test,
        ):
            return "cutover gate being opened by a concurrent trigger"
        opened = self._store.get(server_id)
        assert opened is not None  # noqa: S101 - just written
        self._notices.record(
            server_id,
            "cutover-gate-opened",
            "a verified test; approval will be asked",
            {"attempt": attempt, "testJobId": job},
        )
        return self.start_execution(opened)

    def start_execution(self, record: GateRecord) -> str:
        machine = self._config.state_machine_arn
        if not machine:
            return "cutover gate recorded; no state machine configured"
        name = self._steps.start_execution(
            record,
            machine,
            {
                "serverId": record.server_id,
                "attempt": record.attempt,
                "testJobId": record.test_job_id,
                "archive": self._config.archive_after_seconds is not None,
                "archiveDelaySeconds": self._config.archive_after_seconds or 0,
            },
        )
        return f"cutover gate started: {name}"

    # ------------------------------------------------------------------ tasks
    def precheck(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Health gate green, replication CONTINUOUS with lag under the threshold; raises otherwise."""
        record = self._steps.expect(server_id, attempt, {GateStatus.OPENING, GateStatus.APPROVED})
        server = self._observed(record) or self._gateway.get_server(server_id)
        if server.lifecycle is not LifeCycleState.READY_FOR_CUTOVER:
            raise GateStateError(f"{server_id} is {server.lifecycle.value}, not READY_FOR_CUTOVER")
        self.check_ready(server)
        snapshot = self.snapshot(server, record)
        return {"status": record.status.value, **readiness_facts(server), "snapshot": snapshot.as_dict()}

    def snapshot(
        self, server: SourceServer, record: GateRecord, approved: ReadinessSnapshot | None = None
    ) -> ReadinessSnapshot:
        """How ready the server is now: replication, the network health report, the test evidence.

        A test's evidence does not change once verified, only its age: it is the one the gate opened
        with, or the one the approval was asked on; the launch queue is read only when neither is."""
        test = approved.test if approved is not None else verified_test_of(record.verified_test)
        if test is None and self._test_evidence is not None:
            test = self._test_evidence.passed_test(server.server_id, record.test_job_id)
        return take_snapshot(server, self._health.latest_reading(), test, self._steps.now())

    def _observed(self, record: GateRecord) -> SourceServer | None:
        """The server as MGN described it when the gate opened or was approved, for the check that
        follows at once; a later one (after a wait, a retry) reads MGN."""
        if record.status not in (GateStatus.OPENING, GateStatus.APPROVED) or record.observed is None:
            return None
        return server_from_snapshot(record.observed, self._steps.now(), OBSERVED_FRESH_FOR)

    def recheck(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Right before the cutover: readiness no worse than approved (else ``ReadinessWorsened``,
        and a fresh approval is asked), then ready now (else wait, ``ReplicationNotReady``)."""
        record = self._steps.expect(server_id, attempt, {GateStatus.APPROVED})
        server = self._observed(record) or self._gateway.get_server(server_id)
        approved = read_snapshot(record.approval_readiness)
        now = self.snapshot(server, record, approved)
        worse = [] if approved is None else what_got_worse(approved, now, self._config.readiness_limits)
        if worse:
            why = "; ".join(worse)
            fields = {"cutoverReadiness": now.as_dict(), "reason": why}
            if self._steps.move(record, record.status, set_fields=fields) is None:
                raise GateStateError(f"{server_id}: gate moved while rechecking")
            raise ReadinessWorsened(f"readiness got worse since approval: {why}")
        self.check_ready(server)
        # Passed on to start-cutover, which keeps it with the approved one (record and audit).
        return {
            "replication": server.replication.value,
            "lag": server.lag_duration,
            "snapshot": now.as_dict(),
        }

    def ask_again(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Readiness got worse since approval: the approval lapses, the approver is told why, and a
        fresh approval is asked (the state machine goes back to the precheck)."""
        record = self._steps.expect(server_id, attempt, {GateStatus.APPROVED, GateStatus.OPENING})
        if record.status is GateStatus.APPROVED:
            moved = self._steps.move(
                record, GateStatus.OPENING, remove=["taskToken", "automationExecutionId", "decision"]
            )
            if moved is None:
                raise GateStateError(f"{server_id}: gate moved while asking again")
        elif record.cutover_readiness is None:
            raise GateStateError(f"{server_id}: gate not sent back for a fresh approval")
        else:
            return {"askedAgain": True}  # a retry after the move: told already
        why = record.reason or "readiness got worse since approval"
        approved = read_snapshot(record.approval_readiness)
        at_cutover = read_snapshot(record.cutover_readiness)
        self._notices.record(
            server_id,
            "cutover-readiness-worsened",
            why,
            {
                "attempt": attempt,
                "approved": record.approval_readiness,
                "atCutover": record.cutover_readiness,
                "decision": dict(record.decision) if record.decision else None,
            },
        )
        self._notices.tell(
            server_id,
            "cutover-reapproval",
            "Cutover of {host} not started: readiness got worse since it was approved",
            happened=[
                "The approved cutover was not started: right before it, the server was less ready than"
                " the approval request said.",
                f"At approval: {approved.summary() if approved else 'not recorded'}.",
                f"Now: {at_cutover.summary() if at_cutover else 'not recorded'}.",
            ],
            why=[why],
            what_to_do=[
                "Nothing is cut over until you approve again: a fresh approval is asked (Systems Manager >"
                " Automation) with the readiness measured then, once the server is ready again.",
            ],
        )
        return {"askedAgain": True}

    def check_ready(self, server: SourceServer) -> None:
        green, reasons = self._health.latest_gate_status()
        if not green:
            raise NetworkHealthGateFailed(
                "before-cutover", reasons, "network health gate: " + "; ".join(reasons)
            )
        problems = replication_problems(server, self._config.max_lag_seconds)
        if problems:
            raise ReplicationNotReady("; ".join(problems))

    def wait_ready(
        self, server_id: str, attempt: int, token: str, error: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Park the token until the network and replication are ready (the reconciler and events resolve it)."""
        why = error_cause(error)
        record = self._steps.expect(server_id, attempt, {GateStatus.OPENING, GateStatus.APPROVED})
        before_approval = record.status is GateStatus.OPENING
        new = GateStatus.WAITING_READY if before_approval else GateStatus.WAITING_REPLICATION
        if self._steps.move(record, new, token=token, set_fields={"reason": why}) is None:
            raise GateStateError(f"{server_id}: gate moved while parking")
        phase = "before asking for approval" if before_approval else "after approval, before cutover"
        # No message: the pipeline continues by itself when ready; status and the audit show the wait.
        self._notices.record(
            server_id, "cutover-waiting-for-readiness", why, {"attempt": attempt, "phase": phase}
        )
        return {"waiting": new.value}

    def withdraw_approval(self, server_id: str, attempt: int) -> dict[str, Any]:
        """Replication stayed stalled past the wait limit: the approval lapses; ask again when ready."""
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.WAITING_REPLICATION, GateStatus.APPROVED],
            GateStatus.OPENING,
            self._steps.now(),
            remove=["taskToken", "automationExecutionId"],
        )
        if moved is None:
            raise GateStateError(f"{server_id}: gate not waiting for replication")
        self._notices.record(
            server_id,
            "cutover-approval-withdrawn",
            "replication not ready before the wait limit; approval will be asked again",
            {"attempt": attempt},
        )
        return {"withdrawn": True}

    def record_blocked(self, server_id: str, attempt: int) -> dict[str, Any]:
        moved = self._store.transition(
            server_id,
            attempt,
            [GateStatus.WAITING_READY, GateStatus.OPENING],
            GateStatus.BLOCKED,
            self._steps.now(),
            remove=["taskToken"],
        )
        if moved is None:
            # A retry after the move went through finds its own attempt BLOCKED; anything else is stray.
            self._steps.expect(server_id, attempt, {GateStatus.BLOCKED})
        self._notices.record(
            server_id,
            "cutover-gate-blocked",
            "not ready before the wait limit; a new verified test asks again",
            {"attempt": attempt, "moved": moved is not None},
        )
        if moved is not None:
            self._notices.tell(
                server_id,
                "cutover-blocked",
                "Cutover gate of {host} closed: never ready",
                happened=[f"Gate attempt {attempt} closed without asking for approval."],
                why=[moved.reason or "replication or the network was not ready within the wait limit"],
                what_to_do=[
                    "Fix replication or the network (`mgn-migrate status --server` shows the server's last"
                    " error and its fix), then test the server again (MGN: mark it READY_FOR_TEST).",
                ],
            )
        return {"blocked": True}

    # ------------------------------------------------------------------ follow (events, reconciler)
    def follow_waiting(self, record: GateRecord, server: SourceServer) -> str:
        """A parked readiness wait: resolve it once the network and replication are ready."""
        green, reasons = self._health.latest_gate_status()
        problems = ([] if green else reasons) + replication_problems(server, self._config.max_lag_seconds)
        if problems:
            return "waiting until ready: " + "; ".join(problems)
        return self._steps.resolve(
            record,
            record.status,
            GateStatus.OPENING if record.status is GateStatus.WAITING_READY else GateStatus.APPROVED,
            Outbox(record.task_token or "", output={"ready": True}),
            "ready",
        )

    @staticmethod
    def is_waiting(record: GateRecord) -> bool:
        return record.status in _WAITING
