"""Builds the test-launch actions and the batcher from injected clients and settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from mgn_pipeline.jobs.health_gate import DynamoHealthStatus
from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.mgn_jobs import MgnJobs
from mgn_pipeline.jobs.probe import SocketProber, TcpProber
from mgn_pipeline.launches.batcher import LaunchBatcher
from mgn_pipeline.launches.gate import CutoverGateStarter
from mgn_pipeline.launches.queue import LaunchQueue
from mgn_pipeline.launches.service import TestLaunches
from mgn_pipeline.pipeline.advance import StepAction
from mgn_pipeline.replication.launch_policy import LaunchViolationMode
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.launch_templates import LaunchTemplates
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep

if TYPE_CHECKING:  # pydantic is loaded at invocation, not at import: see settings.py
    from mgn_pipeline.composition.settings import LaunchBatcherSettings, PipelineSettings


def build_test_launch_actions(
    clients: AwsClients,
    settings: PipelineSettings,
    *,
    gate: CutoverGateStarter | None = None,
    prober: TcpProber | None = None,
    now: Callable[[], datetime] = utc_now,
    registry: ServerRegistry | None = None,
) -> dict[PipelineStep, StepAction]:
    """START_TEST and VERIFY_TEST, or nothing when the stack has no launch queue. ``gate`` opens the
    cutover gate of a server whose test passed: a launch queue without one is a misconfiguration."""
    config = settings.test_launch()
    if config is None:
        return {}
    if gate is None:
        raise SettingsError(
            "LAUNCH_QUEUE_TABLE_NAME is set but CUTOVER_GATE_TABLE_NAME is not: a server whose test"
            " passes would have no cutover gate to open (the template sets both)"
        )
    policy = settings.launch_policy()
    registry = registry or ServerRegistry(clients.dynamodb, settings.servers_table)
    launch_configurations = RememberedLaunchConfigurations(MgnGateway(clients.mgn), registry)

    def launch_blocked(server: SourceServer) -> list[str]:
        # In repair mode the settings guard, which ran just before in the same advance, has
        # already fixed the template (or raised); only block mode can leave a violation.
        if policy.mode is not LaunchViolationMode.BLOCK:
            return []
        template_id = launch_configurations.template_id(server.server_id)
        if template_id is None:
            return ["no EC2 launch template yet"]
        _, data = LaunchTemplates(clients.ec2).default_version(template_id)
        violations = policy.violations(data)
        return [f"launch template {template_id} blocked by policy: {v.describe()}" for v in violations]

    scope = settings.scope()
    service = TestLaunches(
        queue=LaunchQueue(clients.dynamodb, config.queue_table),
        jobs=MgnJobs(clients.mgn),
        launch_configurations=launch_configurations,
        instances=lambda: Ec2Instances(clients.ec2),
        health=DynamoHealthStatus(
            clients.dynamodb, config.health_table or "missing-health-table", config.health_max_age, now
        ),
        prober=prober or SocketProber(),
        gate=gate,
        audit=AuditTrail(
            clients.dynamodb,
            settings.audit_table,
            wave_of=registry.wave_of,
        ),
        notifier=lambda: Notifier(clients.sns, settings.notification_topic_arn),
        config=config,
        launch_blocked=launch_blocked,
        in_scope=lambda server: scope.includes(server.tags),
        now=now,
    )
    return {PipelineStep.START_TEST: service.start, PipelineStep.VERIFY_TEST: service.verify}


def build_batcher(
    clients: AwsClients, settings: LaunchBatcherSettings, now: Callable[[], datetime] = utc_now
) -> LaunchBatcher:
    # The cutover gate builds on the launches package: imported here, where both meet.
    from mgn_pipeline.composition.cutover import cutover_launcher

    clients.pace_mgn(settings.mgn_calls_per_second)
    config = settings.test_launch()
    assert config is not None  # noqa: S101 - LaunchingSettings requires the queue table
    # One registry for the run: the waves its audit records carry are read together, 100 a call.
    registry = ServerRegistry(clients.dynamodb, settings.servers_table)
    return LaunchBatcher(
        queue=LaunchQueue(clients.dynamodb, config.queue_table),
        jobs=lambda: MgnJobs(clients.mgn),
        audit=AuditTrail(clients.dynamodb, settings.audit_table, wave_of=registry.wave_of),
        config=config,
        now=now,
        cutovers=cutover_launcher(
            clients, settings, stale_claim_after=config.stale_claim_after, now=now, registry=registry
        ),
        read_ahead=registry.read_many,
    )
