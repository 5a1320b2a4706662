"""The test-launch capability's settings (off unless the stack has a launch queue table).

Import inside handler bodies (pydantic: see ``mgn_pipeline.shared.settings``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from mgn_pipeline.jobs.settings import InstanceCheckFields
from mgn_pipeline.launches.config import CleanupMode, TestLaunchConfig
from mgn_pipeline.shared.settings import CommaList, OptionalStr


class TestLaunchFields(InstanceCheckFields):
    __test__ = False  # not a pytest class

    launch_queue_table: OptionalStr = Field(alias="LAUNCH_QUEUE_TABLE_NAME", default=None)
    test_launch_max_attempts: int = Field(alias="TEST_LAUNCH_MAX_ATTEMPTS", default=3, ge=1, le=10)
    test_instance_cleanup: CleanupMode = Field(alias="TEST_INSTANCE_CLEANUP", default=CleanupMode.TERMINATE)
    test_instance_security_group_ids: CommaList = Field(
        alias="TEST_INSTANCE_SECURITY_GROUP_IDS", default_factory=list
    )
    test_verify_timeout_minutes: int = Field(alias="TEST_VERIFY_TIMEOUT_MINUTES", default=60, ge=5, le=1440)

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
            ssm_registration_grace=timedelta(minutes=self.ssm_registration_grace_minutes),
            job_lookback=timedelta(hours=self.mgn_job_lookback_hours),
        )
