"""The audit trail: one append-only DynamoDB item per action the pipeline takes or refuses.

Items are only ever put with ``attribute_not_exists``; nothing updates or deletes them, and the
functions' IAM policies allow no other write. Change boards read them per server, in time order,
or per wave (``mgn-migrate audit-export``): each item carries its ``wave`` and ``jobId`` as
top-level attributes, fixed when it is written, so a server moved to another wave later does not
rewrite history.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

UNASSIGNED_WAVE = "unassigned"
# The wave of records about no one server (replication templates, network health): every wave's.
ACCOUNT_WIDE = "account-wide"
# Records about a whole wave (its approval request) have subject "wave/<name>".
WAVE_SUBJECT_PREFIX = "wave/"
# Where call sites put the MGN job an action belongs to, most specific first.
JOB_ID_DETAILS = ("jobId", "cutoverJobId", "testJobId")
_JSON_FIELDS = frozenset({"before", "after", "details"})


def is_server_subject(subject: str) -> bool:
    """MGN source server ids are ``s-`` + 17 hex; other subjects are ``template/<id>``, ``network-health``."""
    return subject.startswith("s-")


# The actor of what the pipeline does on its own (a person's decisions name that person).
PIPELINE_ACTOR = "pipeline"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    # The server id, "template/<id>" for a replication template, "wave/<name>" for a wave,
    # "network-health" for the network.
    subject: str
    action: str
    trigger: str
    reason: str
    actor: str | None = None
    before: Any = None
    after: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    # Both are filled at append time when not given: the job from ``details``, the wave by lookup.
    job_id: str | None = None
    wave: str | None = None


class AuditTrail:
    """Takes an injected ``boto3.client("dynamodb")``.

    ``wave_of(server_id)`` names a server's wave (the servers table's ``wave``); it is asked once
    per server per instance (one instance per invocation), and a failed lookup never loses the
    record: it is written with wave "unassigned" and the failure is logged.
    """

    def __init__(self, client: Any, table_name: str, wave_of: Callable[[str], str] | None = None) -> None:
        self._client = client
        self._table = table_name
        self._wave_of = wave_of
        self._waves: dict[str, str] = {}

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
            "wave": {"S": record.wave or self.wave_for(record.subject)},
            "jobId": {"S": record.job_id or job_id_of(record.details)},
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
        return [decode(item) for page in pages for item in page.get("Items", [])]

    def recent(self, subject: str, limit: int = 10) -> list[dict[str, Any]]:
        """The newest ``limit`` records of one subject, newest first (one Query)."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="subject = :s",
            ExpressionAttributeValues={":s": {"S": subject}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [decode(item) for item in response.get("Items", [])]

    def between(self, since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
        """Every record written in [since, until], any subject, in no particular order (a Scan:
        the table is keyed by subject; exports are rare and read it once)."""
        kwargs: dict[str, Any] = {"TableName": self._table}
        bounds = {":since": since, ":until": until}
        conditions = {":since": "#at >= :since", ":until": "#at <= :until"}
        used = {key: value for key, value in bounds.items() if value is not None}
        if used:
            # Stored times are UTC isoformat strings: string order is time order at equal precision,
            # and the caller filters again on parsed times.
            kwargs["FilterExpression"] = " AND ".join(conditions[key] for key in used)
            kwargs["ExpressionAttributeNames"] = {"#at": "at"}
            kwargs["ExpressionAttributeValues"] = {
                key: {"S": value.isoformat()} for key, value in used.items()
            }
        for page in self._client.get_paginator("scan").paginate(**kwargs):
            for item in page.get("Items", []):
                yield decode(item)

    def knows_wave(self, server_id: str, wave: str) -> None:
        """A server's wave, learned elsewhere in the invocation (its gate record): not looked up."""
        self._waves.setdefault(server_id, wave)

    def wave_for(self, subject: str) -> str:
        """The wave records of ``subject`` carry (and notifications name): for a server the servers
        table's, read once per server per instance; for "wave/<name>" the name; else "account-wide"."""
        if subject.startswith(WAVE_SUBJECT_PREFIX):
            return subject.removeprefix(WAVE_SUBJECT_PREFIX)
        if not is_server_subject(subject):
            return ACCOUNT_WIDE
        if self._wave_of is None:
            return UNASSIGNED_WAVE
        if subject not in self._waves:
            try:
                self._waves[subject] = self._wave_of(subject) or UNASSIGNED_WAVE
            except Exception as exc:
                # The action happened: record it without its wave rather than not at all
                # (e.g. a function whose role may not read the servers table).
                from mgn_pipeline.shared.observability import logger  # powertools: Lambda only, not the CLI

                logger.warning(
                    "audit record written without its wave: servers table not readable",
                    extra={"subject": subject, "error": str(exc)},
                )
                return UNASSIGNED_WAVE
        return self._waves[subject]


def job_id_of(details: Mapping[str, Any]) -> str:
    """The MGN job an action belongs to, from the details call sites already write ("" when none)."""
    for key in JOB_ID_DETAILS:
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def decode(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item as plain values (``before``/``after``/``details`` parsed back from JSON)."""
    return {
        key: json.loads(value["S"]) if key in _JSON_FIELDS else value["S"]
        for key, value in item.items()
        if "S" in value
    }
