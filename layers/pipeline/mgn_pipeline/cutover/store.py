"""The gate table: one DynamoDB item per server (hash key ``serverId``), KMS-encrypted.

It is the only place a Step Functions task token is kept (never in SSM parameters, events or logs).
Every write is a transition conditional on the attempt and the status read, so duplicated and
reordered triggers (events, the reconciler, the CLI) make each transition once: the loser's
condition fails and it does nothing more.

Resolving a waiting task moves the token into an *outbox* in the same conditional write, then
sends it; a crash between the two leaves the outbox, which the next trigger sends again (Step
Functions completes a token at most once, so a repeated send is harmless).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.cutover.model import GateStatus, execution_name
from mgn_pipeline.shared.aws.dynamodb import attribute_value, batch_get, conditional, string_attribute

# Set only while a gate waits for its wave's approval request: a sparse index, so finding the
# gates to ask for reads those and nothing else.
AWAITING_WAVE = "awaitingWave"
AWAITING_WAVE_INDEX = "awaitingWaveApproval"
# Wave requests share the gate table under their own key prefix (never a server id: "s-...").
WAVE_REQUEST_PREFIX = "wave#"
# Set only while an approved cutover waits for the launch batcher to start its MGN job: a sparse
# index keyed on when it may be offered (cutover.queue).
CUTOVER_QUEUE = "cutoverQueue"
CUTOVER_QUEUE_INDEX = "cutoverQueue"
CUTOVER_QUEUE_NAME = "CUTOVER"
CUTOVER_QUEUE_FIELDS = (CUTOVER_QUEUE, "cutoverEligibleAt", "cutoverClaimId", "cutoverClaimedAt")


# Gate fields stored as JSON strings.
_JSON_FIELDS = frozenset(
    {
        "decision",
        "launchParticipant",
        "tagsAtLaunch",
        "observed",
        "approvalReadiness",
        "cutoverReadiness",
        "verifiedTest",
    }
)


@dataclass(frozen=True, slots=True)
class Outbox:
    """A task result decided but maybe not yet delivered to Step Functions."""

    token: str
    error: str | None = None  # None: SendTaskSuccess with ``output``; else SendTaskFailure
    cause: str = ""
    output: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateRecord:
    server_id: str
    attempt: int
    status: GateStatus
    test_job_id: str | None = None
    execution_arn: str | None = None
    task_token: str | None = None
    automation_execution_id: str | None = None
    cutover_job_id: str | None = None
    instance_id: str | None = None
    decision: Mapping[str, Any] | None = None
    outbox: Outbox | None = None
    reason: str | None = None
    updated_at: str = ""
    # Approval per wave: the wave the gate is asked with, and the request that asked it.
    wave: str | None = None
    wave_request_id: str | None = None
    # What MGN said of the server as the gate opened (cutover.model.observed_snapshot).
    observed: Mapping[str, Any] | None = None
    # Set at LAUNCHED from the launch's word: the server's entry in the cutover job and its tags
    # (they declare its application ports), so that verifying needs no MGN read when no post-launch
    # action is pending.
    launch_participant: Mapping[str, Any] | None = None
    tags_at_launch: Mapping[str, str] | None = None
    # The server's wave as its gate opened: what the gate's audit records carry.
    server_wave: str | None = None
    # The readiness snapshots (cutover.evidence): the one approval was asked on, and the one taken
    # right before the cutover when it was found worse.
    approval_readiness: Mapping[str, Any] | None = None
    cutover_readiness: Mapping[str, Any] | None = None
    # The passed test verification that opened the gate (cutover.evidence.verified_test_of).
    verified_test: Mapping[str, Any] | None = None
    # When the cutover launch was seen (LAUNCHED): the verification's grace for the SSM agent counts from it.
    launched_at: str | None = None

    @property
    def execution_name(self) -> str:
        return execution_name(self.server_id, self.attempt)


def record_from_item(item: Mapping[str, Any]) -> GateRecord:
    outbox = None
    if "outbox" in item:
        box = item["outbox"]["M"]
        outbox = Outbox(
            token=box["token"]["S"],
            error=string_attribute(box, "error"),
            cause=string_attribute(box, "cause") or "",
            output=json.loads(string_attribute(box, "output") or "{}"),
        )
    decision = string_attribute(item, "decision")
    observed, launch_participant, tags_at_launch, approval_readiness, cutover_readiness, verified_test = (
        json.loads(string_attribute(item, name) or "null")
        for name in (
            "observed",
            "launchParticipant",
            "tagsAtLaunch",
            "approvalReadiness",
            "cutoverReadiness",
            "verifiedTest",
        )
    )
    return GateRecord(
        server_id=item["serverId"]["S"],
        attempt=int(item["attempt"]["N"]),
        status=GateStatus(item["status"]["S"]),
        test_job_id=string_attribute(item, "testJobId"),
        execution_arn=string_attribute(item, "executionArn"),
        task_token=string_attribute(item, "taskToken"),
        automation_execution_id=string_attribute(item, "automationExecutionId"),
        cutover_job_id=string_attribute(item, "cutoverJobId"),
        instance_id=string_attribute(item, "instanceId"),
        decision=json.loads(decision) if decision else None,
        outbox=outbox,
        reason=string_attribute(item, "reason"),
        updated_at=string_attribute(item, "updatedAt") or "",
        wave=string_attribute(item, "wave"),
        wave_request_id=string_attribute(item, "waveRequestId"),
        observed=observed,
        launch_participant=launch_participant,
        tags_at_launch=tags_at_launch,
        server_wave=string_attribute(item, "serverWave"),
        approval_readiness=approval_readiness,
        cutover_readiness=cutover_readiness,
        verified_test=verified_test,
        launched_at=string_attribute(item, "launchedAt"),
    )


class GateStore:
    """Takes an injected ``boto3.client("dynamodb")``."""

    def __init__(
        self, client: Any, table_name: str, on_read: Callable[[GateRecord], None] | None = None
    ) -> None:
        """``on_read`` is shown every record read or written (what it knows of the server saves
        other reads)."""
        self._client = client
        self._table = table_name
        self._on_read = on_read

    def get(self, server_id: str) -> GateRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": server_id}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        record = record_from_item(item)
        if self._on_read is not None:
            self._on_read(record)
        return record

    def open(
        self,
        server_id: str,
        attempt: int,
        test_job_id: str | None,
        previous: GateRecord | None,
        now: datetime,
        observed: Mapping[str, Any] | None = None,
        server_wave: str | None = None,
        verified_test: Mapping[str, Any] | None = None,
    ) -> bool:
        """Claim attempt ``attempt`` (a new item, or the next attempt of a closed one)."""
        item = {
            "serverId": {"S": server_id},
            "attempt": {"N": str(attempt)},
            "status": {"S": GateStatus.OPENING.value},
            "openedAt": {"S": now.isoformat()},
            "updatedAt": {"S": now.isoformat()},
        }
        if test_job_id:
            item["testJobId"] = {"S": test_job_id}
        if server_wave:
            item["serverWave"] = {"S": server_wave}
        if observed is not None:
            item["observed"] = {"S": json.dumps(dict(observed), default=str, sort_keys=True)}
        if verified_test is not None:
            item["verifiedTest"] = {"S": json.dumps(dict(verified_test), default=str, sort_keys=True)}
        if previous is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(serverId)"}
        else:
            condition = {
                "ConditionExpression": "attempt = :a AND #s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":a": {"N": str(previous.attempt)},
                    ":s": {"S": previous.status.value},
                },
            }
        return conditional(lambda: self._client.put_item(TableName=self._table, Item=item, **condition))

    def transition(
        self,
        server_id: str,
        attempt: int,
        expected: Iterable[GateStatus],
        new: GateStatus,
        now: datetime,
        *,
        set_fields: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        token: str | None = None,
        outbox: Outbox | None = None,
        require_token: bool = False,
        not_yet_asked: bool = False,
    ) -> GateRecord | None:
        """Move the record from one of ``expected`` to ``new`` (same attempt); the new record, or None
        if the record was not in an expected state (someone else made the transition).

        ``not_yet_asked``: only if no approval automation is attached yet (a wave request claims
        each gate once). Leaving WAITING_APPROVAL also leaves the sparse index of gates awaiting
        their wave's request."""
        values: dict[str, Any] = {
            ":a": {"N": str(attempt)},
            ":new": {"S": new.value},
            ":now": {"S": now.isoformat()},
        }
        names: dict[str, str] = {"#s": "status"}
        sets = ["#s = :new", "updatedAt = :now"]
        fields: dict[str, Any] = dict(set_fields or {})
        if token is not None:
            fields["taskToken"] = token
        if outbox is not None:
            fields["outbox"] = {
                "token": outbox.token,
                "error": outbox.error,
                "cause": outbox.cause,
                "output": json.dumps(dict(outbox.output), default=str),
            }
        for i, (key, value) in enumerate(fields.items()):
            if value is None:
                continue
            names[f"#f{i}"] = key
            values[f":f{i}"] = attribute_value(
                json.dumps(value, default=str) if key in _JSON_FIELDS else value
            )
            sets.append(f"#f{i} = :f{i}")
        removed = [r for r in remove if r not in fields]
        if new is not GateStatus.WAITING_APPROVAL and AWAITING_WAVE not in fields:
            removed.append(AWAITING_WAVE)
        if new is not GateStatus.CUTTING_OVER:
            removed.extend(f for f in CUTOVER_QUEUE_FIELDS if f not in fields)
        if outbox is not None and "taskToken" not in fields:
            removed.append("taskToken")
        expected_names = []
        for i, status in enumerate(dict.fromkeys(expected)):
            values[f":e{i}"] = {"S": status.value}
            expected_names.append(f":e{i}")
        condition = f"attempt = :a AND #s IN ({', '.join(expected_names)})"
        if require_token:
            condition += " AND attribute_exists(taskToken)"
        if not_yet_asked:
            condition += " AND attribute_not_exists(automationExecutionId)"
        expression = "SET " + ", ".join(sets)
        if removed:
            expression += " REMOVE " + ", ".join(dict.fromkeys(removed))
        result: dict[str, Any] = {}

        def update() -> None:
            result.update(
                self._client.update_item(
                    TableName=self._table,
                    Key={"serverId": {"S": server_id}},
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            )

        if not conditional(update):
            return None
        record = record_from_item(result["Attributes"])
        if self._on_read is not None:
            self._on_read(record)  # the new record tells as much as a read would
        return record

    def clear_outbox(self, server_id: str, token: str) -> None:
        def update() -> None:
            self._client.update_item(
                TableName=self._table,
                Key={"serverId": {"S": server_id}},
                UpdateExpression="REMOVE outbox",
                ConditionExpression="outbox.#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": token}},
            )

        conditional(update)


