"""The boto3 clients of one container, created once each.

A handler touches the clients it needs on every invocation at import (init runs at full CPU and
is paid once); clients only some paths need (EC2 for launch templates, SNS when there is news
for a person) are created on first use, so a function woken by a rare event does not pay for them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from mgn_pipeline.shared.aws.pace import CallPace
from mgn_pipeline.shared.user_agent import PIPELINE_USER_AGENT

# Standard retry mode backs off on throttling, conflicts are not retried by the SDK.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra=PIPELINE_USER_AGENT)


class AwsClients:
    @cached_property
    def mgn_pace(self) -> CallPace:
        """This container's share of MGN's account-wide request rate (set from settings at invocation)."""
        return CallPace()

    def pace_mgn(self, per_second: float | None) -> None:
        self.mgn_pace.per_second = per_second

    @cached_property
    def mgn(self) -> Any:
        return self.mgn_pace.attach(boto3.client("mgn", config=AWS_CONFIG))

    @cached_property
    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", config=AWS_CONFIG)

    @cached_property
    def ec2(self) -> Any:
        return boto3.client("ec2", config=AWS_CONFIG)

    @cached_property
    def sns(self) -> Any:
        return boto3.client("sns", config=AWS_CONFIG)
