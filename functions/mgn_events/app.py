"""MGN events and CloudTrail API calls on MGN, in batches from the event queue (or one at a time):
advance each server an event names, once per event."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any

from mgn_pipeline.composition.pipeline import build_pipeline
from mgn_pipeline.pipeline.idempotency import once_per_event
from mgn_pipeline.pipeline.mgn_events import handle_mgn_event, is_own_echo, log_ignored
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.events import EventOrigin, parse_mgn_event
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = AwsClients()
mgn, dynamodb = clients.mgn, clients.dynamodb  # used by every event: created during init


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]] | dict[str, Any]:
    from mgn_pipeline.composition.settings import MgnEventSettings, load_settings  # pydantic: see settings.py

    settings = load_settings(MgnEventSettings)
    origin = EventOrigin(settings.account_id, settings.region)
    once = functools.partial(
        once_per_event,
        table_name=settings.idempotency_table,
        dynamodb_client=dynamodb,
        ttl_seconds=settings.idempotency_ttl_seconds,
        lambda_context=context,
    )
    if "Records" in event:  # a batch from the MGN event queue: how the stack delivers events
        from mgn_pipeline.pipeline.event_batches import handle_event_batch

        pipeline = build_pipeline(clients, settings)
        return handle_event_batch(
            event, gateway=MgnGateway(mgn), pipeline=pipeline, once=once, context=context, origin=origin
        )
    # One EventBridge event (``sam local invoke -e events/...``, an operator replaying one).
    # A malformed event raises InvalidEventError here: never acted on, it ends in the DLQ.
    mgn_event = parse_mgn_event(event, origin)
    if is_own_echo(mgn_event):
        return []  # before the idempotency record: an echo costs no read and no write
    if not mgn_event.is_known:
        log_ignored(mgn_event)
        return []
    pipeline = build_pipeline(clients, settings)
    return once(
        event, lambda: [asdict(advance) for advance in handle_mgn_event(mgn_event, MgnGateway(mgn), pipeline)]
    )
