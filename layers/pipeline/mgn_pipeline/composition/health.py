"""Builds the network health check's dependencies from the container's clients and its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mgn_pipeline.health.clients import HealthClients
from mgn_pipeline.health.inventory import InventoryReader
from mgn_pipeline.health.model import NetworkExpectations
from mgn_pipeline.health.probes import ProbeTools
from mgn_pipeline.health.reports import HealthReportStore
from mgn_pipeline.health.service import HealthDependencies, emit_check_metrics, standard_api_calls
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.notifier import Notifier

if TYPE_CHECKING:  # pydantic is loaded at invocation, not at import: see shared/settings.py
    from mgn_pipeline.health.settings import NetworkHealthSettings


def build_health(
    clients: HealthClients,
    settings: NetworkHealthSettings,
    *,
    actor: str,
    tools: ProbeTools | None = None,
) -> tuple[HealthDependencies, NetworkExpectations]:
    """What one check needs, and what it checks against. ``actor`` names the function in the audit;
    ``tools`` replaces the system resolver and sockets (tests use loopback listeners)."""
    clients.pace_mgn(settings.mgn_calls_per_second)
    inventory = InventoryReader(clients.ec2, clients.route53resolver)
    prefix_list = settings.on_prem_prefix_list_id
    on_prem = inventory.prefix_list_cidrs(prefix_list) if prefix_list else []
    deps = HealthDependencies(
        inventory=inventory,
        store=HealthReportStore(clients.dynamodb, settings.reports_table),
        notifier=Notifier(clients.sns, settings.notification_topic_arn),
        tools=tools or ProbeTools(timeout_seconds=settings.probe_timeout_seconds),
        api_calls=standard_api_calls(clients.mgn, clients.ec2),
        emit_metrics=emit_check_metrics,
        audit=AuditTrail(clients.dynamodb, settings.audit_table) if settings.audit_table else None,
        actor=actor,
    )
    return deps, settings.expectations(on_prem)
