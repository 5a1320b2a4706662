"""Closed-network health check: on a schedule, on demand, and as the gate before test launch and cutover."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.composition.health import build_health
from mgn_pipeline.health.clients import HealthClients
from mgn_pipeline.health.probes import ProbeTools
from mgn_pipeline.health.service import parse_request, run_network_health
from mgn_pipeline.shared.events import EventOrigin
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = HealthClients()  # created on first use: a schedule every few minutes, not a hot path
# The system resolver and sockets; tests replace this with loopback listeners.
probe_tools: ProbeTools | None = None


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from mgn_pipeline.health.settings import load_health_settings  # pydantic: see shared/settings.py

    settings = load_health_settings()
    # Read the request first: one that is refused costs no call (not even the prefix list's).
    request = parse_request(event, EventOrigin(settings.account_id, settings.region))
    actor = str(getattr(context, "function_name", "") or "NetworkHealthFunction")
    deps, expectations = build_health(clients, settings, actor=actor, tools=probe_tools)
    return run_network_health(
        request,
        expectations,
        deps,
        deadline_seconds=settings.deadline_seconds,
        report_ttl_days=settings.report_ttl_days,
    )
