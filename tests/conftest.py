"""Shared fixtures: a Lambda-like environment with fake credentials, and the repo's event files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

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
}


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


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data
