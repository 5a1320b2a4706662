"""Builds the status report: ``StatusSources`` reads (MGN and the stack's tables, never a write),
``server_status`` and ``wave_progress`` decide (pure), ``collect_status`` puts them together.

Reads for N servers: DescribeSourceServers once (paginated), BatchGetItem on the servers, gate
and launch-queue tables (100 servers a call), and one small Query of the audit table per server
(newest first), a few at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mgn_pipeline.cutover.evidence import ReadinessSnapshot
from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.store import GateRecord, record_from_item
from mgn_pipeline.launches.model import QueueItem
from mgn_pipeline.launches.queue import item_from_dynamodb
from mgn_pipeline.replication.link_store import LinkState, LinkStore
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.dynamodb import batch_get
from mgn_pipeline.shared.replication_clock import DEFAULT_THRESHOLDS, ClockLevel, ClockThresholds, read_clock
from mgn_pipeline.shared.server import SourceServer, duration_seconds
from mgn_pipeline.shared.steps import PipelineStep, next_step
from mgn_pipeline.shared.wave import DEFAULT_WAVE_TAG_KEY, UNASSIGNED, wave_of
from mgn_pipeline_ops.status.fixes import last_error, replication_error
from mgn_pipeline_ops.status.model import NOT_SEEN, LastError, ServerStatus, StatusReport, Wait, WaveProgress
from mgn_pipeline_ops.status.waits import waiting_for

# The gate's fields people may see: never the task token (it completes the waiting state).
_GATE_FIELDS = (
    "serverId",
    "attempt",
    "status",
    "testJobId",
    "executionArn",
    "automationExecutionId",
    "cutoverJobId",
    "instanceId",
    "decision",
    "reason",
    "updatedAt",
    "wave",
    "waveRequestId",
    "approvalReadiness",
    "cutoverReadiness",
)
DEFAULT_STUCK_AFTER = timedelta(hours=4)
DEFAULT_AUDIT_LIMIT = 10


@dataclass(frozen=True, slots=True)
class StatusTables:
    """The stack's table names (outputs ServersTableName, AuditTableName, ...); a missing one is skipped."""

    servers: str
    audit: str | None = None
    gate: str | None = None
    launch_queue: str | None = None


