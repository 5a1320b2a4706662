"""What the pipeline knows of one MGN source server, read from ``describe_source_servers``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from mgn_pipeline.shared.errors import InvalidEventError


class LifeCycleState(StrEnum):
    STOPPED = "STOPPED"
    NOT_READY = "NOT_READY"
    READY_FOR_TEST = "READY_FOR_TEST"
    TESTING = "TESTING"
    READY_FOR_CUTOVER = "READY_FOR_CUTOVER"
    CUTTING_OVER = "CUTTING_OVER"
    CUTOVER = "CUTOVER"
    DISCONNECTED = "DISCONNECTED"
    DISCOVERED = "DISCOVERED"
    PENDING_INSTALLATION = "PENDING_INSTALLATION"


class ReplicationState(StrEnum):
    STOPPED = "STOPPED"
    INITIATING = "INITIATING"
    INITIAL_SYNC = "INITIAL_SYNC"
    BACKLOG = "BACKLOG"
    CREATING_SNAPSHOT = "CREATING_SNAPSHOT"
    CONTINUOUS = "CONTINUOUS"
    PAUSED = "PAUSED"
    RESCAN = "RESCAN"
    STALLED = "STALLED"
    DISCONNECTED = "DISCONNECTED"
    PENDING_SNAPSHOT_SHIPPING = "PENDING_SNAPSHOT_SHIPPING"
    SHIPPING_SNAPSHOT = "SHIPPING_SNAPSHOT"
    # A server that never replicated has no dataReplicationInfo at all.
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class SourceServer:
    server_id: str
    arn: str
    lifecycle: LifeCycleState
    replication: ReplicationState
    is_archived: bool
    hostname: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    replication_error: str | None = None
    lag_duration: str | None = None
    # dataReplicationInfo.lastSnapshotDateTime: the newest consistent snapshot a launch would use.
    last_snapshot_at: str | None = None
    launched_instance_id: str | None = None
    last_test_job_id: str | None = None
    last_cutover_job_id: str | None = None
    cutover_finalized: bool = False
    # MGN's application the server was added to (its wave is the application's), if any.
    application_id: str | None = None
    # Its disks as dataReplicationInfo.replicatedDisks counts them: what there is, what has been
    # copied, and the writes waiting to be sent (backlog).
    total_bytes: int = 0
    replicated_bytes: int = 0
    backlogged_bytes: int = 0
    # Its source addresses (sourceProperties.networkInterfaces): which data centre's link it uses.
    ip_addresses: tuple[str, ...] = ()
    # lifeCycle.firstByteDateTime and elapsedReplicationDuration: how long MGN has replicated it
    # (its 90 free days count from the first byte).
    first_byte_at: datetime | None = None
    elapsed_replication_seconds: float | None = None

    @property
    def bytes_left(self) -> int:
        """What replication still has to send beyond the writes of the moment."""
        return max(0, self.total_bytes - self.replicated_bytes) + self.backlogged_bytes

    def replicated_for(self, now: datetime) -> timedelta | None:
        """How long the server has replicated: MGN's own elapsedReplicationDuration, else the time
        since its first byte; None when it never sent one."""
        if self.elapsed_replication_seconds is not None:
            return timedelta(seconds=self.elapsed_replication_seconds)
        if self.first_byte_at is not None:
            return max(timedelta(0), now - self.first_byte_at)
        return None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> SourceServer:
        """Build from one ``items[]`` entry of ``describe_source_servers``.

        MGN may add fields at any time: unknown ones are ignored; a missing id or an unknown
        lifecycle state is refused, because acting on a half-understood server is worse than not acting.
        """
        try:
            server_id = str(item["sourceServerID"])
            lifecycle = LifeCycleState(item.get("lifeCycle", {}).get("state", "NOT_READY"))
        except (KeyError, ValueError) as exc:
            raise InvalidEventError(f"MGN returned a source server we cannot read: {exc!r}") from exc
        replication_info = item.get("dataReplicationInfo") or {}
        try:
            replication = ReplicationState(replication_info.get("dataReplicationState", "UNKNOWN"))
        except ValueError:
            replication = ReplicationState.UNKNOWN
        error = (replication_info.get("dataReplicationError") or {}).get("error")
        life_cycle = item.get("lifeCycle") or {}
        last_test = (life_cycle.get("lastTest") or {}).get("initiated") or {}
        last_cutover = life_cycle.get("lastCutover") or {}
        disks = [d for d in replication_info.get("replicatedDisks") or [] if isinstance(d, Mapping)]
        source_properties = item.get("sourceProperties") or {}
        identification = source_properties.get("identificationHints") or {}
        return cls(
            server_id=server_id,
            arn=str(item.get("arn", "")),
            lifecycle=lifecycle,
            replication=replication,
            is_archived=bool(item.get("isArchived", False)),
            hostname=str(identification.get("hostname") or identification.get("fqdn") or ""),
            tags=dict(item.get("tags") or {}),
            replication_error=error,
            lag_duration=replication_info.get("lagDuration"),
            last_snapshot_at=replication_info.get("lastSnapshotDateTime") or None,
            launched_instance_id=(item.get("launchedInstance") or {}).get("ec2InstanceID"),
            last_test_job_id=last_test.get("jobID"),
            last_cutover_job_id=(last_cutover.get("initiated") or {}).get("jobID"),
            cutover_finalized=bool((last_cutover.get("finalized") or {}).get("apiCallDateTime")),
            application_id=item.get("applicationID") or None,
            total_bytes=_disk_sum(disks, "totalStorageBytes"),
            replicated_bytes=_disk_sum(disks, "replicatedStorageBytes"),
            backlogged_bytes=_disk_sum(disks, "backloggedStorageBytes"),
            ip_addresses=tuple(
                str(ip)
                for nic in source_properties.get("networkInterfaces") or []
                if isinstance(nic, Mapping)
                for ip in nic.get("ips") or []
            ),
            first_byte_at=_timestamp(life_cycle.get("firstByteDateTime")),
            elapsed_replication_seconds=duration_seconds(life_cycle.get("elapsedReplicationDuration")),
        )


def _disk_sum(disks: list[Mapping[str, Any]], name: str) -> int:
    return sum(int(d.get(name) or 0) for d in disks if isinstance(d.get(name) or 0, int))


def _timestamp(text: object) -> datetime | None:
    """MGN's ISO 8601 date-times (``2026-01-05T08:11:00+00:00``, ``...Z``); None when absent or
    unreadable (a time without its zone is read as UTC, as MGN means it)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def duration_seconds(text: str | None) -> float | None:
    """MGN's ISO-8601 durations (``lagDuration``, ``elapsedReplicationDuration``: ``PT5M3S``,
    ``P1DT2H``) in seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0.0)
