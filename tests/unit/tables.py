"""DynamoDB tables for unit tests, created with the key schema and indexes template.yaml gives them."""

from __future__ import annotations

from typing import Any

from localcloud.template import Template


def create_table(dynamodb: Any, logical_id: str, name: str) -> str:
    """Create ``logical_id`` of the template under ``name`` (in moto's in-memory DynamoDB)."""
    props = Template.load().resources()[logical_id]["Properties"]
    table: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("GlobalSecondaryIndexes"):
        table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    dynamodb.create_table(**table)
    return name
