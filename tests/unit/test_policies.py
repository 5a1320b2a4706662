"""The closed-network policy: field-by-field drift, and what a repair writes."""

from __future__ import annotations

from mgn_pipeline.replication.launch_policy import LaunchPolicy
from mgn_pipeline.replication.policy import ReplicationPolicy
from mgn_pipeline.shared.scope import Scope

POLICY = ReplicationPolicy(
    staging_subnet_id="subnet-0123456789abcdef0",
    security_group_ids=frozenset({"sg-0000000000000000a", "sg-0000000000000000b"}),
    staging_tags={"CostCenter": "migration"},
)
COMPLIANT = {
    "dataPlaneRouting": "PRIVATE_IP",
    "createPublicIP": False,
    "stagingAreaSubnetId": "subnet-0123456789abcdef0",
    "replicationServersSecurityGroupsIDs": ["sg-0000000000000000b", "sg-0000000000000000a"],
    "associateDefaultSecurityGroup": False,
    "ebsEncryption": "DEFAULT",
    "stagingAreaTags": {"CostCenter": "migration", "Owner": "ops"},
    "replicationServerInstanceType": "t3.small",
}


def test_compliant_configuration_has_no_drift() -> None:
    assert POLICY.drift(COMPLIANT) == []


def test_public_routing_is_drift_and_only_drifted_fields_are_written() -> None:
    current = {**COMPLIANT, "dataPlaneRouting": "PUBLIC_IP", "createPublicIP": True}
    drifts = POLICY.drift(current)
    assert {d.name for d in drifts} == {"dataPlaneRouting", "createPublicIP"}
    assert POLICY.update_fields(drifts) == {"dataPlaneRouting": "PRIVATE_IP", "createPublicIP": False}


def test_missing_staging_tag_is_added_and_other_tags_kept() -> None:
    drifts = POLICY.drift({**COMPLIANT, "stagingAreaTags": {"Owner": "ops"}})
    assert POLICY.update_fields(drifts) == {"stagingAreaTags": {"Owner": "ops", "CostCenter": "migration"}}


def test_security_group_order_does_not_matter_but_membership_does() -> None:
    drifts = POLICY.drift({**COMPLIANT, "replicationServersSecurityGroupsIDs": ["sg-0000000000000000a"]})
    assert POLICY.update_fields(drifts) == {
        "replicationServersSecurityGroupsIDs": ["sg-0000000000000000a", "sg-0000000000000000b"]
    }


def test_kms_key_pins_custom_encryption() -> None:
    keyed = ReplicationPolicy(
        "subnet-0123456789abcdef0",
        frozenset({"sg-0000000000000000a"}),
        ebs_kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k",
    )
    fields = keyed.update_fields(keyed.drift({"ebsEncryption": "DEFAULT"}))
    assert fields["ebsEncryption"] == "CUSTOM"
    assert fields["ebsEncryptionKeyArn"] == "arn:aws:kms:us-east-1:111122223333:key/k"


def test_launch_template_with_public_ip_in_wrong_subnet() -> None:
    policy = LaunchPolicy(frozenset({"subnet-0aaaaaaaaaaaaaaaa"}))
    data = {
        "InstanceType": "m5.large",
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "AssociatePublicIpAddress": True,
                "SubnetId": "subnet-0ffffffffffffffff",
                "Groups": ["sg-1"],
            }
        ],
    }
    violations = policy.violations(data)
    assert {v.name for v in violations} == {"AssociatePublicIpAddress", "SubnetId"}
    repaired = policy.repaired(data, violations)
    assert repaired["InstanceType"] == "m5.large"
    assert repaired["NetworkInterfaces"][0] == {
        "DeviceIndex": 0,
        "AssociatePublicIpAddress": False,
        "SubnetId": "subnet-0aaaaaaaaaaaaaaaa",
        "Groups": ["sg-1"],
    }
    assert policy.violations(repaired) == []


def test_launch_template_without_interfaces_is_compliant_when_no_subnet_is_pinned() -> None:
    assert LaunchPolicy(frozenset()).violations({"InstanceType": "m5.large"}) == []


def test_scope_by_tag() -> None:
    assert Scope().includes({})
    assert Scope("wave").includes({"wave": "3"})
    assert not Scope("wave").includes({"app": "erp"})
    assert Scope("wave", "3").includes({"wave": "3"})
    assert not Scope("wave", "3").includes({"wave": "4"})
