"""Closed-network health check: on a schedule, on demand, and as the gate before test launch and cutover."""

from __future__ import annotations

import os
from typing import Any

from mgn_pipeline.health.clients import HealthClients
from mgn_pipeline.health.inventory import InventoryReader
from mgn_pipeline.health.probes import ProbeTools
from mgn_pipeline.health.reports import HealthReportStore
from mgn_pipeline.health.service import (
    HealthDependencies,
    emit_check_metrics,
    run_network_health,
    standard_api_calls,
)
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = HealthClients()  # created on first use: a schedule every few minutes, not a hot path
# The system resolver and sockets; tests replace this with loopback listeners.
probe_tools: ProbeTools | None = None


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from mgn_pipeline.health.settings import load_health_settings  # pydantic: see mgn_pipeline/settings.py

    settings = load_health_settings()
    inventory = InventoryReader(clients.ec2, clients.route53resolver)
    prefix_list = settings.on_prem_prefix_list_id
    on_prem = inventory.prefix_list_cidrs(prefix_list) if prefix_list else []
    deps = HealthDependencies(
        inventory=inventory,
        store=HealthReportStore(clients.dynamodb, settings.reports_table),
        notifier=Notifier(clients.sns, settings.notification_topic_arn),
        tools=probe_tools or ProbeTools(timeout_seconds=settings.probe_timeout_seconds),
        api_calls=standard_api_calls(clients.mgn, clients.ec2),
        emit_metrics=emit_check_metrics,
        audit=AuditTrail(clients.dynamodb, settings.audit_table) if settings.audit_table else None,
        actor=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "NetworkHealthFunction"),
    )
    return run_network_health(
        event,
        settings.expectations(on_prem),
        deps,
        deadline_seconds=settings.deadline_seconds,
        report_ttl_days=settings.report_ttl_days,
    )
