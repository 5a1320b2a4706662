"""End-to-end tests run against a deployed stack with real credentials, so the fake AWS environment
every other test gets is switched off here."""

from __future__ import annotations

import os

import pytest

STACK = os.environ.get("MGN_PIPELINE_STACK")


@pytest.fixture(autouse=True)
def lambda_environment() -> None:
    """Overrides the suite-wide fake credentials: these tests talk to a real account."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if STACK:
        return
    skip = pytest.mark.skip(reason="set MGN_PIPELINE_STACK (and AWS credentials) to test a deployed stack")
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(skip)
