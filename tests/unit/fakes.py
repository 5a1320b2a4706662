"""In-memory stand-ins for the world around a capability: clock, health gate, audit trail, people,
EC2's facts about an instance, the application ports. Each keeps what it was asked, for the test."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mgn_pipeline.jobs.health_gate import HealthReading
from mgn_pipeline.jobs.mgn_jobs import JobRequest
from mgn_pipeline.jobs.verification import InstanceFacts
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def source_server(server_id: str, **changes: Any) -> SourceServer:
    """A replicating source server as MGN describes it; ``changes`` override any field."""
    server = SourceServer(
        server_id=server_id,
        arn=f"arn:aws:mgn:us-east-1:111122223333:source-server/{server_id}",
        lifecycle=LifeCycleState.READY_FOR_TEST,
        replication=ReplicationState.CONTINUOUS,
        is_archived=False,
    )
    return replace(server, **changes)


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

    def latest_reading(self) -> HealthReading:
        status = "PASS" if self.green else "FAIL"
        return HealthReading(self.green, status, None, tuple(self.reasons))


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


@dataclass
class FakeLaunchConfigurations:
    """The remembered launch configurations: no post-launch actions unless a test sets some."""

    actions: dict[str, Any] = field(default_factory=dict)

    def post_launch_actions(self, server_id: str) -> dict[str, Any]:
        return self.actions

    def template_id(self, server_id: str, *, fresh: bool = False) -> str | None:
        return None


@dataclass
class FakeJobs:
    """MGN's jobs: what a job says about each server, and every write the gate made."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)
    failure: str = "LAUNCH_FAILED: subnet has no free addresses"
    terminate_answer: JobRequest = field(default_factory=lambda: JobRequest(job_id="mgnjob-terminate"))

    job_reads: int = 0

    def job(self, job_id: str) -> dict[str, Any] | None:
        self.job_reads += 1
        return self.jobs.get(job_id)

    def failure_reasons(self, job_id: str, server_id: str) -> list[str]:
        return [self.failure]

    def change_lifecycle(self, server_id: str, state: str) -> None:
        self.writes.append(("ChangeServerLifeCycleState", state))

    @property
    def lifecycle_changes(self) -> list[str]:
        return [state for operation, state in self.writes if operation == "ChangeServerLifeCycleState"]

    def terminate_target_instances(self, server_ids: list[str], tags: dict[str, str]) -> JobRequest:
        self.writes.append(("TerminateTargetInstances", ",".join(server_ids)))
        return self.terminate_answer

    def finalize_cutover(self, server_id: str) -> SourceServer:
        self.writes.append(("FinalizeCutover", server_id))
        return source_server(
            server_id,
            lifecycle=LifeCycleState.CUTOVER,
            replication=ReplicationState.DISCONNECTED,
            cutover_finalized=True,
        )

    def mark_as_archived(self, server_id: str) -> None:
        self.writes.append(("MarkAsArchived", server_id))
