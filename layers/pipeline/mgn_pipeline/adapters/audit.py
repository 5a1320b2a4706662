"""The audit trail: one append-only DynamoDB item per action the pipeline takes or refuses.

Items are only ever put with ``attribute_not_exists``; nothing updates or deletes them, and the
functions' IAM policies allow no other write. Change boards read them per server, in time order.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditRecord:
    # The server id, or "template/<id>" for a replication template.
    subject: str
    action: str
    trigger: str
    reason: str
    actor: str | None = None
    before: Any = None
    after: Any = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditTrail:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def append(self, record: AuditRecord, at: datetime) -> str:
        # Sorts by time; the nanosecond counter keeps two records of the same instant in write order.
        record_id = f"{at.isoformat()}#{time.time_ns():020d}#{uuid.uuid4().hex[:12]}"
        item: dict[str, Any] = {
            "subject": {"S": record.subject},
            "recordId": {"S": record_id},
            "at": {"S": at.isoformat()},
            "action": {"S": record.action},
            "trigger": {"S": record.trigger},
            "reason": {"S": record.reason},
            "actor": {"S": record.actor or "unknown"},
            "before": {"S": json.dumps(record.before, default=str, sort_keys=True)},
            "after": {"S": json.dumps(record.after, default=str, sort_keys=True)},
            "details": {"S": json.dumps(record.details, default=str, sort_keys=True)},
        }
        self._client.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(recordId)"
        )
        return record_id

    def history(self, subject: str) -> list[dict[str, Any]]:
        """Every record of one subject, oldest first."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="subject = :s",
            ExpressionAttributeValues={":s": {"S": subject}},
        )
        return [
            {
                key: json.loads(value["S"]) if key in {"before", "after", "details"} else value["S"]
                for key, value in item.items()
            }
            for page in pages
            for item in page.get("Items", [])
        ]
