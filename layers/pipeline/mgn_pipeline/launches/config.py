"""The test-launch configuration, as plain values (parsed from settings at invocation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from mgn_pipeline.jobs.verification import DEFAULT_APP_PORTS_TAG, DEFAULT_SSM_REGISTRATION_GRACE


class CleanupMode(StrEnum):
    # Terminate the test instance once it is verified (or failed): it costs money and is stale.
    TERMINATE = "terminate"
    # Keep it for people to look at; MGN replaces it at the next test launch.
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class TestLaunchConfig:
    __test__ = False  # not a pytest class

    queue_table: str
    health_table: str
    allowed_subnet_ids: frozenset[str]
    max_attempts: int = 3
    cleanup: CleanupMode = CleanupMode.TERMINATE
    # Empty: the security-group check is skipped (reported as not configured).
    expected_security_group_ids: frozenset[str] = frozenset()
    app_ports_tag: str = DEFAULT_APP_PORTS_TAG
    default_app_ports: tuple[int, ...] = ()
    probe_timeout_seconds: float = 2.0
    # A health report older than this is no evidence that the network is fine now.
    health_max_age: timedelta = timedelta(minutes=60)
    # A test instance still booting (or its post-launch actions still running) after this fails.
    verify_timeout: timedelta = timedelta(minutes=60)
    # With post-launch actions: the SSM agent not seen by Systems Manager this long after launch fails.
    ssm_registration_grace: timedelta = DEFAULT_SSM_REGISTRATION_GRACE
    # A claim the batcher never turned into a job (it crashed) is released after this.
    stale_claim_after: timedelta = timedelta(minutes=15)
    # How far back the batcher looks for MGN jobs that may still be active.
    job_lookback: timedelta = timedelta(hours=48)
