"""The network-health function's boto3 clients, created on first use, with short timeouts.

Unlike the pipeline's clients (``mgn_pipeline.shared.aws.clients``: eight retries, patient), a health
probe must answer within its deadline: a call that hangs is itself the finding.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from mgn_pipeline.shared.aws.pace import CallPace
from mgn_pipeline.shared.user_agent import PIPELINE_USER_AGENT

HEALTH_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 2},
    user_agent_extra=PIPELINE_USER_AGENT,
)


class HealthClients:
    @cached_property
    def ec2(self) -> Any:
        return boto3.client("ec2", config=HEALTH_CONFIG)

    @cached_property
    def route53resolver(self) -> Any:
        return boto3.client("route53resolver", config=HEALTH_CONFIG)

    @cached_property
    def mgn_pace(self) -> CallPace:
        """This container's share of MGN's account-wide request rate (see shared/aws/pace.py)."""
        return CallPace()

    def pace_mgn(self, per_second: float | None) -> None:
        self.mgn_pace.per_second = per_second

    @cached_property
    def mgn(self) -> Any:
        return self.mgn_pace.attach(boto3.client("mgn", config=HEALTH_CONFIG))

    @cached_property
    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", config=HEALTH_CONFIG)

    @cached_property
    def sns(self) -> Any:
        return boto3.client("sns", config=HEALTH_CONFIG)
