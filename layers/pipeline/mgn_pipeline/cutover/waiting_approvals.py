"""Which servers at the gate wait for a person: the reconciler's ApprovalsWaiting gauge reads it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.shared.aws.dynamodb import batch_get


class GateTableApprovals:
    """``WaitingApprovals`` from the cutover gate table (an injected ``boto3.client("dynamodb")``).

    Reads only the items of the servers asked about (BatchGetItem, 100 keys a call, key and status
    projected, eventually consistent): the cost follows the servers at the gate, not the table's
    history of closed gates.
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def waiting(self, server_ids: Collection[str]) -> set[str]:
        return {
            str(item["serverId"]["S"])
            for item in batch_get(self._client, self._table, sorted(server_ids), ["status"])
            if item.get("status", {}).get("S") == GateStatus.WAITING_APPROVAL.value
        }
