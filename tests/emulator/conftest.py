"""Fixtures for the emulator's own tests: moto for EC2, a VPC with subnets, and an installed MGN emulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

# The helpers module sits beside this file; tests/ has no packages, so make it importable by name.
sys.path.insert(0, str(Path(__file__).parent))
from mgn_test_support import ACCOUNT, REGION, make_emulator, mgn_client

from localcloud import SimClock
from localcloud.mgn import MgnEmulator


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "MOTO_ACCOUNT_ID": ACCOUNT,
        # Loading moto's ~1300 default AMIs costs about a second per test; the emulator registers its own.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """One session for the run: its loaded service models make each test's EC2 client cheap."""
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def network(aws_env: None, boto_session: boto3.session.Session) -> Iterator[SimpleNamespace]:
    """A VPC with a staging subnet and a launch subnet, in moto."""
    with mock_aws():
        ec2 = boto_session.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        staging = ec2.create_subnet(VpcId=vpc, CidrBlock="10.10.1.0/24")["Subnet"]["SubnetId"]
        launch = ec2.create_subnet(VpcId=vpc, CidrBlock="10.10.2.0/24")["Subnet"]["SubnetId"]
        yield SimpleNamespace(ec2=ec2, vpc_id=vpc, staging_subnet_id=staging, launch_subnet_id=launch)


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def emu(clock: SimClock, network: SimpleNamespace) -> Iterator[MgnEmulator]:
    emulator = make_emulator(clock, network)
    with emulator.installed():
        yield emulator


@pytest.fixture
def mgn(emu: MgnEmulator) -> Any:
    return mgn_client()
