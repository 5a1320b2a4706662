"""The status report: one ``ServerStatus`` per server, one ``WaveProgress`` per wave. Plain data;
``as_dict`` gives the machine-readable form (``mgn-migrate status --json``), keys in camelCase."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A server the pipeline has not recorded yet (no servers-table item): it has no step.
NOT_SEEN = "NOT_SEEN"


@dataclass(frozen=True, slots=True)
class LastError:
    source: str  # "audit" (a pipeline record) or "mgn" (MGN's data replication error)
    action: str
    at: str | None
    problem: str
    reason: str
    fix: str
    needs_person: bool
    # False when the server moved on since (a retried test that then passed, ...).
    current: bool
    job_id: str | None = None
    actor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "action": self.action,
            "at": self.at,
            "problem": self.problem,
            "reason": self.reason,
            "fix": self.fix,
            "needsPerson": self.needs_person,
            "current": self.current,
            "jobId": self.job_id,
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class Wait:
    """What a server waits for, since when, and whether only a person can end the wait."""

    what: str
    since: str | None
    on_person: bool = False


@dataclass(frozen=True, slots=True)
class ServerStatus:
    server_id: str
    hostname: str
    wave: str
    lifecycle: str
    replication: str
    lag_duration: str | None
    lag_seconds: float | None
    archived: bool
    step: str  # a PipelineStep value, or NOT_SEEN
    step_since: str | None
    done: bool
    # Archived, disconnected or stopped without a cutover: out of the pipeline's hands.
    left_alone: bool
    wait: Wait | None
    stuck: bool
    last_error: LastError | None
    gate: dict[str, Any] | None = None
    test_launch: dict[str, Any] | None = None
    # Its share of the link budget: throttle, bytes left, when it is expected ready to test.
    link: dict[str, Any] | None = None
    # Its 90 free replication days: days replicating, days left, level (None: not replicating).
    replication_clock: dict[str, Any] | None = None

    @property
    def needs_person(self) -> bool:
        return self.wait is not None and self.wait.on_person

    def as_dict(self) -> dict[str, Any]:
        return {
            "serverId": self.server_id,
            "hostname": self.hostname,
            "wave": self.wave,
            "lifecycle": self.lifecycle,
            "replication": self.replication,
            "lagDuration": self.lag_duration,
            "lagSeconds": self.lag_seconds,
            "archived": self.archived,
            "step": self.step,
            "stepSince": self.step_since,
            "done": self.done,
            "leftAlone": self.left_alone,
            "waitingFor": self.wait.what if self.wait else None,
            "waitingSince": self.wait.since if self.wait else None,
            "needsPerson": self.needs_person,
            "stuck": self.stuck,
            "lastError": self.last_error.as_dict() if self.last_error else None,
            "gate": self.gate,
            "testLaunch": self.test_launch,
            "link": self.link,
            "replicationClock": self.replication_clock,
        }


@dataclass(frozen=True, slots=True)
class WaveProgress:
    wave: str
    total: int
    done: int
    by_step: dict[str, int]
    # server id -> what the person must do / what it is stuck on
    needs_person: dict[str, str] = field(default_factory=dict)
    stuck: dict[str, str] = field(default_factory=dict)
    # Disconnected, stopped or archived without a cutover: out of the pipeline's hands.
    left_alone: int = 0
    # With a link budget: when the wave is expected ready to test, against its window (per link).
    replication_etas: tuple[dict[str, Any], ...] = ()
    # Servers still replicating past the clock's warning and urgent days (60 / 80 of the 90 free).
    replication_clock: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """Nothing left for the pipeline or a person: every server done (or left alone)."""
        return self.total > 0 and self.done + self.left_alone == self.total

    @property
    def percent_done(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "total": self.total,
            "done": self.done,
            "percentDone": self.percent_done,
            "finished": self.finished,
            "byStep": dict(self.by_step),
            "needsPerson": dict(self.needs_person),
            "stuck": dict(self.stuck),
            "leftAlone": self.left_alone,
            "replicationEta": list(self.replication_etas),
            "replicationClock": self.replication_clock,
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    generated_at: str
    servers: tuple[ServerStatus, ...]
    waves: tuple[WaveProgress, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "generatedAt": self.generated_at,
            "servers": [s.as_dict() for s in self.servers],
            "waves": [w.as_dict() for w in self.waves],
        }