@dataclass(frozen=True, slots=True)
class ParkedGate:
    """A gate at WAITING_APPROVAL that its wave has not asked for yet (the sparse index's view)."""

    server_id: str
    attempt: int
    wave: str
    since: str


@dataclass(frozen=True, slots=True)
class WaveRequest:
    """One approval asked for a wave: exactly which gates (server, attempt) a decision covers."""

    request_id: str
    wave: str
    members: tuple[tuple[str, int], ...]
    digest: str
    asked_at: str
    automation_execution_id: str | None = None


class WaveRequestStore:
    """Wave requests and parked gates, in the gate table. Takes an injected ``boto3.client("dynamodb")``."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def parked(self) -> list[ParkedGate]:
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table, IndexName=AWAITING_WAVE_INDEX
        )
        return [
            ParkedGate(
                server_id=item["serverId"]["S"],
                attempt=int(item["attempt"]["N"]),
                wave=item[AWAITING_WAVE]["S"],
                since=string_attribute(item, "updatedAt") or "",
            )
            for page in pages
            for item in page.get("Items", [])
            if string_attribute(item, "status") == GateStatus.WAITING_APPROVAL.value
        ]

    def statuses(self, server_ids: Iterable[str]) -> dict[str, GateStatus]:
        """The gate status of each server that has a gate (tokens are not read)."""
        return {
            item["serverId"]["S"]: GateStatus(item["status"]["S"])
            for item in batch_get(self._client, self._table, server_ids, ["status"], consistent=True)
        }

    def approval_readiness(self, server_ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """Each gate's readiness snapshot, taken when it reached the gate (cutover.evidence)."""
        found: dict[str, Mapping[str, Any]] = {}
        for item in batch_get(self._client, self._table, server_ids, ["approvalReadiness"], consistent=True):
            text = string_attribute(item, "approvalReadiness")
            if text:
                found[item["serverId"]["S"]] = json.loads(text)
        return found

    def put(self, request: WaveRequest) -> WaveRequest:
        """Store a new request, or return the one already stored under its id (same members, same id)."""
        item = {
            "serverId": {"S": request.request_id},
            "kind": {"S": "wave-request"},
            "wave": {"S": request.wave},
            "members": {"L": [{"S": f"{sid}#{attempt}"} for sid, attempt in request.members]},
            "digest": {"S": request.digest},
            "askedAt": {"S": request.asked_at},
        }
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(serverId)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            stored = self.get(request.request_id)
            if stored is not None:
                return stored
        return request

    def get(self, request_id: str) -> WaveRequest | None:
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": request_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        members = []
        for entry in item["members"]["L"]:
            sid, _, attempt = entry["S"].rpartition("#")
            members.append((sid, int(attempt)))
        return WaveRequest(
            request_id=request_id,
            wave=item["wave"]["S"],
            members=tuple(members),
            digest=item["digest"]["S"],
            asked_at=item["askedAt"]["S"],
            automation_execution_id=string_attribute(item, "automationExecutionId"),
        )

    def attach_automation(self, request_id: str, automation_execution_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"serverId": {"S": request_id}},
            UpdateExpression="SET automationExecutionId = :a",
            ExpressionAttributeValues={":a": {"S": automation_execution_id}},
        )
