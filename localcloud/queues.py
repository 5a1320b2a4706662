"""Lambda's SQS event source mapping on simulated time: a queue a rule targets, read in batches.

moto's SQS keeps visibility timeouts on the wall clock, which the simulated clock outruns, so the
queue a function reads through an event source mapping lives here, on the :class:`SimClock`:
messages wait up to ``MaximumBatchingWindowInSeconds`` (or until a batch is full), the function
gets them as one ``Records`` batch, the ones it reports in ``batchItemFailures`` (or all, if it
raises) come back after the queue's ``VisibilityTimeout``, and after ``maxReceiveCount`` receives
a message moves to the queue's ``RedrivePolicy`` dead-letter queue in moto SQS, as SQS moves it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud.clock import SimClock
from localcloud.functions import LocalFunctions
from localcloud.template import QueueSource, Template, resolve


@dataclass
class _Message:
    message_id: str
    body: str
    sent_at_ms: int
    receives: int = 0
    visible_at: float = 0.0  # simulated epoch seconds


@dataclass
class LocalQueue:
    source: QueueSource
    arn: str
    visibility_timeout_s: float
    max_receives: int | None
    dead_letter_url: str | None
    waiting: list[_Message] = field(default_factory=list)
    drain_at: float | None = None
    stats: Counter[str] = field(default_factory=Counter)


class LocalQueueSources:
    """Every ``Type: SQS`` function event of the template, each with its queue."""

    def __init__(self, template: Template, functions: LocalFunctions, clock: SimClock) -> None:
        self.functions = functions
        self.clock = clock
        refs, conditions = functions.refs, functions.conditions
        resources = template.resources()
        self.queues: dict[str, LocalQueue] = {}
        for source in template.queue_sources():
            props = resolve(resources[source.queue].get("Properties") or {}, refs, conditions)
            redrive = props.get("RedrivePolicy") or {}
            dead_letter_arn = redrive.get("deadLetterTargetArn")
            self.queues[source.queue] = LocalQueue(
                source=source,
                arn=str(refs.get(f"{source.queue}.Arn", source.queue)),
                visibility_timeout_s=float(props.get("VisibilityTimeout", 30)),
                max_receives=int(redrive["maxReceiveCount"]) if redrive.get("maxReceiveCount") else None,
                dead_letter_url=_url_of(refs, str(dead_letter_arn)) if dead_letter_arn else None,
            )

    def send(self, queue: str, body: dict[str, Any]) -> None:
        """What EventBridge's SQS target does: one message per event."""
        local = self.queues[queue]
        now = self.clock.now().timestamp()
        local.waiting.append(_Message(str(uuid.uuid4()), json.dumps(body), int(now * 1000), visible_at=now))
        local.stats["sent"] += 1
        visible = [m for m in local.waiting if m.visible_at <= now]
        if len(visible) >= local.source.batch_size:
            self._arm(local, now)
        else:
            self._arm(local, now + local.source.batching_window_s)

    def waiting(self, queue: str) -> int:
        return len(self.queues[queue].waiting)

    # ------------------------------------------------------------ the mapping's poller

    def _arm(self, local: LocalQueue, at: float) -> None:
        if local.drain_at is not None and local.drain_at <= at:
            return
        local.drain_at = at
        delay = max(0.0, at - self.clock.now().timestamp())
        self.clock.call_later(delay, lambda: self._drain(local, at))

    def _drain(self, local: LocalQueue, armed_for: float) -> None:
        if local.drain_at != armed_for:
            return  # re-armed earlier; that timer took the batch
        local.drain_at = None
        now = self.clock.now().timestamp()
        batch = [m for m in local.waiting if m.visible_at <= now][: local.source.batch_size]
        if batch:
            self._invoke(local, batch, now)
        if local.waiting:
            self._arm(local, max(min(m.visible_at for m in local.waiting), now))

    def _invoke(self, local: LocalQueue, batch: list[_Message], now: float) -> None:
        for message in batch:
            message.receives += 1
            message.visible_at = now + local.visibility_timeout_s
        records = [self._record(local, message) for message in batch]
        local.stats["batches"] += 1
        failed: set[str]
        try:
            response = self.functions.invoke(
                local.source.function, {"Records": records}, trigger=f"sqs:{local.source.queue}"
            )
        except Exception:
            failed = {m.message_id for m in batch}
        else:
            failed = set()
            if local.source.report_batch_item_failures and isinstance(response, dict):
                failed = {
                    str(item.get("itemIdentifier"))
                    for item in response.get("batchItemFailures") or []
                    if isinstance(item, dict)
                }
        for message in batch:
            if message.message_id not in failed:
                local.waiting.remove(message)
                local.stats["deleted"] += 1
            elif local.max_receives is not None and message.receives >= local.max_receives:
                local.waiting.remove(message)
                self._dead_letter(local, message)
            else:
                local.stats["returned"] += 1

    def _dead_letter(self, local: LocalQueue, message: _Message) -> None:
        local.stats["dead_lettered"] += 1
        if local.dead_letter_url is None:
            return
        boto3.client("sqs", region_name=self.functions.region).send_message(
            QueueUrl=local.dead_letter_url, MessageBody=message.body
        )

    def _record(self, local: LocalQueue, message: _Message) -> dict[str, Any]:
        return {
            "messageId": message.message_id,
            "receiptHandle": f"{message.message_id}#{message.receives}",
            "body": message.body,
            "attributes": {
                "ApproximateReceiveCount": str(message.receives),
                "SentTimestamp": str(message.sent_at_ms),
                "SenderId": "AIDAEVENTBRIDGE",
                "ApproximateFirstReceiveTimestamp": str(message.sent_at_ms),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": local.arn,
            "awsRegion": self.functions.region,
        }


def _url_of(refs: dict[str, Any], arn: str) -> str | None:
    """The URL of the template queue whose ARN is ``arn`` (refs map a queue's logical id to its URL)."""
    for key, value in refs.items():
        if key.endswith(".Arn") and value == arn:
            return str(refs.get(key[: -len(".Arn")]))
    return None
