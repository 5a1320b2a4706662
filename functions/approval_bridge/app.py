"""SSM Automation approval finished (EventBridge): read the decision, audit it, complete the gate's task token."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.composition.cutover import CutoverClients, build_gate
from mgn_pipeline.cutover.approval_events import parse_approval_event
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.events import EventOrigin
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = AwsClients()
extra = CutoverClients(clients)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    from mgn_pipeline.composition.settings import (
        ApprovalBridgeSettings,
        load_settings,
    )  # pydantic: see settings.py

    settings = load_settings(ApprovalBridgeSettings)
    step = parse_approval_event(event, EventOrigin(settings.account_id, settings.region))
    if step.ignored_because is not None:
        logger.info(
            "approval event not acted on", extra={"event_id": step.event_id, "reason": step.ignored_because}
        )
        return {"outcome": f"ignored: {step.ignored_because}"}
    gate = build_gate(clients, settings, extra=extra)
    if gate is None:
        raise SettingsError("CUTOVER_GATE_TABLE_NAME is not set: the cutover gate is not configured")
    outcome = gate.approval.on_approval_event(step.execution_id, step.status)
    logger.info("approval event bridged", extra={"outcome": outcome, "execution": step.execution_id})
    return {"outcome": outcome}
