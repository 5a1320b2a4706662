"""Run a piece of work once per event id (Powertools idempotency on DynamoDB, expiring by TTL).

EventBridge delivers at least once and retries; the same event id must not act twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)


@functools.cache
def _store(table_name: str, dynamodb_client: Any) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)


def once_per_event[ResultT](
    event: Mapping[str, Any],
    work: Callable[[], ResultT],
    *,
    table_name: str,
    dynamodb_client: Any,
    ttl_seconds: int,
    lambda_context: Any = None,
) -> ResultT:
    """Return ``work()``'s result, computed at most once for ``event['id']`` within the TTL."""
    config = IdempotencyConfig(
        event_key_jmespath="id", expires_after_seconds=ttl_seconds, raise_on_no_idempotency_key=True
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools' decorator is untyped
        data_keyword_argument="event",
        persistence_store=_store(table_name, dynamodb_client),
        config=config,
    )
    def run(event: dict[str, Any]) -> ResultT:
        return work()

    return cast("ResultT", run(event=dict(event)))
