"""A deployed stack, read-only: its outputs, a fresh network-health report, its dead-letter queues empty."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.e2e.conftest import STACK


def outputs() -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_stack_exposes_what_operators_need() -> None:
    found = outputs()
    for key in ("NotificationTopicArn", "ServersTableName", "AuditTableName", "CutoverGateStateMachineArn"):
        assert found.get(key), key


def test_network_health_on_demand_passes() -> None:
    stack = boto3.client("cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId="NetworkHealthFunction"
    )["StackResourceDetail"]
    response = boto3.client("lambda").invoke(
        FunctionName=stack["PhysicalResourceId"], Payload=json.dumps({"requestedBy": "e2e"}).encode()
    )
    report: dict[str, Any] = json.loads(response["Payload"].read())
    assert report["status"] in {"PASS", "WARN"}, report.get("failing")


def test_dead_letter_queues_are_empty() -> None:
    sqs = boto3.client("sqs")
    found = outputs()
    for key in ("EventDeliveryDLQUrl", "FunctionFailureDLQUrl"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=found[key], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0", key
