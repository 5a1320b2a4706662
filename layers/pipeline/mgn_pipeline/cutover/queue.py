"""Approved cutovers waiting for their MGN job, kept on the gate records themselves.

The gate's start-cutover task does not call StartCutover: it moves the record to CUTTING_OVER and
puts it in this queue (a sparse index of the gate table). The launch batcher, which owns MGN's job
capacity for test launches too, starts the queued cutovers in as few jobs as the quotas allow. So
a wave approved at once never meets MGN's 20-job quota with a ConflictException, and a cutover and
a test cleanup never race for the same server.

Every write is conditional: a claim only on a CUTTING_OVER record of the same attempt without a job,
the job id only under the claim that started it. A batcher that crashed after StartCutover leaves a
claim; the next run adopts the job tagged with that claim, or releases the claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.store import CUTOVER_QUEUE, CUTOVER_QUEUE_INDEX, CUTOVER_QUEUE_NAME
from mgn_pipeline.shared.aws.dynamodb import conditional, string_attribute

_CLAIM_FIELDS = ("cutoverClaimId", "cutoverClaimedAt")


@dataclass(frozen=True, slots=True)
class QueuedCutover:
    """An approved cutover without an MGN job yet (the index's view: no task token in it)."""

    server_id: str
    attempt: int
    eligible_at: str
    claim_id: str | None = None
    claimed_at: str | None = None
    refusals: int = 0
    decision: Mapping[str, Any] = field(default_factory=dict)


def queue_fields(now: datetime) -> dict[str, str]:
    """What the start-cutover task sets to queue its record."""
    return {CUTOVER_QUEUE: CUTOVER_QUEUE_NAME, "cutoverEligibleAt": now.isoformat()}


def _queued(item: Mapping[str, Any]) -> QueuedCutover:
    decision = string_attribute(item, "decision")
    return QueuedCutover(
        server_id=item["serverId"]["S"],
        attempt=int(item["attempt"]["N"]),
        eligible_at=string_attribute(item, "cutoverEligibleAt") or "",
        claim_id=string_attribute(item, "cutoverClaimId"),
        claimed_at=string_attribute(item, "cutoverClaimedAt"),
        refusals=int(item.get("cutoverRefusals", {}).get("N", "0")),
        decision=json.loads(decision) if decision else {},
    )


class CutoverQueue:
    """Takes an injected ``boto3.client("dynamodb")``; the table is the gate table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def due(self, now: datetime) -> list[QueuedCutover]:
        """Queued cutovers that may be offered now, oldest first (one Query when there is none)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=CUTOVER_QUEUE_INDEX,
            KeyConditionExpression="#q = :q AND cutoverEligibleAt <= :now",
            ExpressionAttributeNames={"#q": CUTOVER_QUEUE},
            ExpressionAttributeValues={":q": {"S": CUTOVER_QUEUE_NAME}, ":now": {"S": now.isoformat()}},
        )
        return [
            _queued(item)
            for page in pages
            for item in page.get("Items", [])
            if string_attribute(item, "status") == GateStatus.CUTTING_OVER.value
        ]

    def claim(self, item: QueuedCutover, claim_id: str, now: datetime) -> bool:
        """This batcher run takes the cutover (still approved and queued, nobody else's claim)."""
        condition, values = self._queued_condition(item)
        return self._update(
            item.server_id,
            "SET cutoverClaimId = :c, cutoverClaimedAt = :now, updatedAt = :now",
            condition,
            {**values, ":c": {"S": claim_id}, ":now": {"S": now.isoformat()}},
        )

    def started(self, item: QueuedCutover, claim_id: str, job_id: str, now: datetime) -> bool:
        """The job is MGN's: record it under the claim and leave the queue."""
        return self._under_claim(
            item,
            claim_id,
            now,
            "SET cutoverJobId = :j, cutoverStartedAt = :now, updatedAt = :now REMOVE "
            + ", ".join((CUTOVER_QUEUE, "cutoverEligibleAt", *_CLAIM_FIELDS)),
            {":j": {"S": job_id}},
        )

    def release(
        self,
        item: QueuedCutover,
        claim_id: str,
        reason: str,
        eligible_at: datetime,
        now: datetime,
        refused: bool,
    ) -> bool:
        """Back in the queue, offered again from ``eligible_at``; never dropped."""
        return self._under_claim(
            item,
            claim_id,
            now,
            "SET cutoverEligibleAt = :e, cutoverReason = :r, cutoverRefusals = :n, updatedAt = :now REMOVE "
            + ", ".join(_CLAIM_FIELDS),
            {
                ":e": {"S": eligible_at.isoformat()},
                ":r": {"S": reason[:1000]},
                ":n": {"N": str(item.refusals + 1 if refused else item.refusals)},
            },
        )

    def withdraw_claimed(self, item: QueuedCutover, claim_id: str, now: datetime) -> bool:
        """Out of the queue under our claim (the gate is about to fail: MGN kept refusing it)."""
        return self._under_claim(
            item,
            claim_id,
            now,
            "SET updatedAt = :now REMOVE " + ", ".join((CUTOVER_QUEUE, "cutoverEligibleAt", *_CLAIM_FIELDS)),
            {},
        )

    def withdraw(self, server_id: str, attempt: int, now: datetime) -> bool:
        """Take a cutover out of the queue before any batcher claimed it (the gate gives up on it).

        False when a batcher run holds a claim (its StartCutover may be under way) or a job is recorded.
        """
        return self._update(
            server_id,
            "SET updatedAt = :now REMOVE " + ", ".join((CUTOVER_QUEUE, "cutoverEligibleAt")),
            "attempt = :a AND #s = :cutting AND attribute_not_exists(cutoverClaimId) "
            "AND attribute_not_exists(cutoverJobId)",
            {
                ":a": {"N": str(attempt)},
                ":cutting": {"S": GateStatus.CUTTING_OVER.value},
                ":now": {"S": now.isoformat()},
            },
        )

    @staticmethod
    def _queued_condition(item: QueuedCutover) -> tuple[str, dict[str, Any]]:
        values: dict[str, Any] = {
            ":a": {"N": str(item.attempt)},
            ":cutting": {"S": GateStatus.CUTTING_OVER.value},
            ":q": {"S": CUTOVER_QUEUE_NAME},
        }
        condition = (
            f"attempt = :a AND #s = :cutting AND {CUTOVER_QUEUE} = :q AND attribute_not_exists(cutoverJobId)"
        )
        if item.claim_id:
            # Taking over a stale claim: only the one we saw.
            condition += " AND cutoverClaimId = :old"
            values[":old"] = {"S": item.claim_id}
        else:
            condition += " AND attribute_not_exists(cutoverClaimId)"
        return condition, values

    def _under_claim(
        self, item: QueuedCutover, claim_id: str, now: datetime, expression: str, values: dict[str, Any]
    ) -> bool:
        """An update only the run holding ``claim_id`` may make, while no job is recorded."""
        return self._update(
            item.server_id,
            expression,
            "attempt = :a AND #s = :cutting AND cutoverClaimId = :c AND attribute_not_exists(cutoverJobId)",
            {
                ":a": {"N": str(item.attempt)},
                ":cutting": {"S": GateStatus.CUTTING_OVER.value},
                ":c": {"S": claim_id},
                ":now": {"S": now.isoformat()},
                **values,
            },
        )

    def _update(self, server_id: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"serverId": {"S": server_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        )
