"""The durable launch queue: one DynamoDB item per server (table ``LaunchQueueTable``, hash key ``serverId``).

Every write is a transition conditional on what was read (status, attempt, and the job id or claim
where one exists), so duplicated and reordered triggers make at most one transition per attempt:
the loser's condition fails and it does nothing more. Idempotency key: (serverId, attempt, jobId).

Work the batcher still owes MGN (a launch, a cleanup) is indexed in the sparse GSI ``pending-work``
(hash ``pendingQueue``, range ``eligibleAt``): only items with work carry ``pendingQueue``, so a
batcher run with nothing to do is one Query that reads zero items. ``eligibleAt`` doubles as a
back-off: a server MGN refused is not offered again before it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mgn_pipeline.launches.errors import LaunchQueueCorruptError
from mgn_pipeline.launches.model import LaunchStatus, PendingWork, QueueItem
from mgn_pipeline.shared.aws.dynamodb import attribute_value, conditional, string_attribute

PENDING_INDEX = "pending-work"
PENDING_QUEUE = "pending"  # the GSI's single hash value: volume is a few thousand items at most

# Attributes that belong to one attempt's launch and go when a new attempt starts.
_ATTEMPT_FIELDS = ["jobId", "claimId", "claimedAt", "launchedAt", "verifyingSince", "verdict", "verifiedAt"]
_PENDING_FIELDS = ["pendingWork", "pendingQueue", "eligibleAt"]


def item_from_dynamodb(item: Mapping[str, Any]) -> QueueItem:
    try:
        pending = string_attribute(item, "pendingWork")
        return QueueItem(
            server_id=item["serverId"]["S"],
            status=LaunchStatus(item["status"]["S"]),
            attempt=int(item["attempt"]["N"]),
            hostname=string_attribute(item, "hostname") or "",
            job_id=string_attribute(item, "jobId"),
            last_job_id=string_attribute(item, "lastJobId") or None,
            claim_id=string_attribute(item, "claimId"),
            claimed_at=string_attribute(item, "claimedAt"),
            instance_id=string_attribute(item, "instanceId"),
            pending=PendingWork(pending) if pending else None,
            eligible_at=string_attribute(item, "eligibleAt"),
            reasons=tuple(v["S"] for v in item.get("reasons", {}).get("L", [])),
            refusals=int(item.get("refusals", {}).get("N", "0")),
            launched_at=string_attribute(item, "launchedAt"),
            verifying_since=string_attribute(item, "verifyingSince"),
            updated_at=string_attribute(item, "updatedAt") or "",
            verdict=json.loads(string_attribute(item, "verdict") or "null"),
            verified_at=string_attribute(item, "verifiedAt"),
        )
    except (KeyError, ValueError) as exc:
        raise LaunchQueueCorruptError(f"launch queue item cannot be read: {exc!r}") from exc


class LaunchQueue:
    """Takes an injected ``boto3.client("dynamodb")``."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ------------------------------------------------------------------ reads
    def get(self, server_id: str) -> QueueItem | None:
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": server_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else item_from_dynamodb(item)

    def pending(self, now: datetime) -> list[QueueItem]:
        """Items with work for MGN that is due, oldest first (one Query when there is none)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pendingQueue = :q AND eligibleAt <= :now",
            ExpressionAttributeValues={":q": {"S": PENDING_QUEUE}, ":now": {"S": now.isoformat()}},
        )
        return [item_from_dynamodb(i) for page in pages for i in page.get("Items", [])]

    # ------------------------------------------------------------------ transitions
    def enqueue(
        self, current: QueueItem | None, server_id: str, hostname: str, attempt: int, now: datetime
    ) -> bool:
        return self._write(
            server_id,
            current,
            {
                "status": LaunchStatus.QUEUED.value,
                "attempt": attempt,
                "hostname": hostname,
                "reasons": [],
                "reasonKey": "",
                "refusals": 0,
                "enqueuedAt": now.isoformat(),
                **self._pending(PendingWork.LAUNCH, now),
            },
            remove=[*_ATTEMPT_FIELDS, "instanceId"],
            now=now,
        )

    def block(
        self, current: QueueItem | None, server_id: str, hostname: str, reasons: Sequence[str], now: datetime
    ) -> bool:
        """Record failed preconditions; writes (returns True) only when the reasons changed."""
        key = " | ".join(reasons)
        condition, values = self._expect(current)
        return self._update(
            server_id,
            {
                "status": LaunchStatus.BLOCKED.value,
                "attempt": current.attempt if current else 1,
                "hostname": hostname,
                "reasons": list(reasons),
                "reasonKey": key,
                "blockedAt": now.isoformat(),
                "updatedAt": now.isoformat(),
            },
            _PENDING_FIELDS,
            condition + " AND (attribute_not_exists(reasonKey) OR reasonKey <> :rk)",
            {**values, ":rk": {"S": key}},
        )

    def claim(self, item: QueueItem, claim_id: str, now: datetime) -> bool:
        return self._write(
            item.server_id,
            item,
            {"status": LaunchStatus.LAUNCHING.value, "claimId": claim_id, "claimedAt": now.isoformat()},
            remove=_PENDING_FIELDS,
            now=now,
            extra="pendingWork = :work",
            extra_values={":work": {"S": PendingWork.LAUNCH.value}},
        )

    def launched(self, item: QueueItem, claim_id: str, job_id: str, now: datetime) -> bool:
        return self._update(
            item.server_id,
            {"jobId": job_id, "launchedAt": now.isoformat(), "reasons": [], "updatedAt": now.isoformat()},
            [],
            "#s = :launching AND claimId = :c",
            {":launching": {"S": LaunchStatus.LAUNCHING.value}, ":c": {"S": claim_id}},
        )

    def release(
        self, item: QueueItem, reason: str, eligible_at: datetime, now: datetime, refused: bool
    ) -> bool:
        """Back to QUEUED (same attempt) after MGN did not take the server; never lost."""
        values: dict[str, Any] = {
            ":launching": {"S": LaunchStatus.LAUNCHING.value},
            ":a": {"N": str(item.attempt)},
        }
        condition = "#s = :launching AND attempt = :a AND attribute_not_exists(jobId)"
        if item.claim_id:
            condition += " AND claimId = :c"
            values[":c"] = {"S": item.claim_id}
        return self._update(
            item.server_id,
            {
                "status": LaunchStatus.QUEUED.value,
                "reasons": [reason],
                "refusals": item.refusals + 1 if refused else item.refusals,
                "updatedAt": now.isoformat(),
                "pendingWork": PendingWork.LAUNCH.value,
                "pendingQueue": PENDING_QUEUE,
                "eligibleAt": eligible_at.isoformat(),
            },
            ["claimId", "claimedAt"],
            condition,
            values,
        )

    def adopt(
        self, current: QueueItem | None, server_id: str, hostname: str, job_id: str, now: datetime
    ) -> bool:
        """A test launch the batcher did not record (someone else's, or ours before a crash)."""
        attempt = (
            1
            if current is None
            else current.attempt + (current.status in {LaunchStatus.PASSED, LaunchStatus.FAILED})
        )
        return self._write(
            server_id,
            current,
            {
                "status": LaunchStatus.LAUNCHING.value,
                "attempt": attempt,
                "hostname": hostname,
                "jobId": job_id,
                "launchedAt": now.isoformat(),
                "reasons": [],
            },
            remove=[f for f in [*_ATTEMPT_FIELDS, *_PENDING_FIELDS] if f != "jobId" and f != "launchedAt"],
            now=now,
        )

    def start_verifying(self, item: QueueItem, job_id: str, instance_id: str, now: datetime) -> bool:
        return self._write(
            item.server_id,
            item,
            {
                "status": LaunchStatus.VERIFYING.value,
                "jobId": job_id,
                "instanceId": instance_id,
                "verifyingSince": now.isoformat(),
            },
            remove=[],
            now=now,
            job_id=job_id,
        )

    def passed(self, item: QueueItem, verdict: Mapping[str, Any], cleanup: bool, now: datetime) -> bool:
        fields: dict[str, Any] = {
            "status": LaunchStatus.PASSED.value,
            "verdict": json.dumps(verdict, sort_keys=True),
            "verifiedAt": now.isoformat(),
            "reasons": [],
        }
        if cleanup:
            fields.update(self._pending(PendingWork.CLEANUP, now))
        return self._write(item.server_id, item, fields, remove=[], now=now, job_id=item.job_id)

    def failed(
        self,
        item: QueueItem,
        reasons: Sequence[str],
        verdict: Mapping[str, Any] | None,
        retry: bool,
        cleanup: bool,
        now: datetime,
    ) -> bool:
        """The attempt failed: queue the next one (after the cleanup, if any), or stop for a person."""
        fields: dict[str, Any] = {
            "reasons": list(reasons),
            "lastJobId": item.job_id or "",
            "verdict": json.dumps(verdict or {}, sort_keys=True),
        }
        remove: list[str] = []
        if retry:
            fields.update(status=LaunchStatus.QUEUED.value, attempt=item.attempt + 1, refusals=0)
            fields.update(self._pending(PendingWork.CLEANUP if cleanup else PendingWork.LAUNCH, now))
            remove = [f for f in _ATTEMPT_FIELDS if f != "verdict"]
        else:
            fields["status"] = LaunchStatus.FAILED.value
            if cleanup:
                fields.update(self._pending(PendingWork.CLEANUP, now))
        return self._write(item.server_id, item, fields, remove=remove, now=now, job_id=item.job_id)

    def cleanup_requested(self, item: QueueItem, job_id: str, now: datetime) -> bool:
        """The terminate job is started; a queued retry may now launch (after that job ends)."""
        fields: dict[str, Any] = {"cleanupJobId": job_id}
        remove: list[str] = []
        if item.status is LaunchStatus.QUEUED:
            fields.update(self._pending(PendingWork.LAUNCH, now))
        else:
            remove = list(_PENDING_FIELDS)
        return self._write(
            item.server_id,
            item,
            fields,
            remove=remove,
            now=now,
            extra="pendingWork = :work",
            extra_values={":work": {"S": PendingWork.CLEANUP.value}},
        )

    def defer(self, item: QueueItem, reason: str, eligible_at: datetime, now: datetime) -> bool:
        """Keep the pending work, offered again from ``eligible_at`` (MGN refused it for now)."""
        return self._write(
            item.server_id,
            item,
            {"reasons": [reason], "refusals": item.refusals + 1, "eligibleAt": eligible_at.isoformat()},
            remove=[],
            now=now,
            extra="pendingWork = :work",
            extra_values={":work": {"S": (item.pending or PendingWork.LAUNCH).value}},
        )

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _pending(work: PendingWork, now: datetime) -> dict[str, Any]:
        return {"pendingWork": work.value, "pendingQueue": PENDING_QUEUE, "eligibleAt": now.isoformat()}

    @staticmethod
    def _expect(current: QueueItem | None, job_id: str | None = None) -> tuple[str, dict[str, Any]]:
        """The condition that the item is still what we read (optimistic concurrency)."""
        if current is None:
            return "attribute_not_exists(serverId)", {}
        condition = "#s = :read_status AND attempt = :read_attempt"
        values: dict[str, Any] = {
            ":read_status": {"S": current.status.value},
            ":read_attempt": {"N": str(current.attempt)},
        }
        if job_id is not None:
            condition += " AND (jobId = :read_job OR attribute_not_exists(jobId))"
            values[":read_job"] = {"S": job_id}
        return condition, values

    def _write(
        self,
        server_id: str,
        current: QueueItem | None,
        fields: dict[str, Any],
        *,
        remove: Sequence[str],
        now: datetime,
        job_id: str | None = None,
        extra: str | None = None,
        extra_values: dict[str, Any] | None = None,
    ) -> bool:
        condition, values = self._expect(current, job_id)
        if extra:
            condition = f"{condition} AND {extra}"
            values.update(extra_values or {})
        return self._update(server_id, {**fields, "updatedAt": now.isoformat()}, remove, condition, values)

    def _update(
        self,
        server_id: str,
        fields: Mapping[str, Any],
        remove: Sequence[str],
        condition: str,
        values: dict[str, Any],
    ) -> bool:
        names: dict[str, str] = {"#s": "status"}
        sets: list[str] = []
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = attribute_value(value)
            sets.append(f"#f{i} = :f{i}")
        if "#s" not in condition:
            del names["#s"]  # DynamoDB refuses unused expression names
        removes = [name for name in remove if name not in fields]
        for i, name in enumerate(removes):
            names[f"#r{i}"] = name
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"serverId": {"S": server_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )
