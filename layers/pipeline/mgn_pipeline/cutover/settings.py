"""The cutover gate's settings (off unless the stack has its gate table).

Import inside handler bodies (pydantic: see ``mgn_pipeline.shared.settings``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from mgn_pipeline.cutover.config import ApprovalScope, CutoverConfig
from mgn_pipeline.cutover.evidence import ReadinessLimits
from mgn_pipeline.jobs.settings import InstanceCheckFields
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.settings import CommaList, OptionalStr


class CutoverFields(InstanceCheckFields):
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
    # Worse than at approval by more than these, right before cutover: a fresh approval is asked.
    readiness_lag_growth_seconds: int = Field(
        alias="READINESS_LAG_GROWTH_SECONDS", default=300, ge=0, le=86400
    )
    test_evidence_max_age_days: int = Field(alias="TEST_EVIDENCE_MAX_AGE_DAYS", default=7, ge=1, le=90)

    def cutover_config(
        self, allowed_subnet_ids: list[str], servers_table: str = "", launch_queue_table: str = ""
    ) -> CutoverConfig | None:
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
            ssm_registration_grace=timedelta(minutes=self.ssm_registration_grace_minutes),
            approval_scope=self.approval_scope,
            wave_approval_document=self.wave_approval_document_name,
            wave_gather_seconds=self.wave_approval_gather_minutes * 60,
            servers_table=servers_table,
            wave_tag_key=self.wave_tag_key,
            launch_queue_table=launch_queue_table,
            readiness_limits=ReadinessLimits(
                lag_growth_seconds=self.readiness_lag_growth_seconds,
                test_evidence_max_age_days=self.test_evidence_max_age_days,
            ),
        )
