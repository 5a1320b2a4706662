"""Shared fixtures: a Lambda-like environment with fake credentials, and the repo's event files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"

LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "mgn-pipeline",
    "POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "SERVERS_TABLE_NAME": "servers",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "PIPELINE_ACCOUNT_ID": "111122223333",  # the account of events/ and of moto's default
}


# CI explores the same examples every run (a red CI must be reproducible); locally they vary.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Lambda sets these before the handler module is imported; Powertools reads them at import.
for _key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_TRACE_DISABLED"):
    os.environ.setdefault(_key, LAMBDA_ENV[_key])


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs as a function would: Region set, fake credentials, never a real account."""
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in LAMBDA_ENV.items():
        monkeypatch.setenv(key, value)


class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:test-function"
    aws_request_id = "9e1f0c3a-2b4d-4f6e-8a0b-1c2d3e4f5a6b"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data
