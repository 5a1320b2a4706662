"""A batch of MGN events from the event queue: the servers they name read together, each event once.

EventBridge puts every MGN event and API call on one queue; Lambda hands them over in batches.
One DescribeSourceServers then reads every server the batch names (MGN takes 200 ids a call),
and a job is read once per batch: a wave's hundred launch results cost a few reads, not a hundred.
Each event still goes through the same advance as a single one, once per event id. An event that
cannot be read, or whose servers could not be advanced, is reported back to the queue alone
(``batchItemFailures``): it comes back later, and after five receives it lands in the delivery DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mgn_pipeline.pipeline.advance import Pipeline
from mgn_pipeline.pipeline.mgn_events import handle_mgn_event, is_own_echo, log_ignored, servers_named
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import InvalidEventError, PipelineError
from mgn_pipeline.shared.events import EventOrigin, MgnEvent, parse_mgn_event
from mgn_pipeline.shared.observability import logger

# Runs the work once per event (``idempotency.once_per_event`` with the stack's table).
OncePerEvent = Callable[[Mapping[str, Any], Callable[[], list[dict[str, Any]]]], list[dict[str, Any]]]


def event_of(record: SQSRecord) -> dict[str, Any]:
    """The EventBridge event a queue message carries."""
    try:
        event = json.loads(record.body)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(f"message {record.message_id}: body is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidEventError(f"message {record.message_id}: body is not an EventBridge event object")
    return event


def _read(record: SQSRecord, origin: EventOrigin | None) -> tuple[dict[str, Any], MgnEvent]:
    """Read a message that could not be read ahead: raises its reason (InvalidEventError)."""
    event = event_of(record)
    return event, parse_mgn_event(event, origin)


def handle_event_batch(
    batch: Mapping[str, Any],
    *,
    gateway: MgnGateway,
    pipeline: Pipeline,
    once: OncePerEvent,
    context: Any,
    origin: EventOrigin | None = None,
) -> dict[str, Any]:
    """Advance what every event of the batch names; returns the failed messages for the queue.
    ``origin``: the account and Region whose events are acted on (None: any, in tests)."""
    # Each message is read once: the readable events, by message id; the rest are refused in their
    # own record below, with their reason.
    readable: dict[str, tuple[dict[str, Any], MgnEvent]] = {}
    for raw in batch.get("Records") or []:
        record = SQSRecord(raw)
        try:
            event = event_of(record)
            readable[record.message_id] = (event, parse_mgn_event(event, origin))
        except (InvalidEventError, KeyError, TypeError):
            continue
    echoes = {message_id for message_id, (_, mgn_event) in readable.items() if is_own_echo(mgn_event)}
    named = servers_named([mgn_event for _, mgn_event in readable.values()])  # echoes name none
    gateway.read_ahead(named)  # MGN's servers, 200 a call
    pipeline.read_ahead(named)  # the pipeline's records of them, 100 a call
    advanced: dict[str, bool] = {}

    def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
        try:
            if record.message_id in echoes:
                return []
            event, mgn_event = readable.get(record.message_id) or _read(record, origin)
            if not mgn_event.is_known:
                log_ignored(mgn_event)  # before the idempotency record: nothing is written for it
                return []
            return once(
                event,
                lambda: [asdict(a) for a in handle_mgn_event(mgn_event, gateway, pipeline, advanced)],
            )
        except PipelineError as exc:
            logger.warning(
                "event not processed: the queue returns it, and after five receives it lands in the "
                "delivery DLQ",
                extra={"message_id": record.message_id, "error_type": type(exc).__name__, "error": str(exc)},
            )
            raise

    return dict(
        process_partial_response(
            event=dict(batch),
            record_handler=record_handler,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
    )
