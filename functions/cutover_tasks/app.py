"""The cutover gate state machine's tasks (precheck, approval request, cutover, verify, finalize, rollback)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

if TYPE_CHECKING:
    from mgn_pipeline.jobs.probe import TcpProber

clients = AwsClients()
dynamodb = clients.dynamodb  # every task reads the gate record: created during init
# TCP probes of the cutover instance; tests replace this.
prober: TcpProber | None = None


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Loaded at the first task, not at init: pydantic (settings.py) and the gate's modules.
    from mgn_pipeline.composition.cutover import build_gate, cutover_clients
    from mgn_pipeline.composition.settings import CutoverSettings, load_settings
    from mgn_pipeline.cutover.tasks import run_task

    settings = load_settings(CutoverSettings)
    gate = build_gate(clients, settings, prober=prober, extra=cutover_clients(clients))
    if gate is None:
        raise SettingsError("CUTOVER_GATE_TABLE_NAME is not set: the cutover gate is not configured")
    logger.append_keys(server_id=event.get("serverId"), task=event.get("task"), attempt=event.get("attempt"))
    return run_task(gate, event)
