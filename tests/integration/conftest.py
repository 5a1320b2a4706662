"""An emulated closed-network account for whole-flow tests: moto + the MGN emulator + the real handlers."""

from __future__ import annotations

import importlib
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


@dataclass
class Account:
    clock: SimClock
    mgn: MgnEmulator
    dynamodb: Any
    mgn_client: Any

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


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        staging = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        launch = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
        clock = SimClock()
        emulator = MgnEmulator(
            clock,
            staging_subnet_id=staging,
            launch_subnet_id=launch,
            timings=Timings(initiating_seconds=60, initial_sync_seconds=600),
        )
        with emulator.installed():
            dynamodb = boto3.client("dynamodb")
            _create_tables(dynamodb)
            yield Account(clock=clock, mgn=emulator, dynamodb=dynamodb, mgn_client=boto3.client("mgn"))
