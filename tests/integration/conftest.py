"""An emulated closed-network account for whole-flow tests: moto + the MGN emulator + the real handlers."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.clock import SimClock
from localcloud.mgn import MgnEmulator, Timings
from mgn_pipeline.shared.clock import use_clock


@dataclass
class Account:
    clock: SimClock
    mgn: MgnEmulator
    dynamodb: Any
    mgn_client: Any
    ec2: Any
    staging_subnet_id: str
    launch_subnet_id: str
    replication_security_group_id: str
    notifications: Any  # an SQS queue subscribed to the topic: what a person would read

    def notices(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.notifications, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return messages
            messages.extend(json.loads(m["Body"]) for m in batch)
            for m in batch:
                sqs.delete_message(QueueUrl=self.notifications, ReceiptHandle=m["ReceiptHandle"])

    def mgn_writes(self) -> list[str]:
        return [name for name, _ in self.mgn.calls if not name.startswith(("Describe", "Get", "List"))]

    def load_handler(self, function_dir: str) -> ModuleType:
        """Import a function's handler fresh, as a new Lambda container would (clients made now)."""
        name = f"functions.{function_dir}.app"
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    def call_count(self, operation: str) -> int:
        return sum(1 for name, _ in self.mgn.calls if name == operation)


def _create_tables(dynamodb: Any) -> None:
    # Key schemas as in template.yaml (ServersTable, IdempotencyTable).
    dynamodb.create_table(
        TableName="servers",
        AttributeDefinitions=[{"AttributeName": "serverId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "serverId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="idempotency",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="audit",
        AttributeDefinitions=[
            {"AttributeName": "subject", "AttributeType": "S"},
            {"AttributeName": "recordId", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "subject", "KeyType": "HASH"},
            {"AttributeName": "recordId", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    with mock_aws():
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        staging = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        launch = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
        replication_sg = ec2.create_security_group(
            GroupName="replication", Description="MGN replication servers", VpcId=vpc
        )["GroupId"]
        sns = boto3.client("sns")
        sqs = boto3.client("sqs")
        topic = sns.create_topic(Name="notifications")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "false"}
        )
        for key, value in {
            "AUDIT_TABLE_NAME": "audit",
            "NOTIFICATION_TOPIC_ARN": topic,
            "STAGING_SUBNET_ID": staging,
            "REPLICATION_SECURITY_GROUP_IDS": replication_sg,
            "ALLOWED_LAUNCH_SUBNET_IDS": launch,
        }.items():
            monkeypatch.setenv(key, value)
        clock = SimClock()
        emulator = MgnEmulator(
            clock,
            staging_subnet_id=staging,
            launch_subnet_id=launch,
            timings=Timings(initiating_seconds=60, initial_sync_seconds=600),
        )
        # The pipeline's records carry the simulated time, so tests can move it (recheck intervals).
        with emulator.installed(), use_clock(clock.now):
            dynamodb = boto3.client("dynamodb")
            _create_tables(dynamodb)
            yield Account(
                clock=clock,
                mgn=emulator,
                dynamodb=dynamodb,
                mgn_client=boto3.client("mgn"),
                ec2=ec2,
                staging_subnet_id=staging,
                launch_subnet_id=launch,
                replication_security_group_id=replication_sg,
                notifications=inbox,
            )


@pytest.fixture
def pipeline_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The messages the pipeline's logger writes (Powertools writes JSON to the stdout it found at
    import, out of reach of caplog and capsys, so the calls are recorded where they are made)."""
    from mgn_pipeline.shared.observability import logger

    messages: list[str] = []
    for level in ("info", "warning", "error"):
        original = getattr(logger, level)

        def record(msg: object, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            messages.append(str(msg))
            return _original(msg, *args, **kwargs)

        monkeypatch.setattr(logger, level, record)
    return messages
