"""Unit-test fixtures: DynamoDB in memory (moto; no socket is opened)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.fakes import fake_aws_credentials


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A DynamoDB client on moto's in-memory backend, for the real stores under test."""
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        yield boto3.client("dynamodb")
