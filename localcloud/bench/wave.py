"""One wave driven the whole way in a fresh local cloud: agents installed, approvals given, minute by minute."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TextIO

import boto3

from localcloud.bench.executions import Executions, RetryWaits
from localcloud.bench.measure import is_finalized, measure
from localcloud.bench.quotas import QuotaWatch, raise_replication_quota
from localcloud.bench.speedups import faster_emulation, fewer_collections
from localcloud.cloud import LocalCloud
from localcloud.gate import APPROVER_SESSION
from localcloud.mgn import Timings

if TYPE_CHECKING:
    from localcloud.bench.chaos import Chaos

TIMINGS = Timings(initiating_seconds=120, initial_sync_seconds=1800)


# A launch subnet for the wave. The closed VPC's launch subnet is a /24 (localcloud/vpc.py): about 250
# instances, so it cannot hold the cutover instances of a wave of more than ~250 servers (in AWS either).
# A landing zone for such a wave has a bigger one: the bench adds a /19 (8,187 addresses) to the VPC, on
# the launch subnet's route table and default network ACL, and hands it to MGN's launch templates and to
# the stack's AllowedLaunchSubnetIds, for every size so that sizes compare.
WAVE_LAUNCH_SUBNET_CIDR = "10.0.32.0/19"


def wave_launch_subnet(cloud: LocalCloud) -> str:
    ec2 = boto3.client("ec2")
    with cloud.calls.not_counting():
        subnet = str(
            ec2.create_subnet(
                VpcId=cloud.vpc.vpc_id,
                CidrBlock=WAVE_LAUNCH_SUBNET_CIDR,
                AvailabilityZone=cloud.vpc.availability_zones[-1],
                TagSpecifications=[
                    {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "closed-mgn-launch-wave"}]}
                ],
            )["Subnet"]["SubnetId"]
        )
        ec2.associate_route_table(RouteTableId=cloud.vpc.launch_route_table_id, SubnetId=subnet)
    cloud.mgn.backend.ec2.launch_subnet_id = subnet  # launch templates of servers installed from now on
    for refs in (cloud.stack.refs, cloud.stack.functions.refs):  # function environments resolve per call
        refs["AllowedLaunchSubnetIds"] = [subnet]
    return subnet


class Approver:
    """A person approving cutovers in the Systems Manager console as they come.

    Every approval request waiting in the console is approved at each look, however many: the
    pipeline queues approved cutovers and its launch batcher starts them within MGN's job quotas.
    """

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.approved: dict[str, str] = {}  # server id -> automation execution id
        self.client = boto3.client("ssm")

    def waiting(self) -> list[Any]:
        """The approval requests in the console not approved yet, oldest first."""
        done = set(self.approved.values())
        return sorted(
            (
                execution
                for execution in self.cloud.ssm.executions.values()
                if execution.status == "Waiting" and execution.execution_id not in done
            ),
            key=lambda execution: (execution.start, execution.execution_id),
        )

    def approve(self) -> int:
        waiting = self.waiting()
        for execution in waiting:
            server_id = execution.parameters["ServerId"][0]
            with self.cloud.ssm.acting_as(APPROVER_SESSION), self.cloud.calls.not_counting():
                self.client.send_automation_signal(
                    AutomationExecutionId=execution.execution_id,
                    SignalType="Approve",
                    Payload={"Comment": [f"CHG-{len(self.approved) + 1:05d} approved for the wave"]},
                )
            self.approved[server_id] = execution.execution_id
        return len(waiting)


class WaveFailed(RuntimeError):
    pass


def run_wave(
    servers: int,
    *,
    max_simulated_hours: float | None = None,
    progress: TextIO | None = None,
    default_replication_quota: bool = False,
    chaos: Chaos | None = None,
) -> dict[str, Any]:
    """Run one wave in a fresh local cloud; returns the measurements and the checks. With ``chaos``
    every fault of ``localcloud.bench.chaos`` is on, and the wave ends when nothing moves any more."""
    from localcloud.bench.chaos import ChaosApprover, apply_faults, chaos_figures

    limit_s = 3600 * (max_simulated_hours or 4 + servers / 100) * (3 if chaos else 1)
    started = time.perf_counter()
    with (
        fewer_collections(),
        faster_emulation(),
        LocalCloud.start(timings=TIMINGS) as cloud,
        RetryWaits(cloud.clock).installed() as retry_waits,
        ExitStack() as faults,
    ):
        wave_launch_subnet(cloud)
        setup_s = time.perf_counter() - started
        replicating_quota, quota_note = raise_replication_quota(
            cloud, servers, keep_default=default_replication_quota
        )
        quotas = QuotaWatch(cloud, replicating_quota)
        quotas.install()
        executions = Executions(cloud, retry_waits)
        # Before the first invocation: a container's clients carry the hooks present when it started.
        injected = faults.enter_context(apply_faults(cloud, chaos).installed()) if chaos else None
        cloud.deployed()
        cloud.clock.advance(60)
        wave_started, sim_started = time.perf_counter(), cloud.clock.now()
        ids = [cloud.mgn.register_agent(f"app-{n:04d}", tags={"wave": "bench"}) for n in range(servers)]
        approver = ChaosApprover(cloud, chaos) if chaos else Approver(cloud)
        next_report = 1800.0
        moving: tuple[int, ...] = ()
        still_since = 0.0
        while True:
            _one_minute(cloud, executions, approver)
            simulated = (cloud.clock.now() - sim_started).total_seconds()
            finalized = sum(1 for sid in ids if is_finalized(cloud, sid))
            if finalized == servers and not executions.running():
                break
            if chaos is not None:
                # Under faults some servers may end needing a person: the wave ends when nothing moved
                # for three simulated hours (reconciles run all along), and the figures say where each is.
                now_moving = (
                    finalized,
                    len(approver.approved),
                    len(executions.all()),
                    len(executions.running()),
                )
                if now_moving != moving:
                    moving, still_since = now_moving, simulated
                elif simulated - still_since > 3 * 3600 or simulated > limit_s:
                    break
                continue
            if progress is not None and simulated >= next_report:
                next_report += 1800
                print(
                    f"  [{servers} servers] {simulated / 3600:4.1f} h simulated, {finalized:>5} finalized, "
                    f"{len(approver.approved):>5} approved, wall {time.perf_counter() - started:7.1f} s",
                    file=progress,
                    flush=True,
                )
            # Every server approved and no gate running any more: what is not finalized now never will be.
            stuck = len(approver.approved) == servers and not executions.running()
            if stuck or simulated > limit_s:
                why = "nothing runs any more" if stuck else f"{limit_s / 3600:.1f} simulated hours passed"
                raise WaveFailed(
                    f"the wave did not finish ({why}): {finalized} of {servers} finalized, "
                    f"{len(approver.approved)} approved; {diagnose(cloud, ids, executions)}"
                )
        wave_s = time.perf_counter() - wave_started
        result = measure(
            cloud, ids, quotas, executions, len(approver.approved), quota_note, setup_s, wave_s, simulated
        )
        if chaos is not None and injected is not None and isinstance(approver, ChaosApprover):
            figures = chaos_figures(cloud, ids, approver, injected, chaos)
            result["chaos"] = figures
            result["ok"] = not (
                figures["lost"]
                or figures["cut_over_twice"]
                or figures["start_cutover_without_allowed_approval"]
            )
        return result


def diagnose(cloud: LocalCloud, ids: list[str], executions: Executions, limit: int = 3) -> str:
    """Where the servers that are not finalized stand: MGN, the gate record, the execution, failures."""
    failures = Counter(
        f"{record.function} {record.outcome}"
        for record in cloud.stack.functions.log
        if record.outcome != "ok"
    )
    by_name = {execution.name.rsplit("-", 1)[0]: execution for execution in executions.all()}
    lines = []
    for sid in [sid for sid in ids if not is_finalized(cloud, sid)][:limit]:
        server = cloud.mgn.server(sid)
        with cloud.calls.not_counting():
            gate = (
                boto3.client("dynamodb")
                .get_item(TableName=cloud.stack.refs["CutoverGateTable"], Key={"serverId": {"S": sid}})
                .get("Item", {})
            )
        execution = by_name.get(sid)
        history = Executions.history(execution) if execution is not None else []
        last = [str(getattr(e["type"], "value", e["type"])) for e in history[-4:]]
        lines.append(
            f"{sid}: MGN {server.lifecycle}/{server.repl_state} job {server.active_job_id}, gate "
            f"{gate.get('status', {}).get('S')} ({gate.get('reason', {}).get('S', '')[:200]}), execution "
            f"{getattr(execution.exec_status, 'value', None) if execution else None} ...{last}"
        )
    return "; ".join(lines) + f"; failed invocations: {dict(failures) or 'none'}"


def _one_minute(cloud: LocalCloud, executions: Executions, approver: Approver) -> None:
    """One simulated minute. The launch batcher runs on the minute; the approver looks at the console
    every 10 s after it, and the gates it approved start their cutovers before time moves on."""
    executions.settle()
    cloud.clock.advance(10)
    for _ in range(5):
        executions.settle()
        if approver.approve():
            cloud.clock.advance(1)  # the approval's status event reaches the bridge (0.5 s delivery)
            executions.settle()
            cloud.clock.advance(9)
        else:
            cloud.clock.advance(10)
    executions.settle()
