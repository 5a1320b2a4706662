"""MGN events and CloudTrail API calls on MGN: advance each server the event names, once per event."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mgn_pipeline.composition.pipeline import build_pipeline
from mgn_pipeline.pipeline.idempotency import once_per_event
from mgn_pipeline.pipeline.mgn_events import handle_mgn_event, is_own_echo
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.events import parse_mgn_event
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = AwsClients()
mgn, dynamodb = clients.mgn, clients.dynamodb  # used by every event: created during init


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    from mgn_pipeline.composition.settings import MgnEventSettings, load_settings  # pydantic: see settings.py

    settings = load_settings(MgnEventSettings)
    # A malformed event raises InvalidEventError here: never acted on, it ends in the DLQ.
    mgn_event = parse_mgn_event(event)
    if is_own_echo(mgn_event):
        return []  # before the idempotency record: an echo costs no read and no write
    pipeline = build_pipeline(clients, settings)
    return once_per_event(
        event,
        lambda: [asdict(advance) for advance in handle_mgn_event(mgn_event, MgnGateway(mgn), pipeline)],
        table_name=settings.idempotency_table,
        dynamodb_client=dynamodb,
        ttl_seconds=settings.idempotency_ttl_seconds,
        lambda_context=context,
    )
