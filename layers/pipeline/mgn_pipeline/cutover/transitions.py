"""Reading a gate record where a task expects it, and handing results to the execution that waits.

A result is written to the record's outbox in the same conditional write as the transition, then
delivered to Step Functions and cleared: a crash in between is delivered again by ``follow``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.cutover.errors import GateStateError
from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.store import GateRecord, GateStore, Outbox
from mgn_pipeline.shared.observability import logger

# Step Functions answers these when a token was already completed (or its execution ended).
_TOKEN_GONE = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken", "ExecutionDoesNotExist"}


class GateTransitions:
    def __init__(
        self, *, store: GateStore, stepfunctions: Callable[[], Any], now: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.now = now
        self._sfn = stepfunctions

    def expect(self, server_id: str, attempt: int, statuses: set[GateStatus]) -> GateRecord:
        record = self.store.get(server_id)
        if record is None or record.attempt != attempt or record.status not in statuses:
            found = "none" if record is None else f"attempt {record.attempt} {record.status.value}"
            raise GateStateError(
                f"{server_id}: gate attempt {attempt} expected in {sorted(s.value for s in statuses)}, found {found}"
            )
        return record

    def move(
        self,
        record: GateRecord,
        new: GateStatus,
        *,
        token: str | None = None,
        remove: Iterable[str] = (),
        set_fields: Mapping[str, Any] | None = None,
    ) -> GateRecord | None:
        """``record``'s attempt from the status it was read in to ``new``; None if it moved meanwhile."""
        return self.store.transition(
            record.server_id,
            record.attempt,
            [record.status],
            new,
            self.now(),
            token=token,
            remove=remove,
            set_fields=set_fields,
        )

    def resolve(
        self,
        record: GateRecord,
        expected: GateStatus,
        new: GateStatus,
        outbox: Outbox,
        what: str,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """Move the record and answer the task token waiting on it, once."""
        moved = self.store.transition(
            record.server_id,
            record.attempt,
            [expected],
            new,
            self.now(),
            outbox=outbox,
            require_token=True,
            set_fields=fields,
        )
        if moved is None:
            return f"{what}: already resolved"
        self.deliver(moved)
        return what

    def deliver(self, record: GateRecord) -> None:
        box = record.outbox
        if box is None:
            return
        try:
            if box.error is None:
                self._sfn().send_task_success(
                    taskToken=box.token, output=json.dumps(dict(box.output), default=str)
                )
            else:
                # The cause stays short: Step Functions keeps it in the execution history.
                self._sfn().send_task_failure(taskToken=box.token, error=box.error, cause=box.cause[:1000])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _TOKEN_GONE:
                raise
            logger.info("task token already completed", extra={"server_id": record.server_id})
        self.store.clear_outbox(record.server_id, box.token)

    def start_execution(self, record: GateRecord, machine: str, execution_input: Mapping[str, Any]) -> str:
        """Start the attempt's execution (its name is the idempotency key) and remember its ARN."""
        name = record.execution_name
        try:
            arn = str(
                self._sfn().start_execution(
                    stateMachineArn=machine, name=name, input=json.dumps(execution_input)
                )["executionArn"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        self.move(record, record.status, set_fields={"executionArn": arn})
        return name
