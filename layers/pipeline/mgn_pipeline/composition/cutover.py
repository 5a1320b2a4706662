"""Builds the cutover gate from injected clients and settings (handlers, composition, the CLI)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3

from mgn_pipeline.composition.test_evidence import LaunchQueueVerifiedTests
from mgn_pipeline.cutover.approval import GateApproval
from mgn_pipeline.cutover.completion import GateCompletion
from mgn_pipeline.cutover.config import ApprovalScope, CutoverConfig
from mgn_pipeline.cutover.launcher import CutoverLauncher
from mgn_pipeline.cutover.launching import GateLaunch
from mgn_pipeline.cutover.notices import GateNotices
from mgn_pipeline.cutover.queue import CutoverQueue
from mgn_pipeline.cutover.readiness import GateReadiness
from mgn_pipeline.cutover.service import CutoverGate
from mgn_pipeline.cutover.store import GateRecord, GateStore, WaveRequestStore
from mgn_pipeline.cutover.transitions import GateTransitions
from mgn_pipeline.cutover.waves import WaveApprovals
from mgn_pipeline.jobs.health_gate import DynamoHealthStatus
from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.mgn_jobs import MgnJobs
from mgn_pipeline.jobs.probe import SocketProber, TcpProber
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.pipeline.advance import PassCheck, Pipeline, StepAction
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.clients import AWS_CONFIG, AwsClients
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.mgn_waves import MgnWaves
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline.shared.trigger import Trigger

if TYPE_CHECKING:  # pydantic is loaded at invocation, not at import: see shared/settings.py
    from mgn_pipeline.composition.settings import LaunchingSettings


class CutoverClients:
    """SSM and Step Functions clients on top of the container's ``AwsClients``, made on first use."""

    def __init__(self, clients: AwsClients) -> None:
        self.base = clients

    @cached_property
    def ssm(self) -> Any:
        return boto3.client("ssm", config=AWS_CONFIG)

    @cached_property
    def stepfunctions(self) -> Any:
        return boto3.client("stepfunctions", config=AWS_CONFIG)


@functools.cache
def cutover_clients(clients: AwsClients) -> CutoverClients:
    """One set of SSM and Step Functions clients per container."""
    return CutoverClients(clients)


FINALIZED_BY_THE_GATE = Trigger("cutover-gate:finalize")


def build_gate(
    clients: AwsClients,
    settings: LaunchingSettings,
    *,
    prober: TcpProber | None = None,
    now: Callable[[], datetime] | None = None,
    extra: CutoverClients | None = None,
    registry: ServerRegistry | None = None,
) -> CutoverGate | None:
    """The gate, or None when the stack has no gate table (capability off). ``registry``: the
    invocation's servers table, when the caller has one already."""
    clients.pace_mgn(settings.mgn_calls_per_second)
    config = settings.cutover()
    if config is None:
        return None
    return gate_from_config(
        clients,
        config,
        settings.audit_table,
        settings.notification_topic_arn,
        prober=prober,
        now=now,
        extra=extra,
        registry=registry,
    )


def gate_from_config(
    clients: AwsClients,
    config: CutoverConfig,
    audit_table: str,
    topic_arn: str,
    *,
    prober: TcpProber | None = None,
    now: Callable[[], datetime] | None = None,
    extra: CutoverClients | None = None,
    registry: ServerRegistry | None = None,
) -> CutoverGate:
    more = extra or CutoverClients(clients)
    clock = now or utc_now
    registry = registry or _registry(clients, config, clock)
    audit = _audit_trail(clients, audit_table, registry)

    def wave_known(record: GateRecord) -> None:
        if record.server_wave:
            audit.knows_wave(record.server_id, record.server_wave)

    # A gate task's audit records take the server's wave from its gate record (no servers-table read).
    store = GateStore(clients.dynamodb, config.gate_table, on_read=wave_known)

    def notifier() -> Notifier:
        return Notifier(clients.sns, topic_arn)

    waves = None
    if config.approval_scope is ApprovalScope.WAVE:
        waves = WaveApprovals(
            store=store,
            requests=WaveRequestStore(clients.dynamodb, config.gate_table),
            registry=registry or ServerRegistry(clients.dynamodb, config.servers_table),
            ssm=lambda: more.ssm,
            audit=audit,
            notifier=notifier,
            config=config,
            now=clock,
        )
    gateway = MgnGateway(clients.mgn)
    jobs = MgnJobs(clients.mgn)
    steps = GateTransitions(store=store, stepfunctions=lambda: more.stepfunctions, now=clock)
    notices = GateNotices(audit=audit, notifier=notifier, gateway=gateway, now=clock)
    health = DynamoHealthStatus(
        clients.dynamodb,
        config.health_table or "missing-health-table",
        _minutes(config.health_max_age_minutes),
        clock,
    )
    return CutoverGate(
        steps=steps,
        readiness=GateReadiness(
            steps=steps,
            gateway=gateway,
            health=health,
            notices=notices,
            config=config,
            test_evidence=LaunchQueueVerifiedTests(LaunchQueue(clients.dynamodb, config.launch_queue_table))
            if config.launch_queue_table
            else None,
        ),
        approval=GateApproval(
            steps=steps, gateway=gateway, ssm=lambda: more.ssm, notices=notices, config=config, waves=waves
        ),
        launch=GateLaunch(steps=steps, jobs=jobs, notices=notices),
        completion=GateCompletion(
            steps=steps,
            queue=CutoverQueue(clients.dynamodb, config.gate_table),
            gateway=gateway,
            jobs=jobs,
            launch_configurations=RememberedLaunchConfigurations(gateway, registry),
            instances=lambda: Ec2Instances(clients.ec2),
            prober=prober or SocketProber(),
            notices=notices,
            config=config,
            finalized=_record_finalized(registry),
        ),
    )


