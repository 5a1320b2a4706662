"""Builds the pipeline from injected clients and settings, so every entry point runs the same steps."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from mgn_pipeline.pipeline.advance import Pipeline, StepAction
from mgn_pipeline.replication.clock_keeper import ReplicationClockKeeper
from mgn_pipeline.replication.enforcer import SettingsEnforcer
from mgn_pipeline.replication.link_keeper import LinkKeeper, LinkKeepers
from mgn_pipeline.replication.link_store import LinkStore
from mgn_pipeline.replication.links import LinkRouter
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.launch_templates import LaunchTemplates
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.mgn_waves import MgnWaves
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep

if TYPE_CHECKING:  # pydantic is loaded at invocation, not at import: see settings.py
    from mgn_pipeline.composition.settings import PipelineSettings
    from mgn_pipeline.cutover.waiting_approvals import GateTableApprovals
    from mgn_pipeline.jobs.probe import TcpProber
    from mgn_pipeline.launches.gate import CutoverGateStarter


def build_pipeline(
    clients: AwsClients,
    settings: PipelineSettings,
    *,
    cutover_gate: CutoverGateStarter | None = None,
    prober: TcpProber | None = None,
) -> Pipeline:
    clients.pace_mgn(settings.mgn_calls_per_second)
    gateway = MgnGateway(clients.mgn)
    waves = MgnWaves(lambda: clients.mgn, settings.wave_tag_key, utc_now)
    # One registry for the invocation: the pipeline's record of a server also answers the audit
    # trail's wave lookups and the launch template id, without reading it again.
    registry = ServerRegistry(clients.dynamodb, settings.servers_table, wave=waves.wave_for)
    audit = AuditTrail(clients.dynamodb, settings.audit_table, wave_of=registry.wave_of)
    link = build_link_keepers(clients, settings, gateway=gateway, audit=audit, wave_of=waves.wave_for)
    enforcer = SettingsEnforcer(
        gateway=gateway,
        launch_configurations=RememberedLaunchConfigurations(gateway, registry),
        launch_templates=lambda: LaunchTemplates(clients.ec2),
        policy=settings.replication_policy(template_throttle_mbps=link.min_mbps if link else None),
        launch_policy=settings.launch_policy(),
        scope=settings.scope(),
        audit=audit,
        notifier=lambda: Notifier(clients.sns, settings.notification_topic_arn),
        now=utc_now,
        throttle_plan=link.desired_throttle if link else None,
    )
    clock = ReplicationClockKeeper(
        registry=registry,
        thresholds=settings.replication_clock(),
        scope=settings.scope(),
        audit=audit,
        notifier=lambda: Notifier(clients.sns, settings.notification_topic_arn),
        now=utc_now,
    )
    # Capabilities register the action of their step here as they land; a step without one is
    # recorded (so status shows where the server waits) and nothing else happens to the server.
    actions: dict[PipelineStep, StepAction] = {}
    # The capabilities' modules load with the first pipeline a container builds, not at init: most
    # cold starts of the event function are for events that need few of them (benchmarks/cold_start.py
    # reports this first-call cost beside the init ratio).
    from mgn_pipeline.composition.cutover import (
        build_gate,
        gate_actions,
        wave_checks,
    )
    from mgn_pipeline.composition.launches import build_test_launch_actions

    gate = build_gate(clients, settings, registry=registry)  # None when the stack has no cutover gate
    starter = cutover_gate or gate
    actions.update(
        build_test_launch_actions(
            clients, settings, gate=starter, prober=prober, now=utc_now, registry=registry
        )
    )
    if gate is not None:
        actions.update(gate_actions(gate))
    return Pipeline(
        registry,
        actions=actions,
        guards=[enforcer.enforce_server],
        step_guards=[enforcer.enforce_launch_template],
        account_checks=[enforcer.enforce_templates],
        # Approval per wave is asked after the reconciler's pass (nothing in per-server scope).
        after_pass=[*wave_checks(gate), *([link.keep] if link else []), clock.keep],
        now=utc_now,
        guard_recheck=timedelta(minutes=settings.settings_recheck_minutes),
    )


def build_link_keepers(
    clients: AwsClients,
    settings: PipelineSettings,
    *,
    gateway: MgnGateway,
    audit: AuditTrail,
    wave_of: Callable[[SourceServer], str],
) -> LinkKeepers | None:
    """A keeper per link with a budget (``LinkBudgetMbps``, ``LinkBudgets``); None without one."""
    links = settings.links()
    if not links:
        return None
    notifier = functools.partial(Notifier, clients.sns, settings.notification_topic_arn)
    keepers = [
        LinkKeeper(
            gateway=gateway,
            store=LinkStore(clients.dynamodb, settings.servers_table, link.name),
            budget=link.budget,
            tags=settings.link_tags(),
            scope=settings.scope(),
            audit=audit,
            notifier=notifier,
            wave_of=wave_of,
            now=utc_now,
        )
        for link in links
    ]
    router = LinkRouter(links, settings.link_tag_key)
    return LinkKeepers(keepers, router, LinkStore(clients.dynamodb, settings.servers_table))


def build_waiting_approvals(clients: AwsClients, settings: PipelineSettings) -> GateTableApprovals | None:
    """The dashboard's ApprovalsWaiting gauge reads the gate items of the servers at the gate."""
    from mgn_pipeline.cutover.waiting_approvals import GateTableApprovals  # with the first run, as above

    table = settings.cutover_gate_table
    return GateTableApprovals(clients.dynamodb, table) if table else None
