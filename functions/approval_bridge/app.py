"""SSM Automation approval finished (EventBridge): read the decision, audit it, complete the gate's task token."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.composition.cutover import CutoverClients, build_gate
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.errors import InvalidEventError, SettingsError
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = AwsClients()
extra = CutoverClients(clients)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    from mgn_pipeline.composition.settings import CutoverSettings, load_settings  # pydantic: see settings.py

    if event.get("source") != "aws.ssm" or not isinstance(event.get("detail"), dict):
        raise InvalidEventError("not an SSM Automation status-change event")
    gate = build_gate(clients, load_settings(CutoverSettings), extra=extra)
    if gate is None:
        raise SettingsError("CUTOVER_GATE_TABLE_NAME is not set: the cutover gate is not configured")
    outcome = gate.approval.on_approval_event(event)
    logger.info(
        "approval event bridged", extra={"outcome": outcome, "execution": event["detail"].get("ExecutionId")}
    )
    return {"outcome": outcome}
