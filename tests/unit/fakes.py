"""In-memory stand-ins for the world around a capability: clock, health gate, audit trail, people,
EC2's facts about an instance, the application ports. Each keeps what it was asked, for the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mgn_pipeline.jobs.verification import InstanceFacts

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """What moto's in-memory AWS needs to sign requests it never sends."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)


class FakeClock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class FakeHealth:
    green: bool = True
    reasons: list[str] = field(default_factory=list)

    def latest_gate_status(self) -> tuple[bool, list[str]]:
        return self.green, self.reasons


@dataclass
class FakeAudit:
    records: list[Any] = field(default_factory=list)

    def append(self, record: Any, at: datetime) -> str:
        self.records.append(record)
        return str(len(self.records))

    def wave_for(self, subject: str) -> str:
        return "wave-1"

    def actions(self, subject: str | None = None) -> list[str]:
        return [r.action for r in self.records if subject in (None, r.subject)]


@dataclass
class FakeNotifier:
    told: list[tuple[str, str]] = field(default_factory=list)

    def tell(self, kind: str, subject: str, **parts: Any) -> None:
        self.told.append((kind, subject))


class FakeInstances:
    def __init__(self, facts: InstanceFacts) -> None:
        self.facts_of = facts

    def facts(self, instance_id: str) -> InstanceFacts:
        return self.facts_of


class OpenPorts:
    def is_open(self, host: str, port: int, timeout_seconds: float) -> bool:
        return True
