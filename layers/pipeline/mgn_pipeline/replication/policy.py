"""The replication settings a closed network needs, and the field-by-field drift from them.

A replication server with a public IP, or with public data-plane routing, never reaches the
on-premises agent over Direct Connect or VPN: replication stalls and nobody knows why. So the
desired state pins private routing, the staging subnet and security groups, encryption and tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldDrift:
    name: str
    current: Any
    desired: Any

    def describe(self) -> str:
        return f"{self.name}: {self.current!r} -> {self.desired!r}"


@dataclass(frozen=True, slots=True)
class ReplicationPolicy:
    staging_subnet_id: str
    security_group_ids: frozenset[str]
    associate_default_security_group: bool = False
    ebs_kms_key_arn: str | None = None
    # Tags every staging resource must carry (others present are kept).
    staging_tags: Mapping[str, str] = field(default_factory=dict)
    use_fips_endpoint: bool | None = None
    # With a link budget, the throttle new servers start with (the template's; 0 would let each
    # new server take the whole link until the next reconcile plans it).
    template_throttle_mbps: int | None = None

    # Not configurable: the closed network only works with these.
    data_plane_routing: str = "PRIVATE_IP"
    create_public_ip: bool = False

    def desired_fields(self) -> dict[str, Any]:
        wanted: dict[str, Any] = {
            "dataPlaneRouting": self.data_plane_routing,
            "createPublicIP": self.create_public_ip,
            "stagingAreaSubnetId": self.staging_subnet_id,
            "replicationServersSecurityGroupsIDs": sorted(self.security_group_ids),
            "associateDefaultSecurityGroup": self.associate_default_security_group,
            "ebsEncryption": "CUSTOM" if self.ebs_kms_key_arn else "DEFAULT",
        }
        if self.ebs_kms_key_arn:
            wanted["ebsEncryptionKeyArn"] = self.ebs_kms_key_arn
        if self.use_fips_endpoint is not None:
            wanted["useFipsEndpoint"] = self.use_fips_endpoint
        return wanted

    def drift(self, current: Mapping[str, Any]) -> list[FieldDrift]:
        """Every field of ``current`` (a replication configuration or template) that is not as desired."""
        drifts = [
            FieldDrift(name, current.get(name), desired)
            for name, desired in self.desired_fields().items()
            if not _same(name, current.get(name), desired)
        ]
        current_tags = dict(current.get("stagingAreaTags") or {})
        missing = {k: v for k, v in self.staging_tags.items() if current_tags.get(k) != v}
        if missing:
            drifts.append(FieldDrift("stagingAreaTags", current_tags, {**current_tags, **self.staging_tags}))
        return drifts

    def template_drift(self, current: Mapping[str, Any]) -> list[FieldDrift]:
        """``drift``, and a replication template's throttle when a link budget sets one."""
        drifts = self.drift(current)
        if (
            self.template_throttle_mbps is not None
            and current.get("bandwidthThrottling") != self.template_throttle_mbps
        ):
            drifts.append(
                FieldDrift(
                    "bandwidthThrottling", current.get("bandwidthThrottling"), self.template_throttle_mbps
                )
            )
        return drifts

    def template_fields(self) -> dict[str, Any]:
        """What a created template gets from the policy."""
        fields = {**self.desired_fields(), "stagingAreaTags": dict(self.staging_tags)}
        if self.template_throttle_mbps is not None:
            fields["bandwidthThrottling"] = self.template_throttle_mbps
        return fields

    @staticmethod
    def update_fields(drifts: list[FieldDrift]) -> dict[str, Any]:
        """The request fields that put the drifted ones back, and nothing else."""
        return {d.name: d.desired for d in drifts}


def _same(name: str, current: Any, desired: Any) -> bool:
    if name == "replicationServersSecurityGroupsIDs":
        return set(current or []) == set(desired)
    return bool(current == desired)
