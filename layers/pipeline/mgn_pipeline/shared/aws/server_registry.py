"""The pipeline's record of each server: which step it is at and since when (DynamoDB).

MGN stays the source of truth for server state; this table holds what MGN does not: the
pipeline's step, when it started, and what last moved it. Status views read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.shared.aws.dynamodb import batch_get
from mgn_pipeline.shared.aws.mgn import LaunchConfiguration
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
    # The server's EC2 launch template: MGN makes it when the agent registers and keeps it for the
    # server's life, so it is read from MGN (GetLaunchConfiguration) once and remembered here.
    launch_template_id: str | None = None
    # Its launch configuration's post-launch actions as last read (None: not read yet); see
    # shared.aws.launch_configurations for when they are read again.
    post_launch_actions: dict[str, Any] | None = None
    # The highest replication-clock threshold (days) a person was told of (0: none), so each is
    # told once (``claim_clock_notice``).
    clock_told_days: int = 0
    # When the free period those thresholds belong to ends (ISO 8601): a server replicating again
    # from the start has a new period, and its thresholds are told again.
    clock_period_ends: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    previous: ServerRecord | None
    written: bool


# Servers table index: wave (hash) -> serverId (range), projecting the step.
WAVE_INDEX = "byWave"
# Items that are not servers (never an MGN id, "s-..."; no wave, so never in the wave index): when
# an account-wide check last ran.
ACCOUNT_CHECK_PREFIX = "account#"


def is_server_id(key: str) -> bool:
    """Whether a servers-table key is a server's (not an account check's record)."""
    return not key.startswith(ACCOUNT_CHECK_PREFIX)


def _tagged_wave(server: SourceServer) -> str:
    return wave_of(server, DEFAULT_WAVE_TAG_KEY)


def _record_from_item(item: dict[str, Any]) -> ServerRecord:
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
        launch_template_id=item.get("launchTemplateId", {}).get("S"),
        post_launch_actions=json.loads(item["postLaunchActions"]["S"])
        if "postLaunchActions" in item
        else None,
        clock_told_days=int(item.get("clockToldDays", {}).get("N", "0")),
        clock_period_ends=item.get("clockPeriodEnds", {}).get("S"),
    )


class ServerRegistry:
    """Takes an injected ``boto3.client("dynamodb")``; ``wave`` says which wave a server is in
    (its tag or MGN's wave, see domain.wave), kept on the item so a wave is one index query.

    One instance lives for one invocation and is shared by everything in it: a record read once
    (by the pipeline, the audit trail's wave lookups, the reconciler's batch read) is not read again.
    """

    def __init__(
        self, client: Any, table_name: str, wave: Callable[[SourceServer], str] = _tagged_wave
    ) -> None:
        self._client = client
        self._table = table_name
        self._wave = wave
        self._read: dict[str, ServerRecord | None] = {}
        # Launch configurations read in this invocation, written with the server's next record.
        self._learned: dict[str, LaunchConfiguration] = {}
        # The wave of each server observed in this invocation (the wave lookup may read MGN).
        self._waves: dict[str, str] = {}
        # Servers observed and not yet recorded: what is learned of them goes into that write.
        self._recording: set[str] = set()

    def observe(self, server: SourceServer) -> str:
        """The wave of a server being advanced, known before its record is written (so that what
        the guards audit on first sight carries the server's wave)."""
        self._recording.add(server.server_id)
        if server.server_id not in self._waves:
            self._waves[server.server_id] = self._wave(server)
        return self._waves[server.server_id]

    def get(self, server_id: str) -> ServerRecord | None:
        if server_id not in self._read:
            item = self._client.get_item(
                TableName=self._table, Key={"serverId": {"S": server_id}}, ConsistentRead=True
            ).get("Item")
            self._read[server_id] = _record_from_item(item) if item is not None else None
        return self._read[server_id]

    def read_many(self, server_ids: list[str]) -> None:
        """Read the records of many servers at once (BatchGetItem, 100 a call), for the gets that follow."""
        wanted = [sid for sid in dict.fromkeys(server_ids) if sid not in self._read]
        found = {
            item["serverId"]["S"]: _record_from_item(item)
            for item in batch_get(self._client, self._table, wanted, consistent=True)
        }
        for server_id in wanted:
            self._read[server_id] = found.get(server_id)

    def learned_launch_configuration(self, server_id: str, found: LaunchConfiguration) -> None:
        """Remember what MGN said of a server's launch configuration: with the server's record when
        it is about to be written (the guards of ``Pipeline.advance``), else at once."""
        self._learned[server_id] = found
        if server_id in self._recording:
            return
        current = self.get(server_id)
        if current is not None:
            learned = self._learned.pop(server_id)
            if not _knows(current, learned):
                self._note_guarded(current, None, learned)

    def launch_configuration(self, server_id: str) -> LaunchConfiguration | None:
        """What is known of a server's launch configuration, without reading MGN (None: nothing)."""
        if server_id in self._learned:
            return self._learned[server_id]
        record = self.get(server_id)
        if record is None:
            return None
        return LaunchConfiguration(record.launch_template_id, record.post_launch_actions)

    def record(
        self,
        server: SourceServer,
        step: PipelineStep,
        trigger: str,
        now: datetime,
        *,
        guards_checked: bool = False,
    ) -> Observation:
        """Store what we observed; write only when something changed. Returns the record it found
        and whether it wrote. ``guards_checked``: the settings guards have just read the server's
        settings (kept as ``guardsCheckedAt``, in the same write).

        The write is conditional on the version read, so two invocations racing on one server
        cannot lose a step change; the loser reports no write and the next trigger catches up.
        """
        current = self.get(server.server_id)
        wave = self.observe(server)
        self._recording.discard(server.server_id)
        learned = self._learned.pop(server.server_id, None)
        unchanged = current is not None and (
            current.step is step
            and current.lifecycle == server.lifecycle.value
            and current.replication == server.replication.value
            and current.wave == wave
        )
        if current is not None and unchanged:
            if guards_checked or (learned and not _knows(current, learned)):
                self._note_guarded(current, now if guards_checked else None, learned)
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
        # A state change does not touch the settings: when they were last checked still holds.
        guards_checked_at = timestamp if guards_checked else current.guards_checked_at if current else None
        if guards_checked_at:
            item["guardsCheckedAt"] = {"S": guards_checked_at}
        known = learned or LaunchConfiguration(
            current.launch_template_id if current else None, current.post_launch_actions if current else None
        )
        item.update(_launch_configuration_attributes(known))
        if current is not None and current.clock_told_days:
            item["clockToldDays"] = {"N": str(current.clock_told_days)}  # told stays told
        if current is not None and current.clock_period_ends:
            item["clockPeriodEnds"] = {"S": current.clock_period_ends}
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
                self._read.pop(server.server_id, None)  # someone else wrote: read it afresh next time
                return Observation(current, written=False)
            raise
        self._read[server.server_id] = _record_from_item(item)
        return Observation(current, written=True)

    def _note_guarded(
        self, current: ServerRecord, checked: datetime | None, learned: LaunchConfiguration | None
    ) -> None:
        """When the guards last read the server's settings, and its launch configuration: facts
        about the settings, not a state change, so no version bump."""
        sets, values = [], {}
        if checked is not None:
            sets.append("guardsCheckedAt = :checked")
            values[":checked"] = {"S": checked.isoformat()}
        for name, value in _launch_configuration_attributes(learned).items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        if not sets:
            return
        self._client.update_item(
            TableName=self._table,
            Key={"serverId": {"S": current.server_id}},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(serverId)",
            ExpressionAttributeValues=values,
        )
        self._read[current.server_id] = replace(
            current,
            guards_checked_at=checked.isoformat() if checked else current.guards_checked_at,
            launch_template_id=(learned.template_id if learned else None) or current.launch_template_id,
            post_launch_actions=_known_actions(learned, current),
        )

    def claim_clock_notice(
        self, server_id: str, threshold_days: int, period_ends: str, *, replacing: str | None = None
    ) -> bool:
        """Claim the telling of the replication-clock threshold ``threshold_days`` of the free period
        ending ``period_ends`` for a server: True for the one caller that moves its record past every
        threshold told before, False when another run (or an earlier one) claimed it. ``replacing``:
        the earlier period the record holds, when the server replicates again from the start (what
        was told of it no longer counts). The version moves too, so a concurrent ``record`` that
        read the item before this claim fails its condition instead of writing the item back
        without it."""
        values = {":told": {"N": str(threshold_days)}, ":ends": {"S": period_ends}, ":one": {"N": "1"}}
        if replacing is None:
            condition = "attribute_not_exists(clockToldDays) OR clockToldDays < :told"
        else:
            condition = "clockPeriodEnds = :replacing"
            values[":replacing"] = {"S": replacing}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"serverId": {"S": server_id}},
                UpdateExpression="SET clockToldDays = :told, clockPeriodEnds = :ends, version = version + :one",
                ConditionExpression=f"attribute_exists(serverId) AND ({condition})",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self._read.pop(server_id, None)  # someone else moved it: read it afresh next time
                return False
            raise
        self._read[server_id] = _record_from_item(response["Attributes"])
        return True

    def release_clock_notice(
        self, server_id: str, threshold_days: int, told_before: int, period_before: str | None
    ) -> None:
        """Undo a claim whose message could not be sent, so the next reconcile tells it again
        (only if the record still holds this claim): what was told, and of which period, as before."""
        values = {
            ":before": {"N": str(told_before)},
            ":told": {"N": str(threshold_days)},
            ":one": {"N": "1"},
        }
        expression = "SET clockToldDays = :before, version = version + :one"
        if period_before is None:
            expression += " REMOVE clockPeriodEnds"
        else:
            expression = "SET clockToldDays = :before, clockPeriodEnds = :period, version = version + :one"
            values[":period"] = {"S": period_before}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"serverId": {"S": server_id}},
                UpdateExpression=expression,
                ConditionExpression="clockToldDays = :told",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        self._read.pop(server_id, None)

    def account_checked_at(self, check: str) -> datetime | None:
        """When the account-wide ``check`` (e.g. the replication templates) last ran on a schedule."""
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": ACCOUNT_CHECK_PREFIX + check}}, ConsistentRead=True
        ).get("Item")
        checked = (item or {}).get("checkedAt", {}).get("S")
        return datetime.fromisoformat(checked) if checked else None

    def note_account_check(self, check: str, at: datetime) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"serverId": {"S": ACCOUNT_CHECK_PREFIX + check}, "checkedAt": {"S": at.isoformat()}},
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
        if server_id in self._waves:
            return self._waves[server_id]
        record = self.get(server_id)
        return record.wave if record is not None else UNASSIGNED

    def hostnames(self, server_ids: list[str]) -> dict[str, str]:
        """Host names people know the servers by."""
        return {
            item["serverId"]["S"]: item.get("hostname", {}).get("S", "")
            for item in batch_get(self._client, self._table, server_ids, ["hostname"])
        }


def _knows(record: ServerRecord, found: LaunchConfiguration) -> bool:
    return record.launch_template_id == found.template_id and record.post_launch_actions == (
        dict(found.post_launch_actions) if found.post_launch_actions is not None else None
    )


def _known_actions(learned: LaunchConfiguration | None, current: ServerRecord) -> dict[str, Any] | None:
    if learned is not None and learned.post_launch_actions is not None:
        return dict(learned.post_launch_actions)
    return current.post_launch_actions


def _launch_configuration_attributes(known: LaunchConfiguration | None) -> dict[str, Any]:
    """The servers table's attributes for what is known of the launch configuration."""
    attributes: dict[str, Any] = {}
    if known is not None and known.template_id:
        attributes["launchTemplateId"] = {"S": known.template_id}
    if known is not None and known.post_launch_actions is not None:
        attributes["postLaunchActions"] = {"S": json.dumps(dict(known.post_launch_actions), sort_keys=True)}
    return attributes
