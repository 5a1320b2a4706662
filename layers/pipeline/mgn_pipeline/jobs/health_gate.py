"""The network health gate, as test launches read it: is the latest report green, and recent?

The network-health function writes item ``reportId=latest`` of ``HealthReportsTable`` on every run
(``status`` PASS | WARN | FAIL, ``failing`` check ids, ``generatedAt``). WARN is green: warnings
do not block. No report, or one older than the configured age, is not green: no evidence is not
a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol


class HealthStatus(Protocol):
    def latest_gate_status(self) -> tuple[bool, list[str]]:
        """(green, reasons it is not green)."""
        ...


class DynamoHealthStatus:
    """Takes an injected ``boto3.client("dynamodb")``; reads once per instance (one per invocation)."""

    def __init__(self, client: Any, table_name: str, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self._client = client
        self._table = table_name
        self._max_age = max_age
        self._now = now
        self._cached: tuple[bool, list[str]] | None = None

    def latest_gate_status(self) -> tuple[bool, list[str]]:
        # One read per invocation: the reconciler asks for every ready server in one run.
        if self._cached is None:
            self._cached = self._read()
        return self._cached

    def _read(self) -> tuple[bool, list[str]]:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"reportId": {"S": "latest"}}, ConsistentRead=True
            ).get("Item")
        except self._client.exceptions.ResourceNotFoundException:
            return False, [f"no health report yet (table {self._table} not found)"]
        if item is None:
            return False, ["no health report yet"]
        status = item.get("status", {}).get("S", "UNKNOWN")
        failing = [v["S"] for v in item.get("failing", {}).get("L", []) if "S" in v]
        generated = item.get("generatedAt", {}).get("S")
        reasons: list[str] = []
        if status not in {"PASS", "WARN"}:
            reasons.append(f"network health {status}: " + (", ".join(failing) or "no failing check named"))
        if generated:
            try:
                age = self._now() - datetime.fromisoformat(generated.replace("Z", "+00:00"))
            except ValueError:
                reasons.append(f"network health report has an unreadable time {generated!r}")
            else:
                if age > self._max_age:
                    reasons.append(f"network health report is {int(age.total_seconds() // 60)} minutes old")
        else:
            reasons.append("network health report has no time")
        return not reasons, reasons
