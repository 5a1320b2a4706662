"""The local cloud with the cutover gate running: the state machine in moto's interpreter, its Lambda
tasks in-process, SSM Automation approvals emulated, and helpers to move time and decide as a person.

Used by the cutover tests, the gate benchmark and the demo. moto runs executions in threads in real
time while everything else is on the simulated clock: :meth:`CutoverCloud.settle` waits until every
execution is parked on a task token or finished before time moves on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from localcloud.clock import SimClock
from localcloud.cloud import ACCOUNT_ID, APPROVER, LocalCloud
from localcloud.mgn import MgnEmulator, Timings
from localcloud.ssm import SsmAutomationEmulator
from localcloud.stepfunctions import LocalStepFunctions, wait_for

ROOT = Path(__file__).resolve().parent.parent
ASL = ROOT / "statemachines" / "cutover-gate.asl.json"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mgn-pipeline-cutover-tasks"
OUTSIDER = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/Developer/mallory"
APPROVER_SESSION = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/MigrationApprover/alice"


class FakeProber:
    """Ports answer unless listed in ``closed``."""

    def __init__(self) -> None:
        self.closed: set[int] = set()
        self.probes: list[tuple[str, int]] = []

    def is_open(self, host: str, port: int, timeout_seconds: float) -> bool:
        self.probes.append((host, port))
        return port not in self.closed


@dataclass
class CutoverCloud:
    cloud: LocalCloud
    ssm: SsmAutomationEmulator
    sfn: LocalStepFunctions
    state_machine_arn: str
    prober: FakeProber
    ssm_client: Any
    reconcile_every_s: float = 300.0
    network_green: bool = True
    batcher_on: bool = True
    batcher_every_s: float = 60.0
    _since_reconcile: float = 0.0
    executions: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ set-up helpers
    @property
    def clock(self) -> SimClock:
        return self.cloud.clock

    @property
    def mgn(self) -> MgnEmulator:
        return self.cloud.mgn

    def healthy_network(self, status: str = "PASS") -> None:
        with self.cloud.calls.not_counting():
            boto3.client("dynamodb").put_item(
                TableName=self.cloud.stack.refs["HealthReportsTable"],
                Item={
                    "reportId": {"S": "latest"},
                    "status": {"S": status},
                    "failing": {"L": [] if status == "PASS" else [{"S": "vpc-endpoint-mgn"}]},
                    "generatedAt": {"S": self.clock.now().isoformat()},
                },
            )

    def ready_servers(self, count: int, tags: dict[str, str] | None = None) -> list[str]:
        """``count`` servers replicating, tested (by an operator) and marked READY_FOR_CUTOVER."""
        ids = [self.mgn.register_agent(f"app-{n:03d}", tags=dict(tags or {})) for n in range(count)]
        # The operator tests these servers, not the pipeline: its launch batcher sits this out.
        self.batcher_on = False
        try:
            self.advance(self.mgn.timings.initiating_seconds + self.mgn.timings.initial_sync_seconds + 60)
            operator = self.cloud.mgn_as_operator()
            for start in range(0, len(ids), 100):
                operator.start_test(sourceServerIDs=ids[start : start + 100])
            self.advance(self._launch_seconds() + 60)
        finally:
            self.batcher_on = True
        for sid in ids:
            # The test-launch capability may have verified the operator's test and marked it already.
            if self.mgn.server(sid).lifecycle == "TESTING":
                operator.change_server_life_cycle_state(
                    sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"}
                )
        self.run_events()
        return ids

    def _launch_seconds(self) -> float:
        t = self.mgn.timings
        return t.job_pending_seconds + t.snapshot_seconds + t.conversion_seconds + t.boot_seconds

    # ------------------------------------------------------------ time, events and the executions
    def settle(self, timeout_s: float = 20.0, quiet_s: float = 0.05) -> None:
        """Wait until every execution is parked on a task token or finished (it runs in real time).

        Parked means: the last history event submits a ``.waitForTaskToken`` task and the histories
        have not changed for ``quiet_s`` (a token just completed may not have been picked up yet).
        """

        def snapshot() -> tuple[bool, tuple[tuple[str, int], ...]]:
            running = self.sfn.client.list_executions(
                stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
            )
            parked, lengths = True, []
            for execution in running["executions"]:
                events = self.sfn.history(execution["executionArn"])
                lengths.append((execution["executionArn"], len(events)))
                last = events[-1] if events else {}
                resource = last.get("taskSubmittedEventDetails", {}).get("resource", "")
                parked = parked and last.get("type") == "TaskSubmitted" and "waitForTaskToken" in resource
            return parked, tuple(sorted(lengths))

        # Not inside calls.not_counting(): that flag is global and would hide the executions' own calls.
        deadline = time.monotonic() + timeout_s
        previous = snapshot()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            current = snapshot()
            if current[0] and current == previous:
                return
            previous = current
        raise TimeoutError(f"executions did not settle within {timeout_s} s")

    def pass_time(
        self, seconds: float, every: float = 30.0, after_each: Callable[[], object] | None = None
    ) -> None:
        """Move simulated time in steps of ``every`` seconds, the clock's timers (schedules, MGN's
        jobs, the bus) firing on the way; the executions settle around each step, since they run in
        real time. ``after_each`` looks at the world after every step."""
        end = self.clock.now().timestamp() + seconds
        while self.clock.now().timestamp() < end:
            self.settle()
            self.clock.advance(min(every, end - self.clock.now().timestamp()))
            self.settle()
            if after_each is not None:
                after_each()

    def run_events(self, seconds: float = 5.0) -> None:
        """Deliver what is queued on the bus (a few simulated seconds) and let the executions settle."""
        for _ in range(50):
            self.settle()
            self.clock.advance(seconds)
            self.settle()
            due = self.clock.next_due()
            if due is None or (due - self.clock.now()).total_seconds() > seconds:
                return

    def advance(self, seconds: float) -> None:
        """Move simulated time, running the launch batcher every ``batcher_every_s`` and the
        reconciler every ``reconcile_every_s`` (their schedules; the reconciler's coarser than in
        the stack)."""
        remaining = seconds
        while remaining > 0:
            until_reconcile = self.reconcile_every_s - self._since_reconcile
            if until_reconcile <= 0:  # the interval was shortened since the last reconcile
                self._since_reconcile, until_reconcile = 0.0, self.reconcile_every_s
            step = min(until_reconcile, remaining, self.batcher_every_s if self.batcher_on else remaining)
            self.settle()
            self.clock.advance(step)
            remaining -= step
            self._since_reconcile += step
            if self._since_reconcile >= self.reconcile_every_s:
                self._since_reconcile = 0.0
                if self.network_green:
                    self.healthy_network()
                self.reconcile()
            if self.batcher_on:
                self.run_batcher()

    def run_batcher(self) -> None:
        """The launch batcher's schedule: it starts queued test launches and approved cutovers."""
        self._scheduled("LaunchBatcherFunction")

    def reconcile(self) -> None:
        self._scheduled("ReconcilerFunction")

    def _scheduled(self, function: str) -> None:
        """One firing of the function's schedule rule, and what follows from it."""
        self.settle()
        self.cloud.stack.functions.invoke_async(
            function,
            self.cloud.bus.complete({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            trigger="schedule",
        )
        self.run_events()

    def gate(self, server_id: str) -> dict[str, Any]:
        with self.cloud.calls.not_counting():
            item = (
                boto3.client("dynamodb")
                .get_item(
                    TableName=self.cloud.stack.refs["CutoverGateTable"], Key={"serverId": {"S": server_id}}
                )
                .get("Item")
            )
        return {k: next(iter(v.values())) for k, v in (item or {}).items()}

    def automation_id(self, server_id: str) -> str:
        return str(wait_for(lambda: self.gate(server_id).get("automationExecutionId")))

    def decide(
        self, server_id: str, signal: str, principal: str = APPROVER_SESSION, comment: str | None = None
    ) -> None:
        """A person clicks Approve/Deny in the Systems Manager console."""
        payload = {"Payload": {"Comment": [comment]}} if comment else {}
        with self.ssm.acting_as(principal), self.cloud.calls.not_counting():
            self.ssm_client.send_automation_signal(
                AutomationExecutionId=self.automation_id(server_id), SignalType=signal, **payload
            )
        self.run_events()

    def execution(self, server_id: str, attempt: int = 1) -> dict[str, Any]:
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{server_id}-{attempt}"
        with self.cloud.calls.not_counting():
            return self.sfn.describe(arn)

    def transitions(self, server_id: str, attempt: int = 1) -> int:
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{server_id}-{attempt}"
        with self.cloud.calls.not_counting():
            return self.sfn.transitions(arn)

    def mgn_calls(self, operation: str, server_id: str | None = None) -> int:
        return sum(
            1
            for name, params in self.mgn.calls
            if name == operation
            and (
                server_id is None
                or server_id in (params.get("sourceServerIDs") or [params.get("sourceServerID")])
            )
        )


@contextmanager
def cutover_cloud(
    *, timings: Timings | None = None, parameters: dict[str, str] | None = None, schedules: bool = False
) -> Iterator[CutoverCloud]:
    """The local cloud with the gate deployed: state machine in moto's interpreter, SSM Automation emulated."""
    with ExitStack() as stack:
        cloud = stack.enter_context(
            LocalCloud.start(
                timings=timings or Timings(initiating_seconds=60, initial_sync_seconds=600),
                schedules=schedules,
                parameters={"ApproverPrincipalArns": APPROVER, **(parameters or {})},
            )
        )
        with cloud.calls.not_counting():
            ssm_client = boto3.client("ssm")
            arn = cloud.state_machines["CutoverGateStateMachine"]
            prober = FakeProber()
            # The handler module's global, swapped in every container.
            cloud.stack.functions.set_module_global("CutoverTasksFunction", "prober", prober)
        gate = CutoverCloud(cloud, cloud.ssm, cloud.sfn, arn, prober, ssm_client)
        if schedules:
            # The real health function writes its report on its schedule; run it once now.
            gate.network_green = False
            cloud.stack.functions.invoke("NetworkHealthFunction", {})
        else:
            gate.healthy_network()
        cloud.clock.advance(60)
        yield gate
