"""The cutover gate's configuration as plain values (parsed from settings at invocation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from mgn_pipeline.cutover.evidence import ReadinessLimits
from mgn_pipeline.jobs.verification import DEFAULT_APP_PORTS_TAG, DEFAULT_SSM_REGISTRATION_GRACE

# The job tag naming the gate attempt (server#attempt) a rollback's terminate job belongs to.
GATE_TAG = "mgn-pipeline:cutover-gate"
# The job tag naming the launch-batcher run (its claim) that started a cutover job: a run that
# crashed after StartCutover is found by it and adopted.
CUTOVER_BATCH_TAG = "mgn-pipeline:cutover-batch"
# MGN refusing to start an approved cutover this many times (after back-offs) fails the gate.
MAX_CUTOVER_REFUSALS = 3


class ApprovalScope(StrEnum):
    SERVER = "SERVER"  # one approval per server
    WAVE = "WAVE"  # one approval covers the servers of a wave that reached the gate (cutover.waves)


@dataclass(frozen=True, slots=True)
class CutoverConfig:
    gate_table: str
    health_table: str
    state_machine_arn: str | None
    approval_document: str
    approval_topic_arn: str
    approvers: tuple[str, ...]
    account_id: str | None = None
    max_lag_seconds: int = 900
    health_max_age_minutes: int = 60
    # Seconds after finalize before MarkAsArchived; None: never archive.
    archive_after_seconds: int | None = None
    allowed_subnet_ids: frozenset[str] = frozenset()
    expected_security_group_ids: frozenset[str] = frozenset()
    app_ports_tag: str = DEFAULT_APP_PORTS_TAG
    default_app_ports: tuple[int, ...] = ()
    probe_timeout_seconds: float = 2.0
    # The gate has no launch time of its own to measure it from: its verify retries set the limit.
    ssm_registration_grace: timedelta = DEFAULT_SSM_REGISTRATION_GRACE
    approval_scope: ApprovalScope = ApprovalScope.SERVER
    wave_approval_document: str = ""
    # How long the first server of a wave at the gate waits for the rest before its wave is asked.
    wave_gather_seconds: int = 7200
    servers_table: str = ""
    wave_tag_key: str = "wave"
    # Where the test verification is recorded (the approval's test evidence); empty: not read.
    launch_queue_table: str = ""
    readiness_limits: ReadinessLimits = field(default_factory=ReadinessLimits)