class StatusSources:
    """Takes injected ``boto3.client("mgn")`` and ``boto3.client("dynamodb")``. Only reads."""

    def __init__(
        self,
        mgn: Any,
        dynamodb: Any,
        tables: StatusTables,
        *,
        audit_limit: int = DEFAULT_AUDIT_LIMIT,
        workers: int = 8,
    ) -> None:
        self._mgn = mgn
        self._dynamodb = dynamodb
        self._tables = tables
        self._audit_limit = audit_limit
        self._workers = workers

    def servers(self, server_id: str | None = None) -> list[SourceServer]:
        """Every source server (archived ones too: a finalized server counts as done), one pass."""
        filters: dict[str, Any] = {"sourceServerIDs": [server_id]} if server_id else {}
        pages = self._mgn.get_paginator("describe_source_servers").paginate(filters=filters)
        return [SourceServer.from_api(item) for page in pages for item in page.get("items", [])]

    def registry(self, server_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The servers table's items (step, stepSince, wave, hostname, ...) as plain strings."""
        items = self._batch_get(self._tables.servers, server_ids)
        return {sid: {k: str(next(iter(v.values()))) for k, v in item.items()} for sid, item in items.items()}

    def gates(self, server_ids: Sequence[str]) -> dict[str, GateRecord]:
        if not self._tables.gate:
            return {}
        items = self._batch_get(self._tables.gate, server_ids, _GATE_FIELDS)
        return {sid: record_from_item(item) for sid, item in items.items()}

    def launch_queue(self, server_ids: Sequence[str]) -> dict[str, QueueItem]:
        if not self._tables.launch_queue:
            return {}
        items = self._batch_get(self._tables.launch_queue, server_ids)
        return {sid: item_from_dynamodb(item) for sid, item in items.items()}

    def recent_audit(self, server_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each server's newest audit records, newest first: one Query per server, a few in parallel."""
        if not self._tables.audit or not server_ids:
            return {}
        trail = AuditTrail(self._dynamodb, self._tables.audit)
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            found = pool.map(lambda sid: trail.recent(sid, self._audit_limit), server_ids)
            return dict(zip(server_ids, found, strict=True))

    def links(self) -> list[LinkState]:
        """Each link budget's record (throttles, ETAs); none when the stack keeps no budget."""
        return LinkStore(self._dynamodb, self._tables.servers).load_all()

    def _batch_get(
        self, table: str, server_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> dict[str, dict[str, Any]]:
        return {item["serverId"]["S"]: item for item in batch_get(self._dynamodb, table, server_ids, fields)}


def collect_status(
    sources: StatusSources,
    now: datetime,
    *,
    wave: str | None = None,
    server_id: str | None = None,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    clock: ClockThresholds = DEFAULT_THRESHOLDS,
) -> StatusReport:
    """Every server (or one wave, or one server) and each wave's progress; ``clock``: the
    replication clock's thresholds (the stack's ReplicationClockWarnDays / UrgentDays)."""
    servers = sources.servers(server_id)
    registry = sources.registry([s.server_id for s in servers])
    waves = {s.server_id: server_wave(s, registry.get(s.server_id, {})) for s in servers}
    chosen = [s for s in servers if wave is None or waves[s.server_id] == wave]
    ids = [s.server_id for s in chosen]
    gates = sources.gates(ids)
    queue = sources.launch_queue(ids)
    audit = sources.recent_audit(ids)
    links = sources.links()
    statuses = [
        server_status(
            server,
            registry.get(server.server_id),
            waves[server.server_id],
            queue.get(server.server_id),
            gates.get(server.server_id),
            audit.get(server.server_id, []),
            now,
            stuck_after,
            links=links,
            clock=clock,
        )
        for server in chosen
    ]
    statuses.sort(key=lambda s: (s.wave, s.hostname or s.server_id, s.server_id))
    return StatusReport(now.isoformat(), tuple(statuses), tuple(wave_progress(statuses, links, clock)))


def server_wave(server: SourceServer, registry_item: Mapping[str, str]) -> str:
    """The servers table's wave (what the pipeline recorded), else the server's wave tag."""
    recorded = registry_item.get("wave")
    if recorded and recorded != UNASSIGNED:
        return recorded
    return wave_of(server, DEFAULT_WAVE_TAG_KEY)


def server_status(
    server: SourceServer,
    registry_item: Mapping[str, str] | None,
    wave: str,
    queue: QueueItem | None,
    gate: GateRecord | None,
    audit_newest_first: Iterable[Mapping[str, Any]],
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    *,
    links: Sequence[LinkState] = (),
    clock: ClockThresholds = DEFAULT_THRESHOLDS,
) -> ServerStatus:
    """One server's line of the report. Pure."""
    item = registry_item or {}
    step = _step(item.get("step"))
    step_since = item.get("stepSince")
    done = (
        server.cutover_finalized
        or step is PipelineStep.DONE
        or (gate is not None and gate.status is GateStatus.DONE)
    )
    # Archived, disconnected or stopped: the pipeline leaves it alone, whatever it recorded last.
    left_alone = not done and next_step(server) is PipelineStep.NONE
    wait = None if done or left_alone else waiting_for(server, step, step_since, queue, gate)
    error: LastError | None = (
        replication_error(server.replication_error)
        if server.replication_error
        else last_error(audit_newest_first)
    )
    return ServerStatus(
        server_id=server.server_id,
        hostname=server.hostname or item.get("hostname", ""),
        wave=wave,
        lifecycle=server.lifecycle.value,
        replication=server.replication.value,
        lag_duration=server.lag_duration,
        lag_seconds=duration_seconds(server.lag_duration),
        archived=server.is_archived,
        step=step.value if step else NOT_SEEN,
        step_since=step_since,
        done=done,
        left_alone=left_alone,
        wait=wait,
        stuck=_stuck(wait, now, stuck_after),
        last_error=error,
        gate=_gate_view(gate),
        test_launch=_queue_view(queue),
        link=_link_view(server, links),
        replication_clock=_clock_view(server, now, clock),
    )


def wave_progress(
    statuses: Iterable[ServerStatus],
    links: Sequence[LinkState] = (),
    clock: ClockThresholds = DEFAULT_THRESHOLDS,
) -> list[WaveProgress]:
    """Per wave: how many servers at each step, how many done, who needs a person, who is stuck,
    with a link budget when its replication is expected ready, and how many servers replicate
    past the clock's thresholds. Pure."""
    by_wave: dict[str, list[ServerStatus]] = defaultdict(list)
    for status in statuses:
        by_wave[status.wave].append(status)
    progress = []
    for wave in sorted(by_wave):
        members = by_wave[wave]
        progress.append(
            WaveProgress(
                wave=wave,
                total=len(members),
                done=sum(s.done for s in members),
                by_step=dict(sorted(Counter(s.step for s in members).items())),
                needs_person={s.server_id: _what(s.wait) for s in members if s.needs_person},
                stuck={s.server_id: f"{_what(s.wait)} (since {_since(s.wait)})" for s in members if s.stuck},
                left_alone=sum(s.left_alone for s in members),
                replication_etas=_wave_eta_views(links, wave),
                replication_clock=_wave_clock_view(members, clock),
            )
        )
    return progress


def _step(value: str | None) -> PipelineStep | None:
    try:
        return PipelineStep(value) if value else None
    except ValueError:
        return None


def _stuck(wait: Wait | None, now: datetime, stuck_after: timedelta) -> bool:
    """Waiting on the pipeline or MGN (not on a person) for longer than ``stuck_after``."""
    if wait is None or wait.on_person or not wait.since:
        return False
    try:
        return now - datetime.fromisoformat(wait.since) > stuck_after
    except (TypeError, ValueError):
        return False


def _what(wait: Wait | None) -> str:
    return wait.what if wait else ""


def _since(wait: Wait | None) -> str:
    return (wait.since if wait else None) or "unknown"


def _gate_view(gate: GateRecord | None) -> dict[str, Any] | None:
    if gate is None:
        return None
    return {
        "status": gate.status.value,
        "attempt": gate.attempt,
        "testJobId": gate.test_job_id,
        "automationExecutionId": gate.automation_execution_id,
        "cutoverJobId": gate.cutover_job_id,
        "instanceId": gate.instance_id,
        "decision": dict(gate.decision) if gate.decision else None,
        "reason": gate.reason,
        "updatedAt": gate.updated_at or None,
        "wave": gate.wave,
        "waveRequestId": gate.wave_request_id,
        # What the approval was asked on and, if it was found worse, what the cutover found instead.
        "approvalReadiness": _readiness_view(gate.approval_readiness),
        "cutoverReadiness": _readiness_view(gate.cutover_readiness),
    }


def _readiness_view(snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not snapshot:
        return None
    try:
        summary = ReadinessSnapshot.from_dict(snapshot).summary()
    except (KeyError, TypeError, ValueError):
        summary = "unreadable snapshot"
    return {**snapshot, "summary": summary}


def _queue_view(item: QueueItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "status": item.status.value,
        "attempt": item.attempt,
        "jobId": item.job_id,
        "lastJobId": item.last_job_id,
        "instanceId": item.instance_id,
        "reasons": list(item.reasons),
        "updatedAt": item.updated_at or None,
    }


def _link_view(server: SourceServer, links: Sequence[LinkState]) -> dict[str, Any] | None:
    link = next((state for state in links if server.server_id in state.throttles), None)
    if link is None:
        return None
    return {
        "link": link.link,
        "throttleMbps": link.throttles[server.server_id],
        "bytesLeft": server.bytes_left,
        "readyEta": link.server_eta.get(server.server_id),
        "etaAt": link.eta_at,
    }


def _wave_eta_views(links: Sequence[LinkState], wave: str) -> tuple[dict[str, Any], ...]:
    """The wave's ETA over each link it replicates over (one, unless it spans data centres)."""
    return tuple(
        {
            "link": link.link,
            "eta": projected.eta,
            "window": projected.window,
            "late": projected.late,
            "needMbps": projected.need_mbps,
            "bytesLeft": projected.bytes_left,
            "budgetMbps": link.budget_mbps,
            "etaAt": link.eta_at,
        }
        for link in links
        if (projected := link.waves.get(wave)) is not None
    )


def _clock_view(server: SourceServer, now: datetime, clock: ClockThresholds) -> dict[str, Any] | None:
    reading = read_clock(server, now, clock)
    if reading is None:
        return None
    return {
        "daysReplicating": round(reading.days_replicating, 1),
        "daysLeft": round(reading.days_left, 1),
        "freePeriodEnds": reading.free_period_ends.isoformat(),
        "level": reading.level.value,
        "thresholdDays": reading.threshold_days,
    }


def _wave_clock_view(members: Sequence[ServerStatus], clock: ClockThresholds) -> dict[str, Any]:
    levels = [s.replication_clock["level"] for s in members if s.replication_clock]
    return {
        "warnDays": clock.warn_days,
        "urgentDays": clock.urgent_days,
        "pastWarning": sum(level != ClockLevel.OK for level in levels),
        "pastUrgent": sum(level == ClockLevel.URGENT for level in levels),
    }
