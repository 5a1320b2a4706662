"""The pipeline's record of each server: which step it is at and since when (DynamoDB).

MGN stays the source of truth for server state; this table holds what MGN does not: the
pipeline's step, when it started, and what last moved it. Status views read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.shared.aws.dynamodb import batch_get
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline.shared.wave import DEFAULT_WAVE_TAG_KEY, UNASSIGNED, wave_of


@dataclass(frozen=True, slots=True)
class ServerRecord:
    server_id: str
    step: PipelineStep
    step_since: str
    lifecycle: str
    replication: str
    last_trigger: str
    version: int
    # When the guards (settings enforcement) last read this server's settings.
    guards_checked_at: str | None = None
    wave: str = UNASSIGNED


@dataclass(frozen=True, slots=True)
class Observation:
    previous: ServerRecord | None
    written: bool


# Servers table index: wave (hash) -> serverId (range), projecting the step.
WAVE_INDEX = "byWave"


def _tagged_wave(server: SourceServer) -> str:
    return wave_of(server, DEFAULT_WAVE_TAG_KEY)


class ServerRegistry:
    """Takes an injected ``boto3.client("dynamodb")``; ``wave`` says which wave a server is in
    (its tag or MGN's wave, see domain.wave), kept on the item so a wave is one index query."""

    def __init__(
        self, client: Any, table_name: str, wave: Callable[[SourceServer], str] = _tagged_wave
    ) -> None:
        self._client = client
        self._table = table_name
        self._wave = wave

    def get(self, server_id: str) -> ServerRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": server_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return ServerRecord(
            server_id=item["serverId"]["S"],
            step=PipelineStep(item["step"]["S"]),
            step_since=item["stepSince"]["S"],
            lifecycle=item["lifecycle"]["S"],
            replication=item["replication"]["S"],
            last_trigger=item["lastTrigger"]["S"],
            version=int(item["version"]["N"]),
            guards_checked_at=item.get("guardsCheckedAt", {}).get("S"),
            wave=item.get("wave", {}).get("S", UNASSIGNED),
        )

    def record(self, server: SourceServer, step: PipelineStep, trigger: str, now: datetime) -> Observation:
        """Store what we observed; write only when something changed. Returns the record it found
        and whether it wrote.

        The write is conditional on the version read, so two invocations racing on one server
        cannot lose a step change; the loser reports no write and the next trigger catches up.
        """
        current = self.get(server.server_id)
        wave = self._wave(server)
        unchanged = current is not None and (
            current.step is step
            and current.lifecycle == server.lifecycle.value
            and current.replication == server.replication.value
            and current.wave == wave
        )
        if unchanged:
            return Observation(current, written=False)
        timestamp = now.isoformat()
        step_since = current.step_since if current is not None and current.step is step else timestamp
        item = {
            "serverId": {"S": server.server_id},
            "hostname": {"S": server.hostname},
            "wave": {"S": wave},
            "step": {"S": step.value},
            "stepSince": {"S": step_since},
            "lifecycle": {"S": server.lifecycle.value},
            "replication": {"S": server.replication.value},
            "lastTrigger": {"S": trigger},
            "updatedAt": {"S": timestamp},
            "version": {"N": str(0 if current is None else current.version + 1)},
        }
        if current is not None and current.guards_checked_at:
            # A state change does not touch the settings: when they were last checked still holds.
            item["guardsCheckedAt"] = {"S": current.guards_checked_at}
        condition: dict[str, Any]
        if current is None:
            condition = {"ConditionExpression": "attribute_not_exists(serverId)"}
        else:
            condition = {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(current.version)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return Observation(current, written=False)
            raise
        return Observation(current, written=True)

    def mark_guarded(self, server_id: str, now: datetime) -> None:
        """Remember when the guards last read the server's settings (not a state change: no version bump)."""
        self._client.update_item(
            TableName=self._table,
            Key={"serverId": {"S": server_id}},
            UpdateExpression="SET guardsCheckedAt = :now",
            ConditionExpression="attribute_exists(serverId)",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )

    def wave_members(self, wave: str) -> dict[str, PipelineStep]:
        """Every server recorded in ``wave`` and its step (one index query, paginated)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=WAVE_INDEX,
            KeyConditionExpression="wave = :w",
            ExpressionAttributeValues={":w": {"S": wave}},
        )
        return {
            item["serverId"]["S"]: PipelineStep(item["step"]["S"])
            for page in pages
            for item in page.get("Items", [])
        }

    def wave_of(self, server_id: str) -> str:
        record = self.get(server_id)
        return record.wave if record is not None else UNASSIGNED

    def hostnames(self, server_ids: list[str]) -> dict[str, str]:
        """Host names people know the servers by."""
        return {
            item["serverId"]["S"]: item.get("hostname", {}).get("S", "")
            for item in batch_get(self._client, self._table, server_ids, ["hostname"])
        }
