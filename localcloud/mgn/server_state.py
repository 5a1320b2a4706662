"""The emulator's record of one source server, and how it is shown through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.mgn.util import iso, iso_duration

# Settings whose change makes MGN replace the replication server (and so reconnect the agent).
NETWORK_SETTINGS = (
    "stagingAreaSubnetId",
    "dataPlaneRouting",
    "createPublicIP",
    "replicationServersSecurityGroupsIDs",
    "associateDefaultSecurityGroup",
    "replicationServerInstanceType",
    "useDedicatedReplicationServer",
    "internetProtocol",
    "useFipsEndpoint",
)

INITIATION_STEPS = (
    "WAIT",
    "CREATE_SECURITY_GROUP",
    "LAUNCH_REPLICATION_SERVER",
    "BOOT_REPLICATION_SERVER",
    "AUTHENTICATE_WITH_SERVICE",
    "DOWNLOAD_REPLICATION_SOFTWARE",
    "CREATE_STAGING_DISKS",
    "ATTACH_STAGING_DISKS",
    "PAIR_REPLICATION_SERVER_WITH_AGENT",
    "CONNECT_AGENT_TO_REPLICATION_SERVER",
    "START_DATA_TRANSFER",
)


def uses_public_network(config: dict[str, Any]) -> bool:
    """True when replication would need the internet, which the closed network lacks."""
    return config.get("dataPlaneRouting") == "PUBLIC_IP" or bool(config.get("createPublicIP"))


@dataclass
class ServerRecord:
    """Everything the emulator knows about one source server (tests may read it via ``emu.server``)."""

    server_id: str
    arn: str
    hostname: str
    added_at: datetime
    replication: dict[str, Any]
    launch: dict[str, Any]
    disks: list[dict[str, Any]]
    tags: dict[str, str] = field(default_factory=dict)
    os_name: str = "Linux version 5.14 (Red Hat Enterprise Linux 9)"
    cpu_cores: int = 4
    ram_bytes: int = 8 * 1024**3
    ip_address: str = "10.20.0.10"
    replicator_id: str = ""
    user_provided_id: str | None = None
    application_id: str | None = None  # at most one application per server

    lifecycle: str = "NOT_READY"
    repl_state: str = "INITIATING"
    repl_error: dict[str, str] | None = None
    initiation_started_at: datetime | None = None
    initiation_failed_step: str | None = None
    is_archived: bool = False

    # Simulated replication progress.
    initiating_seconds: float = 120.0
    initial_sync_seconds: float = 1800.0
    lag_seconds: float = 2.0
    sync_progress_seconds: float = 0.0
    # With a modelled link (localcloud.mgn.link) the initial sync copies bytes instead.
    link: Any = None  # the ReplicationLink it copies over
    synced_bytes: float = 0.0
    sync_segment_start: datetime | None = None
    initial_sync_complete: bool = False
    first_byte_at: datetime | None = None
    interrupted_since: datetime | None = None
    stalled_since: datetime | None = None
    disconnected_at: datetime | None = None
    ready_for_test_announced: bool = False
    generation: int = 0  # bumped to cancel pending replication timers
    awaiting_replication_slot: bool = False  # the replicating-servers quota is full

    # Launches.
    launched_instance: dict[str, Any] | None = None
    last_test: dict[str, Any] = field(default_factory=dict)
    last_cutover: dict[str, Any] = field(default_factory=dict)
    active_job_id: str | None = None
    lifecycle_before_launch: str | None = None
    launch_failure: str | None = None  # set by emu.fail_next_launch

    @property
    def replicating(self) -> bool:
        return self.repl_state not in ("DISCONNECTED", "STOPPED")

    @property
    def total_bytes(self) -> int:
        return sum(int(d["bytes"]) for d in self.disks)

    def sync_fraction(self, now: datetime) -> float:
        if self.initial_sync_complete:
            return 1.0
        if self.link is not None:
            return self.link.copied_bytes(self, now) / self.total_bytes if self.total_bytes else 1.0
        done = self.sync_progress_seconds
        if self.repl_state == "INITIAL_SYNC" and self.sync_segment_start is not None:
            done += (now - self.sync_segment_start).total_seconds()
        return min(1.0, done / self.initial_sync_seconds) if self.initial_sync_seconds > 0 else 1.0

    # ---- API views -------------------------------------------------------------------------

    def replication_view(self) -> dict[str, Any]:
        """The ReplicationConfiguration shape."""
        return {"sourceServerID": self.server_id, **self.replication}

    def launch_view(self) -> dict[str, Any]:
        """The LaunchConfiguration shape."""
        return {"sourceServerID": self.server_id, **self.launch}

    def view(self, now: datetime) -> dict[str, Any]:
        """The SourceServer shape as DescribeSourceServers returns it at ``now``."""
        out: dict[str, Any] = {
            "sourceServerID": self.server_id,
            "arn": self.arn,
            "isArchived": self.is_archived,
            "tags": dict(self.tags),
            "dataReplicationInfo": self._replication_info(now),
            "lifeCycle": self._lifecycle_view(now),
            "sourceProperties": self._source_properties(),
            "replicationType": "AGENT_BASED",
        }
        if self.user_provided_id:
            out["userProvidedID"] = self.user_provided_id
        if self.application_id:
            out["applicationID"] = self.application_id
        if self.launched_instance:
            out["launchedInstance"] = dict(self.launched_instance)
        return out

    def _replication_info(self, now: datetime) -> dict[str, Any]:
        info: dict[str, Any] = {"dataReplicationState": self.repl_state}
        if self.replicator_id and self.replicating:
            info["replicatorId"] = self.replicator_id
        if self.repl_error:
            info["dataReplicationError"] = dict(self.repl_error)
        if self.repl_state == "INITIATING" or self.initiation_failed_step:
            info["dataReplicationInitiation"] = self._initiation_view(now)
        fraction = self.sync_fraction(now)
        info["replicatedDisks"] = [
            {
                "deviceName": d["deviceName"],
                # DisconnectFromService and FinalizeCutover set each disk's totalStorageBytes to
                # zero (their documentation in botocore's MGN model).
                "totalStorageBytes": d["bytes"] if self.replicating else 0,
                "replicatedStorageBytes": int(d["bytes"] * fraction),
                "rescannedStorageBytes": 0,
                "backloggedStorageBytes": 0,
            }
            for d in self.disks
        ]
        if self.repl_state == "INITIAL_SYNC" and self.link is not None:
            # MGN's own estimate: what is left at the rate the server gets now.
            rate = self.link.rate_bps(self)
            if rate > 0:
                info["etaDateTime"] = iso(now + _seconds((1.0 - fraction) * self.total_bytes / rate))
        elif self.repl_state == "INITIAL_SYNC" and self.initial_sync_seconds > 0:
            remaining = (1.0 - fraction) * self.initial_sync_seconds
            info["etaDateTime"] = iso(now + _seconds(remaining))
        # MGN reports a lag only once the server is launchable (initial sync done); it grows
        # while replication is interrupted.
        if self.initial_sync_complete and self.replicating:
            lag = self.lag_seconds
            if self.interrupted_since is not None:
                lag += (now - self.interrupted_since).total_seconds()
            info["lagDuration"] = iso_duration(lag)
        if self.initial_sync_complete and self.replicating and self.repl_state == "CONTINUOUS":
            info["lastSnapshotDateTime"] = iso(now.replace(minute=0, second=0, microsecond=0))
        return info

    def _initiation_view(self, now: datetime) -> dict[str, Any]:
        steps = []
        failed = self.initiation_failed_step
        for name in INITIATION_STEPS:
            if failed:
                status = (
                    "FAILED"
                    if name == failed
                    else (
                        "SUCCEEDED"
                        if INITIATION_STEPS.index(name) < INITIATION_STEPS.index(failed)
                        else "NOT_STARTED"
                    )
                )
            else:
                status = "IN_PROGRESS" if name == "WAIT" else "NOT_STARTED"
            steps.append({"name": name, "status": status})
        view: dict[str, Any] = {"steps": steps}
        if self.initiation_started_at:
            view["startDateTime"] = iso(self.initiation_started_at)
        if failed:
            view["nextAttemptDateTime"] = iso(now + _seconds(300))
        return view

    def _lifecycle_view(self, now: datetime) -> dict[str, Any]:
        view: dict[str, Any] = {"state": self.lifecycle, "addedToServiceDateTime": iso(self.added_at)}
        seen = self.disconnected_at or now
        view["lastSeenByServiceDateTime"] = iso(seen)
        if self.first_byte_at:
            view["firstByteDateTime"] = iso(self.first_byte_at)
            view["elapsedReplicationDuration"] = iso_duration((seen - self.first_byte_at).total_seconds())
        if self.last_test:
            view["lastTest"] = _copy2(self.last_test)
        if self.last_cutover:
            view["lastCutover"] = _copy2(self.last_cutover)
        return view

    def _source_properties(self) -> dict[str, Any]:
        return {
            "lastUpdatedDateTime": iso(self.added_at),
            "recommendedInstanceType": "t3.medium",
            "identificationHints": {"hostname": self.hostname, "fqdn": f"{self.hostname}.corp.example"},
            "networkInterfaces": [
                {"macAddress": "02:00:00:00:00:01", "ips": [self.ip_address], "isPrimary": True}
            ],
            "disks": [dict(d) for d in self.disks],
            "cpus": [{"cores": self.cpu_cores, "modelName": "Intel(R) Xeon(R) Gold 6230"}],
            "ramBytes": self.ram_bytes,
            "os": {"fullString": self.os_name},
        }


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _copy2(value: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