def gate_actions(gate: CutoverGate) -> dict[PipelineStep, StepAction]:
    def finalize_seen(server: SourceServer, trigger: Trigger) -> str:
        # The execution finalizes; a CUTOVER nobody approved through the gate is only reported.
        return "cutover finalized by the gate execution" + (
            "" if server.cutover_finalized else "; waiting for it"
        )

    return {
        PipelineStep.OPEN_CUTOVER_GATE: gate.follow,
        PipelineStep.VERIFY_CUTOVER: gate.follow,
        PipelineStep.FINALIZE_CUTOVER: finalize_seen,
    }


def cutover_launcher(
    clients: AwsClients,
    settings: LaunchingSettings,
    *,
    stale_claim_after: timedelta,
    now: Callable[[], datetime] | None = None,
    registry: ServerRegistry | None = None,
) -> CutoverLauncher | None:
    """The launch batcher's cutover side, or None when the stack has no gate table. ``registry``:
    the batcher's, so that the servers' waves are read once for all its audit records."""
    config = settings.cutover()
    if config is None:
        return None
    registry = registry or _registry(clients, config, now or utc_now)
    gate = gate_from_config(
        clients, config, settings.audit_table, settings.notification_topic_arn, now=now, registry=registry
    )
    return CutoverLauncher(
        queue=CutoverQueue(clients.dynamodb, config.gate_table),
        jobs=lambda: MgnJobs(clients.mgn),
        refuse=gate.launch.refuse_start,
        audit=_audit_trail(clients, settings.audit_table, registry),
        now=now or utc_now,
        stale_claim_after=stale_claim_after,
    )


def _registry(
    clients: AwsClients, config: CutoverConfig, clock: Callable[[], datetime]
) -> ServerRegistry | None:
    """The servers table, with the pipeline's wave rule (tag, else MGN's application wave)."""
    if not config.servers_table:
        return None
    waves = MgnWaves(lambda: clients.mgn, config.wave_tag_key, clock)
    return ServerRegistry(clients.dynamodb, config.servers_table, wave=waves.wave_for)


def _audit_trail(clients: AwsClients, audit_table: str, registry: ServerRegistry | None) -> AuditTrail:
    """Each record carries the server's wave, read from the servers table (once per server)."""
    return AuditTrail(clients.dynamodb, audit_table, wave_of=registry.wave_of if registry else None)


def _record_finalized(registry: ServerRegistry | None) -> Callable[[SourceServer], None] | None:
    """The servers table learns of a finalize from the gate that made it (from FinalizeCutover's
    answer), as any trigger would record it; the call's CloudTrail echo is skipped."""
    if registry is None:
        return None
    recorder = Pipeline(registry)

    def record(server: SourceServer) -> None:
        recorder.advance(server, FINALIZED_BY_THE_GATE)

    return record


def wave_checks(gate: CutoverGate | None) -> list[PassCheck]:
    """The reconciler's check after its pass that asks for approval per wave (none in per-server scope)."""
    if gate is None or gate.waves is None:
        return []
    waves = gate.waves
    return [lambda trigger, _servers: waves.ask_waves(trigger)]


def _minutes(value: int) -> timedelta:
    return timedelta(minutes=value)
