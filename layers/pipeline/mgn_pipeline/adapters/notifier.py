"""Messages for people, on the pipeline's one SNS topic. Takes an injected ``boto3.client("sns")``."""

from __future__ import annotations

from typing import Any


class Notifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def notify(self, subject: str, body: str, kind: str) -> None:
        # SNS caps subjects at 100 characters; the body carries the details.
        self._client.publish(
            TopicArn=self._topic,
            Subject=subject[:100],
            Message=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )
