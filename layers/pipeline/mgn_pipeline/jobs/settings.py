"""Settings the test launch and the cutover share: how launched instances are checked.

Import inside handler bodies (pydantic: see ``mgn_pipeline.shared.settings``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from mgn_pipeline.jobs.verification import DEFAULT_APP_PORTS_TAG, parse_ports
from mgn_pipeline.shared.settings import OptionalStr, Settings


def _ports(value: object) -> object:
    return list(parse_ports(value)) if isinstance(value, str) else value


Ports = Annotated[list[int], BeforeValidator(_ports)]


class InstanceCheckFields(Settings):
    """The network-health evidence a launch needs, and the ports a launched instance must answer on."""

    health_reports_table: OptionalStr = Field(alias="HEALTH_REPORTS_TABLE_NAME", default=None)
    # Longer than the health check's schedule: a missed run must not block launches at once.
    health_report_max_age_minutes: int = Field(
        alias="HEALTH_REPORT_MAX_AGE_MINUTES", default=60, ge=1, le=1440
    )
    test_app_ports_tag: str = Field(alias="TEST_APP_PORTS_TAG", default=DEFAULT_APP_PORTS_TAG, min_length=1)
    test_app_ports: Ports = Field(alias="TEST_APP_PORTS", default_factory=list)
    test_port_probe_timeout_seconds: float = Field(
        alias="TEST_PORT_PROBE_TIMEOUT_SECONDS", default=2.0, gt=0, le=10
    )
    # Post-launch actions: how long the SSM agent on a launched instance may take to register with
    # Systems Manager before verification fails (MGN installs the agent after boot: minutes).
    ssm_registration_grace_minutes: int = Field(
        alias="SSM_REGISTRATION_GRACE_MINUTES", default=15, ge=1, le=720
    )
    mgn_job_lookback_hours: int = Field(alias="MGN_JOB_LOOKBACK_HOURS", default=48, ge=1, le=720)
