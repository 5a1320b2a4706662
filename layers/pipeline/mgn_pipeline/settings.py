"""Settings each function reads from its environment, parsed at invocation into pydantic models.

Handlers import this module inside the handler body, not at module level: pydantic's import
costs about 150 ms, more than the cold-start budget of a function woken by a rare event
(``benchmarks/cold_start.py``), and it is paid once per container either way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mgn_pipeline.cutover.config import ApprovalScope, CutoverConfig
from mgn_pipeline.domain.launch_policy import LaunchPolicy, LaunchViolationMode
from mgn_pipeline.domain.replication_policy import ReplicationPolicy
from mgn_pipeline.errors import SettingsError
from mgn_pipeline.launches.config import DEFAULT_APP_PORTS_TAG, CleanupMode, TestLaunchConfig
from mgn_pipeline.launches.model import parse_ports


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _json_object(value: object) -> object:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _ports(value: object) -> object:
    return list(parse_ports(value)) if isinstance(value, str) else value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
Ports = Annotated[list[int], BeforeValidator(_ports)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_is_none)]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    servers_table: str = Field(alias="SERVERS_TABLE_NAME", min_length=3, max_length=255)


class PipelineSettings(_Settings):
    """What every function that advances servers needs: the closed-network policy and where to record."""

    audit_table: str = Field(alias="AUDIT_TABLE_NAME", min_length=3, max_length=255)
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    staging_subnet_id: str = Field(alias="STAGING_SUBNET_ID", pattern=r"^subnet-[0-9a-f]{8,17}$")
    replication_security_group_ids: CommaList = Field(alias="REPLICATION_SECURITY_GROUP_IDS", min_length=1)
    associate_default_security_group: bool = Field(alias="ASSOCIATE_DEFAULT_SECURITY_GROUP", default=False)
    ebs_kms_key_arn: OptionalStr = Field(alias="EBS_KMS_KEY_ARN", default=None)
    staging_tags: Annotated[dict[str, str], BeforeValidator(_json_object)] = Field(
        alias="STAGING_AREA_TAGS", default_factory=dict
    )
    scope_tag_key: OptionalStr = Field(alias="SCOPE_TAG_KEY", default=None)
    scope_tag_value: OptionalStr = Field(alias="SCOPE_TAG_VALUE", default=None)
    allowed_launch_subnet_ids: CommaList = Field(alias="ALLOWED_LAUNCH_SUBNET_IDS", default_factory=list)
    # A periodic reconcile re-reads a quiet server's settings only this often; changes made through
    # the API are caught at once by their CloudTrail event. 0 re-reads at every reconcile.
    settings_recheck_minutes: int = Field(alias="SETTINGS_RECHECK_MINUTES", default=30, ge=0, le=1440)
    launch_violation_mode: LaunchViolationMode = Field(
        alias="LAUNCH_VIOLATION_MODE", default=LaunchViolationMode.REPAIR
    )

    # Test launches (off unless the stack has a launch queue table).
    launch_queue_table: OptionalStr = Field(alias="LAUNCH_QUEUE_TABLE_NAME", default=None)
    health_reports_table: OptionalStr = Field(alias="HEALTH_REPORTS_TABLE_NAME", default=None)
    # Longer than the health check's schedule: a missed run must not block launches at once.
    health_report_max_age_minutes: int = Field(
        alias="HEALTH_REPORT_MAX_AGE_MINUTES", default=60, ge=1, le=1440
    )
    test_launch_max_attempts: int = Field(alias="TEST_LAUNCH_MAX_ATTEMPTS", default=3, ge=1, le=10)
    test_instance_cleanup: CleanupMode = Field(alias="TEST_INSTANCE_CLEANUP", default=CleanupMode.TERMINATE)
    test_instance_security_group_ids: CommaList = Field(
        alias="TEST_INSTANCE_SECURITY_GROUP_IDS", default_factory=list
    )
    test_app_ports_tag: str = Field(alias="TEST_APP_PORTS_TAG", default=DEFAULT_APP_PORTS_TAG, min_length=1)
    test_app_ports: Ports = Field(alias="TEST_APP_PORTS", default_factory=list)
    test_port_probe_timeout_seconds: float = Field(
        alias="TEST_PORT_PROBE_TIMEOUT_SECONDS", default=2.0, gt=0, le=10
    )
    test_verify_timeout_minutes: int = Field(alias="TEST_VERIFY_TIMEOUT_MINUTES", default=60, ge=5, le=1440)
    mgn_job_lookback_hours: int = Field(alias="MGN_JOB_LOOKBACK_HOURS", default=48, ge=1, le=720)

    # The cutover gate (off unless the stack has its table).
    cutover_gate_table: OptionalStr = Field(alias="CUTOVER_GATE_TABLE_NAME", default=None)
    cutover_state_machine_arn: OptionalStr = Field(alias="CUTOVER_STATE_MACHINE_ARN", default=None)
    approval_document_name: str = Field(alias="APPROVAL_DOCUMENT_NAME", default="", max_length=128)
    approval_topic_arn: str = Field(alias="APPROVAL_TOPIC_ARN", default="")
    approver_principal_arns: CommaList = Field(alias="APPROVER_PRINCIPAL_ARNS", default_factory=list)
    max_replication_lag_seconds: int = Field(alias="MAX_REPLICATION_LAG_SECONDS", default=900, ge=1, le=86400)
    # Empty: never archive. A number: MarkAsArchived that many seconds after finalize.
    archive_after_seconds: OptionalStr = Field(alias="CUTOVER_ARCHIVE_AFTER_SECONDS", default=None)
    cutover_instance_security_group_ids: CommaList = Field(
        alias="CUTOVER_INSTANCE_SECURITY_GROUP_IDS", default_factory=list
    )
    aws_account_id: OptionalStr = Field(alias="AWS_ACCOUNT_ID", default=None)
    # Waves: the tag that names a server's wave (else MGN's own wave), and who approves what.
    wave_tag_key: str = Field(alias="WAVE_TAG_KEY", default="wave", min_length=1, max_length=128)
    approval_scope: ApprovalScope = Field(alias="APPROVAL_SCOPE", default=ApprovalScope.SERVER)
    wave_approval_document_name: str = Field(alias="WAVE_APPROVAL_DOCUMENT_NAME", default="", max_length=128)
    wave_approval_gather_minutes: int = Field(alias="WAVE_APPROVAL_GATHER_MINUTES", default=120, ge=0, le=720)

    def cutover_config(self, allowed_subnet_ids: list[str]) -> CutoverConfig | None:
        if not self.cutover_gate_table:
            return None
        if self.approval_scope is ApprovalScope.WAVE and not self.wave_approval_document_name:
            raise SettingsError(
                "APPROVAL_SCOPE=WAVE needs WAVE_APPROVAL_DOCUMENT_NAME (the stack's ApproveWaveCutoverDocument)"
            )
        archive = self.archive_after_seconds
        return CutoverConfig(
            gate_table=self.cutover_gate_table,
            health_table=self.health_reports_table or "",
            state_machine_arn=self.cutover_state_machine_arn,
            approval_document=self.approval_document_name,
            approval_topic_arn=self.approval_topic_arn,
            approvers=tuple(self.approver_principal_arns),
            account_id=self.aws_account_id,
            max_lag_seconds=self.max_replication_lag_seconds,
            health_max_age_minutes=self.health_report_max_age_minutes,
            archive_after_seconds=int(archive) if archive and archive.isdigit() else None,
            allowed_subnet_ids=frozenset(allowed_subnet_ids),
            expected_security_group_ids=frozenset(self.cutover_instance_security_group_ids),
            app_ports_tag=self.test_app_ports_tag,
            default_app_ports=tuple(self.test_app_ports),
            probe_timeout_seconds=self.test_port_probe_timeout_seconds,
            approval_scope=self.approval_scope,
            wave_approval_document=self.wave_approval_document_name,
            wave_gather_seconds=self.wave_approval_gather_minutes * 60,
            servers_table=self.servers_table,
        )

    def config(self) -> CutoverConfig | None:
        return self.cutover_config(self.allowed_launch_subnet_ids)

    def test_launch_config(self, allowed_subnet_ids: list[str]) -> TestLaunchConfig | None:
        if not self.launch_queue_table:
            return None
        return TestLaunchConfig(
            queue_table=self.launch_queue_table,
            health_table=self.health_reports_table or "",
            allowed_subnet_ids=frozenset(allowed_subnet_ids),
            max_attempts=self.test_launch_max_attempts,
            cleanup=self.test_instance_cleanup,
            expected_security_group_ids=frozenset(self.test_instance_security_group_ids),
            app_ports_tag=self.test_app_ports_tag,
            default_app_ports=tuple(self.test_app_ports),
            probe_timeout_seconds=self.test_port_probe_timeout_seconds,
            health_max_age=timedelta(minutes=self.health_report_max_age_minutes),
            verify_timeout=timedelta(minutes=self.test_verify_timeout_minutes),
            job_lookback=timedelta(hours=self.mgn_job_lookback_hours),
        )

    def replication_policy(self) -> ReplicationPolicy:
        return ReplicationPolicy(
            staging_subnet_id=self.staging_subnet_id,
            security_group_ids=frozenset(self.replication_security_group_ids),
            associate_default_security_group=self.associate_default_security_group,
            ebs_kms_key_arn=self.ebs_kms_key_arn,
            staging_tags=dict(self.staging_tags),
        )

    def launch_policy(self) -> LaunchPolicy:
        return LaunchPolicy(frozenset(self.allowed_launch_subnet_ids), self.launch_violation_mode)


class ReconcilerSettings(PipelineSettings):
    page_size: int = Field(alias="RECONCILER_PAGE_SIZE", default=200, ge=1, le=200)


class MgnEventSettings(PipelineSettings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3, max_length=255)
    # Long enough to absorb EventBridge retries (24 h) and the reconciler's catch-up.
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=172_800, ge=300)


def load_settings[SettingsT: _Settings](
    model: type[SettingsT], environ: Mapping[str, str] | None = None
) -> SettingsT:
    """Parse ``environ`` (default: the process environment) into ``model``.

    A missing or malformed variable raises :class:`SettingsError` naming each variable, so the
    log says exactly what to fix in the stack.
    """
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__} cannot be read from the environment: {problems}") from exc
