"""Helpers for the LocalFunctions / LocalEventBus / LocalStepFunctions tests.

* ``PLACEHOLDER_PARAMETERS``: values for the template parameters without a default, for tests
  that need no real network (ids are well-formed, nothing looks them up).
* ``network_parameters``: the same parameters pointing at the conftest ``network`` (moto VPC), so
  the functions' settings name real moto ids.
* ``TestLambdas``: test-only Lambda handlers for the Step Functions hook test. They raise the
  pipeline's real error classes, so the test proves ASL ``ErrorEquals`` matches the Python
  exception class name the way the cutover gate's Retry/Catch will rely on.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from mgn_pipeline.shared.errors import MgnRequestRejectedError, MgnThrottledError

PLACEHOLDER_PARAMETERS = {
    "VpcId": "vpc-0123456789abcdef0",
    "VpcCidr": "10.10.0.0/16",
    "PrivateSubnetIds": "subnet-0123456789abcdef1,subnet-0123456789abcdef2",
    "PrivateRouteTableIds": "rtb-0123456789abcdef0",
    "StagingSubnetId": "subnet-0123456789abcdef3",
    "StagingRouteTableIds": "rtb-0123456789abcdef1",
    "ReplicationSecurityGroupIds": "sg-0123456789abcdef0",
    "OnPremCidrs": "10.20.0.0/16",
    "OnPremPrefixListId": "pl-0123456789abcdef1",
    "DynamoDbPrefixListId": "pl-0123456789abcdef0",
    "ApproverPrincipalArns": "arn:aws:iam::111122223333:role/approver",
    "AllowedLaunchSubnetIds": "subnet-0123456789abcdef4",
}


def network_parameters(network: SimpleNamespace) -> dict[str, str]:
    """The template's closed-network parameters, pointing at the moto VPC of the ``network`` fixture."""
    ec2 = network.ec2
    sg = ec2.create_security_group(
        GroupName="replication", Description="replication servers", VpcId=network.vpc_id
    )["GroupId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [network.vpc_id]}])[
        "RouteTables"
    ]
    route_table = tables[0]["RouteTableId"]
    return {
        **PLACEHOLDER_PARAMETERS,
        "VpcId": network.vpc_id,
        "PrivateSubnetIds": network.launch_subnet_id,
        "PrivateRouteTableIds": route_table,
        "StagingSubnetId": network.staging_subnet_id,
        "StagingRouteTableIds": route_table,
        "ReplicationSecurityGroupIds": sg,
        "AllowedLaunchSubnetIds": network.launch_subnet_id,
    }


class TestLambdas:
    """One set of handlers with their own call state (a fresh instance per test)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.tokens: list[str] = []
        self._lock = threading.Lock()

    def _count(self, name: str) -> int:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            return self.calls[name]

    def flaky(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Throttled on the first call, fine on the next: the ASL Retry on MgnThrottledError absorbs it."""
        if self._count("flaky") == 1:
            raise MgnThrottledError("Rate exceeded", retry_after_seconds=1)
        return {
            "servers": event.get("servers", []),
            "attempt": self.calls["flaky"],
            "function": context.function_name,
        }

    def rejected(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Always rejected: the ASL Catch on MgnRequestRejectedError routes around it."""
        self._count("rejected")
        raise MgnRequestRejectedError("launch template has no subnet")

    def ask_approval(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Stands in for 'notify a person': records the task token the execution now waits on."""
        self._count("ask_approval")
        with self._lock:
            self.tokens.append(event["token"])
        return {"asked": True}
