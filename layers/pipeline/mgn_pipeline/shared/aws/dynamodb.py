"""DynamoDB helpers the stores share: one attribute-value marshaller, conditional writes, and reading
many items by key at once (BatchGetItem in chunks of 100, unprocessed keys retried)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

_BATCH = 100  # BatchGetItem's limit per call
_ROUNDS = 3  # rounds of UnprocessedKeys (throttling) before the read gives up


def attribute_value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value; None inside a map is left out (absent, not NULL)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): attribute_value(v) for k, v in value.items() if v is not None}}
    if isinstance(value, list | tuple):
        return {"L": [attribute_value(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def string_attribute(item: Mapping[str, Any], key: str) -> str | None:
    """The string attribute ``key`` of an item as DynamoDB returns it, None when absent."""
    value = item.get(key)
    return str(value["S"]) if value and "S" in value else None


def conditional(write: Callable[[], object]) -> bool:
    """Run a conditional write; False when its condition failed (someone else moved the item first)."""
    try:
        write()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


class BatchReadIncomplete(Exception):
    """DynamoDB left keys unprocessed round after round (throttled): the caller tries later."""


def batch_get(
    client: Any,
    table: str,
    keys: Iterable[str],
    attributes: Sequence[str] = (),
    *,
    key_name: str = "serverId",
    consistent: bool = False,
) -> Iterator[dict[str, Any]]:
    """The items that exist among ``keys`` (hash-key values), with only ``attributes`` read (all
    when none are named)."""
    wanted = list(dict.fromkeys(keys))
    projection: dict[str, Any] = {}
    if attributes:
        # Placeholders for every name: "status" and friends are reserved words.
        names = {f"#a{i}": name for i, name in enumerate([key_name, *attributes])}
        projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    for start in range(0, len(wanted), _BATCH):
        request: dict[str, Any] = {
            table: {
                "Keys": [{key_name: {"S": key}} for key in wanted[start : start + _BATCH]],
                "ConsistentRead": consistent,
                **projection,
            }
        }
        for _ in range(_ROUNDS):
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise BatchReadIncomplete(f"{table}: keys still unprocessed after {_ROUNDS} rounds")
