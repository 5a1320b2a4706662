"""The EventBridge events SSM Automation sends (source ``aws.ssm``), and their subscribers.

Shapes follow the "Amazon EventBridge event examples for Systems Manager" page: ``Definition``
is the document name, ``DefinitionVersion`` a number, ``StartTime``/``EndTime`` a text date
such as ``Nov 29, 2024 7:43:25 PM`` and ``Time`` the duration in milliseconds. Neither event
carries the approver's decision: a consumer reads it with GetAutomationExecution.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.mgn.util import IdFactory, iso_seconds

if TYPE_CHECKING:
    from localcloud.ssm.executions import ExecutionRecord, StepRecord

Event = dict[str, Any]
Subscriber = Callable[[Event], object]

SOURCE = "aws.ssm"
STEP_STATUS_CHANGE = "EC2 Automation Step Status-change Notification"
EXECUTION_STATUS_CHANGE = "EC2 Automation Execution Status-change Notification"

# Fixed English names: strftime("%b") would follow the machine's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def event_time(dt: datetime) -> str:
    """``Nov 29, 2024 7:43:25 PM`` (UTC), the text form SSM puts in StartTime/EndTime."""
    dt = dt.astimezone(UTC)
    hour = dt.hour % 12 or 12
    return (
        f"{_MONTHS[dt.month - 1]} {dt.day}, {dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} "
        f"{'AM' if dt.hour < 12 else 'PM'}"
    )


class AutomationEventEmitter:
    """Builds the events, keeps them in order (``events``) and hands each to every subscriber."""

    def __init__(self, ids: IdFactory, account_id: str, region: str) -> None:
        self._ids = ids
        self.account_id = account_id
        self.region = region
        self.events: list[Event] = []
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback(event)``; returns a function that unsubscribes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def step_changed(self, now: datetime, execution: ExecutionRecord, step: StepRecord) -> Event:
        detail = self._common(execution, step.status, step.start, step.end)
        detail["StepName"] = step.spec.name
        detail["Action"] = step.spec.action
        return self._emit(STEP_STATUS_CHANGE, now, execution, detail)

    def execution_changed(self, now: datetime, execution: ExecutionRecord) -> Event:
        detail = self._common(execution, execution.status, execution.start, execution.end)
        detail["ExecutedBy"] = execution.executed_by
        return self._emit(EXECUTION_STATUS_CHANGE, now, execution, detail)

    @staticmethod
    def _common(
        execution: ExecutionRecord, status: str, start: datetime | None, end: datetime | None
    ) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "ExecutionId": execution.execution_id,
            "Definition": execution.document.name,
            "DefinitionVersion": float(execution.document.version),
            "Status": status,
        }
        if start is not None:
            detail["StartTime"] = event_time(start)
        # The documented examples are of finished runs; for a step still running (or waiting
        # for approval) there is no end, so EndTime and Time are left out.
        if start is not None and end is not None:
            detail["EndTime"] = event_time(end)
            detail["Time"] = round((end - start).total_seconds() * 1000.0, 1)
        return detail

    def _emit(
        self, detail_type: str, now: datetime, execution: ExecutionRecord, detail: dict[str, Any]
    ) -> Event:
        event: Event = {
            "version": "0",
            "id": self._ids.uuid(),
            "detail-type": detail_type,
            "source": SOURCE,
            "account": self.account_id,
            "time": iso_seconds(now),
            "region": self.region,
            "resources": [execution.arn, execution.definition_arn],
            "detail": detail,
        }
        self.events.append(event)
        for callback in list(self._subscribers):
            callback(event)
        return event
