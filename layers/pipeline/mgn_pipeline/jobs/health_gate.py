"""The network health gate, as test launches and the cutover gate read it: is the latest report
green, and recent?

The network-health function writes item ``reportId=latest`` of ``HealthReportsTable`` on every run
(``status`` PASS | WARN | FAIL, ``failing`` check ids, ``generatedAt``). WARN is green: warnings
do not block. No report, or one older than the configured age, is not green: no evidence is not
a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class HealthReading:
    """The latest report as the gate judged it: what an approval's readiness snapshot keeps."""

    green: bool
    status: str  # PASS | WARN | FAIL | UNKNOWN (no report)
    generated_at: datetime | None
    reasons: tuple[str, ...]


class HealthStatus(Protocol):
    def latest_gate_status(self) -> tuple[bool, list[str]]:
        """(green, reasons it is not green)."""
        ...


class HealthReadings(HealthStatus, Protocol):
    def latest_reading(self) -> HealthReading: ...


class DynamoHealthStatus:
    """Takes an injected ``boto3.client("dynamodb")``; reads once per instance (one per invocation)."""

    def __init__(self, client: Any, table_name: str, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self._client = client
        self._table = table_name
        self._max_age = max_age
        self._now = now
        self._cached: HealthReading | None = None

    def latest_gate_status(self) -> tuple[bool, list[str]]:
        reading = self.latest_reading()
        return reading.green, list(reading.reasons)

    def latest_reading(self) -> HealthReading:
        # One read per invocation: the reconciler asks for every ready server in one run.
        if self._cached is None:
            self._cached = self._read()
        return self._cached

    def _read(self) -> HealthReading:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"reportId": {"S": "latest"}}, ConsistentRead=True
            ).get("Item")
        except self._client.exceptions.ResourceNotFoundException:
            return HealthReading(
                False, "UNKNOWN", None, (f"no health report yet (table {self._table} not found)",)
            )
        if item is None:
            return HealthReading(False, "UNKNOWN", None, ("no health report yet",))
        status = item.get("status", {}).get("S", "UNKNOWN")
        failing = [v["S"] for v in item.get("failing", {}).get("L", []) if "S" in v]
        generated = item.get("generatedAt", {}).get("S")
        reasons: list[str] = []
        generated_at = None
        if status not in {"PASS", "WARN"}:
            reasons.append(f"network health {status}: " + (", ".join(failing) or "no failing check named"))
        if generated:
            try:
                generated_at = datetime.fromisoformat(generated.replace("Z", "+00:00"))
            except ValueError:
                reasons.append(f"network health report has an unreadable time {generated!r}")
            else:
                age = self._now() - generated_at
                if age > self._max_age:
                    reasons.append(f"network health report is {int(age.total_seconds() // 60)} minutes old")
        else:
            reasons.append("network health report has no time")
        return HealthReading(not reasons, status, generated_at, tuple(reasons))
