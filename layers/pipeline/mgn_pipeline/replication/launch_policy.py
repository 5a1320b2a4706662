"""What a server's EC2 launch template must say in a closed network: no public IP, an allowed subnet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mgn_pipeline.replication.policy import FieldDrift


class LaunchViolationMode(StrEnum):
    # Write a new default version of the launch template that fixes the violation.
    REPAIR = "repair"
    # Leave the template alone, record and notify; test and cutover launches are refused.
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class LaunchPolicy:
    allowed_subnet_ids: frozenset[str]
    mode: LaunchViolationMode = LaunchViolationMode.REPAIR

    def violations(self, template_data: Mapping[str, Any]) -> list[FieldDrift]:
        """Problems in an EC2 launch template version's ``LaunchTemplateData``."""
        interfaces = list(template_data.get("NetworkInterfaces") or [])
        primary: Mapping[str, Any] = next((ni for ni in interfaces if ni.get("DeviceIndex", 0) == 0), {})
        found: list[FieldDrift] = []
        if primary.get("AssociatePublicIpAddress"):
            found.append(FieldDrift("AssociatePublicIpAddress", True, False))
        subnet = primary.get("SubnetId")
        if self.allowed_subnet_ids and subnet not in self.allowed_subnet_ids:
            found.append(FieldDrift("SubnetId", subnet, sorted(self.allowed_subnet_ids)[0]))
        return found

    @staticmethod
    def repaired(template_data: Mapping[str, Any], violations: list[FieldDrift]) -> dict[str, Any]:
        """``template_data`` with the primary network interface fixed; everything else kept."""
        data = {k: v for k, v in template_data.items() if k != "NetworkInterfaces"}
        interfaces = [dict(ni) for ni in template_data.get("NetworkInterfaces") or []] or [{"DeviceIndex": 0}]
        primary = next(ni for ni in interfaces if ni.get("DeviceIndex", 0) == 0)
        for violation in violations:
            primary[violation.name] = violation.desired
        data["NetworkInterfaces"] = interfaces
        return data
