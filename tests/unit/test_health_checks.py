"""The pure network-health checks over handcrafted inventories: each PASS, WARN and FAIL, with its fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mgn_pipeline.health import checks
from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, Status
from mgn_pipeline.health.s3_policy_check import bucket_access

REGION = "eu-west-1"
VPC = "vpc-0a1b2c3d4e5f60718"
ON_PREM = "192.168.0.0/16"
FUNC_A, FUNC_B, STAGING = "subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"
ENDPOINT_SG, REPLICATION_SG, RESOLVER_SG = (
    "sg-0e0000000000000e1",
    "sg-0r0000000000000r1",
    "sg-0d0000000000000d1",
)
S3_PL = "pl-6da54004"

EXPECT = NetworkExpectations(
    region=REGION,
    vpc_id=VPC,
    function_subnet_ids=(FUNC_A, FUNC_B),
    staging_subnet_id=STAGING,
    replication_security_group_ids=(REPLICATION_SG,),
    on_prem_cidrs=(ON_PREM,),
    interface_services=("mgn", "ec2", "s3"),
)


def _rule(protocol: str, port: int, cidr: str) -> dict[str, Any]:
    return {"IpProtocol": protocol, "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def _nacl_entries(peers: list[str]) -> list[dict[str, Any]]:
    entries = []
    for egress in (False, True):
        for n, peer in enumerate(peers):
            for m, (protocol, low, high) in enumerate(
                [
                    ("6", 443, 443),
                    ("6", 1500, 1500),
                    ("6", 53, 53),
                    ("17", 53, 53),
                    ("6", 1024, 65535),
                    ("17", 1024, 65535),
                ]
            ):
                entries.append(
                    {
                        "RuleNumber": 100 + 10 * n + m,
                        "Protocol": protocol,
                        "RuleAction": "allow",
                        "Egress": egress,
                        "CidrBlock": peer,
                        "PortRange": {"From": low, "To": high},
                    }
                )
        entries.append(
            {
                "RuleNumber": 32767,
                "Protocol": "-1",
                "RuleAction": "deny",
                "Egress": egress,
                "CidrBlock": "0.0.0.0/0",
            }
        )
    return entries


def _policy(buckets: list[str]) -> str:
    resources = [f"arn:aws:s3:::{b}/*" for b in buckets]
    return json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": resources}
            ]
        }
    )


def _interface(service: str, private_dns: bool = True) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "VpcEndpointId": f"vpce-0{service}",
        "VpcEndpointType": "Interface",
        "ServiceName": f"com.amazonaws.{REGION}.{service}",
        "State": "available",
        "SubnetIds": [FUNC_A, FUNC_B],
        "Groups": [{"GroupId": ENDPOINT_SG}],
        "PrivateDnsEnabled": private_dns,
        "DnsEntries": [{"DnsName": f"vpce-0{service}-x.{service}.{REGION}.vpce.amazonaws.com"}],
    }
    if service == "s3":
        endpoint["PolicyDocument"] = _policy([*EXPECT.mgn_buckets(), EXPECT.ssm_bucket()])
        endpoint["DnsEntries"] = [{"DnsName": f"*.vpce-0s3-x.s3.{REGION}.vpce.amazonaws.com"}]
    return endpoint


def healthy() -> NetworkInventory:
    tables = [
        {
            "RouteTableId": "rtb-0func",
            "Associations": [{"SubnetId": FUNC_A}, {"SubnetId": FUNC_B}],
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationPrefixListId": "pl-ddb", "GatewayId": "vpce-0ddbgw", "State": "active"},
            ],
        },
        {
            "RouteTableId": "rtb-0staging",
            "Associations": [{"SubnetId": STAGING}],
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationPrefixListId": S3_PL, "GatewayId": "vpce-0s3gw", "State": "active"},
            ],
        },
        {"RouteTableId": "rtb-0main", "Associations": [{"Main": True}], "Routes": []},
    ]
    groups = [
        {
            "GroupId": ENDPOINT_SG,
            "IpPermissions": [_rule("tcp", 443, "10.0.0.0/16"), _rule("tcp", 443, ON_PREM)],
        },
        {
            "GroupId": REPLICATION_SG,
            "IpPermissions": [_rule("tcp", 1500, ON_PREM)],
            "IpPermissionsEgress": [
                _rule("tcp", 443, "10.0.0.0/16"),
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "PrefixListIds": [{"PrefixListId": S3_PL}],
                },
            ],
        },
        {"GroupId": RESOLVER_SG, "IpPermissions": [_rule("tcp", 53, ON_PREM), _rule("udp", 53, ON_PREM)]},
    ]
    return NetworkInventory(
        vpc={"VpcId": VPC, "CidrBlock": "10.0.0.0/16"},
        subnets=[
            {"SubnetId": FUNC_A, "CidrBlock": "10.0.1.0/24", "AvailabilityZone": f"{REGION}a"},
            {"SubnetId": FUNC_B, "CidrBlock": "10.0.2.0/24", "AvailabilityZone": f"{REGION}b"},
            {"SubnetId": STAGING, "CidrBlock": "10.0.10.0/24", "AvailabilityZone": f"{REGION}a"},
        ],
        route_tables=tables,
        security_groups=groups,
        network_acls=[
            {
                "NetworkAclId": "acl-0private",
                "Associations": [{"SubnetId": FUNC_A}, {"SubnetId": FUNC_B}],
                "Entries": _nacl_entries(["10.0.0.0/16", ON_PREM]),
            },
            {
                "NetworkAclId": "acl-0staging",
                "Associations": [{"SubnetId": STAGING}],
                "Entries": _nacl_entries(["10.0.0.0/16", ON_PREM]),
            },
        ],
        vpc_endpoints=[
            _interface("mgn"),
            _interface("ec2"),
            _interface("s3", private_dns=False),
            {
                "VpcEndpointId": "vpce-0s3gw",
                "VpcEndpointType": "Gateway",
                "ServiceName": f"com.amazonaws.{REGION}.s3",
                "State": "available",
                "RouteTableIds": ["rtb-0staging"],
                "PolicyDocument": _policy([*EXPECT.mgn_buckets(), EXPECT.ssm_bucket()]),
            },
            {
                "VpcEndpointId": "vpce-0ddbgw",
                "VpcEndpointType": "Gateway",
                "ServiceName": f"com.amazonaws.{REGION}.dynamodb",
                "State": "available",
                "RouteTableIds": ["rtb-0func"],
            },
        ],
        resolver_endpoints=[
            {
                "Id": "rslvr-in-0001",
                "Direction": "INBOUND",
                "Status": "OPERATIONAL",
                "SecurityGroupIds": [RESOLVER_SG],
                "IpAddresses": [
                    {"SubnetId": FUNC_A, "Ip": "10.0.1.53", "Status": "ATTACHED"},
                    {"SubnetId": FUNC_B, "Ip": "10.0.2.53", "Status": "ATTACHED"},
                ],
            }
        ],
        vpc_attributes={"enableDnsSupport": True, "enableDnsHostnames": True},
    )


def edit(inventory: NetworkInventory, **changes: Any) -> NetworkInventory:
    fields = {name: copy.deepcopy(getattr(inventory, name)) for name in inventory.__dataclass_fields__}
    return NetworkInventory(**(fields | changes))


def results(inventory: NetworkInventory) -> dict[str, CheckResult]:
    found, _forwarder = checks.static_checks(inventory, EXPECT)
    return {r.check_id: r for r in found}


def only_failure(inventory: NetworkInventory) -> CheckResult:
    failing = [r for r in results(inventory).values() if r.status is Status.FAIL]
    assert len(failing) == 1, [(r.check_id, r.summary) for r in failing]
    assert failing[0].fix
    return failing[0]


def test_healthy_inventory_passes_everything() -> None:
    found = results(healthy())
    assert {r.status for r in found.values()} == {Status.PASS}, {
        k: r.summary for k, r in found.items() if r.status != "PASS"
    }
    assert set(found) >= {
        "endpoint.mgn",
        "private-dns.s3",
        "gateway.s3",
        "gateway.dynamodb",
        "sg.endpoint-443",
        "sg.replication-1500",
        "nacl.staging-subnet",
        "nacl.endpoint-subnets",
        "routes.closed",
        "resolver.inbound",
        "s3-policy",
        "inventory.read",
    }


def test_missing_endpoint_fails_and_skips_its_private_dns_check() -> None:
    inventory = healthy()
    inventory = edit(
        inventory, vpc_endpoints=[e for e in inventory.vpc_endpoints if e["VpcEndpointId"] != "vpce-0mgn"]
    )
    failure = only_failure(inventory)
    assert failure.check_id == "endpoint.mgn"
    assert "create-vpc-endpoint" in failure.fix and "--private-dns-enabled" in failure.fix
    skipped = results(inventory)["private-dns.mgn"]
    assert skipped.status is Status.WARN and skipped.evidence["blockedBy"] == ["endpoint.mgn"]


@pytest.mark.parametrize("state", ["pendingAcceptance", "failed", "deleted"])
def test_unavailable_endpoint_fails(state: str) -> None:
    inventory = healthy()
    inventory.vpc_endpoints[0]["State"] = state
    failure = only_failure(inventory)
    assert failure.check_id == "endpoint.mgn" and state in failure.summary


def test_endpoint_in_one_az_warns() -> None:
    inventory = healthy()
    inventory.vpc_endpoints[1]["SubnetIds"] = [FUNC_A]
    result = results(inventory)["endpoint.ec2"]
    assert result.status is Status.WARN
    assert "--add-subnet-ids" in result.fix


def test_private_dns_off_fails_and_on_for_s3_warns() -> None:
    inventory = healthy()
    inventory.vpc_endpoints[0]["PrivateDnsEnabled"] = False
    failure = only_failure(inventory)
    assert failure.check_id == "private-dns.mgn"
    assert failure.fix == "aws ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-0mgn --private-dns-enabled"

    inventory = healthy()
    inventory.vpc_endpoints[2]["PrivateDnsEnabled"] = True
    assert results(inventory)["private-dns.s3"].status is Status.WARN
    inventory.vpc_endpoints[2]["DnsOptions"] = {"PrivateDnsOnlyForInboundResolverEndpoint": True}
    assert results(inventory)["private-dns.s3"].status is Status.PASS


def test_vpc_dns_attribute_off_fails_every_private_dns_service() -> None:
    found = results(edit(healthy(), vpc_attributes={"enableDnsSupport": True, "enableDnsHostnames": False}))
    failing = {k for k, r in found.items() if r.status is Status.FAIL}
    assert failing == {"private-dns.mgn", "private-dns.ec2"}  # s3 has private DNS off by design
    assert "--enable-dns-hostnames" in found["private-dns.mgn"].fix


def test_gateway_route_missing_fails() -> None:
    inventory = healthy()
    inventory.route_tables[1]["Routes"].pop()
    inventory.vpc_endpoints[3]["RouteTableIds"] = []
    failure = only_failure(inventory)
    assert failure.check_id == "gateway.s3"
    assert "--add-route-table-ids rtb-0staging" in failure.fix


def test_endpoint_sg_missing_on_prem_443() -> None:
    inventory = healthy()
    inventory.security_groups[0]["IpPermissions"] = [_rule("tcp", 443, "10.0.0.0/16")]
    failure = only_failure(inventory)
    assert failure.check_id == "sg.endpoint-443"
    assert f"--group-id {ENDPOINT_SG} --protocol tcp --port 443 --cidr {ON_PREM}" in failure.fix
    assert {m["service"] for m in failure.evidence["missing"]} == {
        "mgn",
        "s3",
    }  # ec2 is not reached from on-prem


def test_endpoint_sg_accepts_staging_by_group_reference() -> None:
    inventory = healthy()
    inventory.security_groups[0]["IpPermissions"] = [
        _rule("tcp", 443, ON_PREM),
        _rule("tcp", 443, "10.0.1.0/24"),
        _rule("tcp", 443, "10.0.2.0/24"),
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "UserIdGroupPairs": [{"GroupId": REPLICATION_SG}],
        },
    ]
    assert results(inventory)["sg.endpoint-443"].status is Status.PASS


def test_replication_sg_missing_1500_and_s3_prefix_list() -> None:
    inventory = healthy()
    inventory.security_groups[1]["IpPermissions"] = []
    failure = only_failure(inventory)
    assert failure.check_id == "sg.replication-1500"
    assert "--port 1500 --cidr 192.168.0.0/16" in failure.fix

    inventory = healthy()
    inventory.security_groups[1]["IpPermissionsEgress"] = [_rule("tcp", 443, "10.0.0.0/16")]
    failure = only_failure(inventory)
    assert "PrefixListId=pl-6da54004" in failure.fix


def test_nacl_deny_on_staging_1500_fails() -> None:
    inventory = healthy()
    inventory.network_acls[1]["Entries"].append(
        {
            "RuleNumber": 50,
            "Protocol": "6",
            "RuleAction": "deny",
            "Egress": False,
            "CidrBlock": "0.0.0.0/0",
            "PortRange": {"From": 1500, "To": 1500},
        }
    )
    failure = only_failure(inventory)
    assert failure.check_id == "nacl.staging-subnet"
    assert "rule 50" in failure.summary


def test_nacl_without_ephemeral_return_fails_endpoint_subnets() -> None:
    inventory = healthy()
    inventory.network_acls[0]["Entries"] = [
        e
        for e in inventory.network_acls[0]["Entries"]
        # Replies to the VPC (functions, staging) only; on-prem DNS replies stay open.
        if not (
            e["Egress"] and e.get("PortRange", {}).get("From") == 1024 and e["CidrBlock"] == "10.0.0.0/16"
        )
    ]
    failure = only_failure(inventory)
    assert failure.check_id == "nacl.endpoint-subnets"
    assert "ephemeral" in failure.fix


@pytest.mark.parametrize(("key", "target"), [("GatewayId", "igw-0123"), ("NatGatewayId", "nat-0123")])
def test_route_to_internet_or_nat_fails(key: str, target: str) -> None:
    inventory = healthy()
    inventory.route_tables[1]["Routes"].append(
        {"DestinationCidrBlock": "0.0.0.0/0", key: target, "State": "active"}
    )
    failure = only_failure(inventory)
    assert failure.check_id == "routes.closed" and target in failure.summary
    assert "delete-route --route-table-id rtb-0staging --destination-cidr-block 0.0.0.0/0" in failure.fix


def test_blackhole_route_is_ignored_and_instance_default_route_warns() -> None:
    inventory = healthy()
    inventory.route_tables[1]["Routes"].append(
        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0", "State": "blackhole"}
    )
    assert results(inventory)["routes.closed"].status is Status.PASS
    inventory.route_tables[0]["Routes"].append(
        {"DestinationCidrBlock": "0.0.0.0/0", "InstanceId": "i-0proxy", "State": "active"}
    )
    assert results(inventory)["routes.closed"].status is Status.WARN


def test_main_route_table_applies_to_unassociated_subnet() -> None:
    inventory = healthy()
    inventory.route_tables[1]["Associations"] = []
    inventory.route_tables[2]["Routes"] = [
        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0main", "State": "active"}
    ]
    assert results(inventory)["routes.closed"].status is Status.FAIL


def test_resolver_missing_not_operational_one_az_and_port_53() -> None:
    failure = only_failure(edit(healthy(), resolver_endpoints=[]))
    assert failure.check_id == "resolver.inbound" and "create-resolver-endpoint" in failure.fix

    inventory = healthy()
    inventory.resolver_endpoints[0]["Status"] = "ACTION_NEEDED"
    assert only_failure(inventory).check_id == "resolver.inbound"

    inventory = healthy()
    inventory.resolver_endpoints[0]["IpAddresses"][1]["SubnetId"] = FUNC_A
    assert results(inventory)["resolver.inbound"].status is Status.WARN

    inventory = healthy()
    inventory.security_groups[2]["IpPermissions"] = [_rule("tcp", 53, ON_PREM)]
    failure = only_failure(inventory)
    assert "UDP 53" in failure.summary and "--protocol udp --port 53" in failure.fix

    failure = only_failure(edit(healthy(), read_errors={"resolver": "AccessDeniedException: no"}))
    assert failure.check_id == "resolver.inbound" and "route53resolver:ListResolverEndpoints" in failure.fix


def test_forwarder_is_printed_for_the_on_prem_dns_team() -> None:
    _, forwarder = checks.static_checks(healthy(), EXPECT)
    assert forwarder["forwardTo"] == ["10.0.1.53", "10.0.2.53"]
    assert (
        forwarder["windows"]
        == "Add-DnsServerConditionalForwarderZone -Name amazonaws.com -MasterServers 10.0.1.53,10.0.2.53"
    )
    assert "forwarders { 10.0.1.53; 10.0.2.53; }" in forwarder["bind"]


def test_s3_policy_too_narrow_fails_with_the_statement_to_add() -> None:
    inventory = healthy()
    inventory.vpc_endpoints[3]["PolicyDocument"] = _policy([EXPECT.ssm_bucket()])
    failure = only_failure(inventory)
    assert failure.check_id == "s3-policy"
    assert failure.evidence["blocked"]["vpce-0s3gw"][0].startswith("aws-")
    assert f"arn:aws:s3:::aws-mgn-clients-{REGION}/*" in failure.fix


@pytest.mark.parametrize(
    ("statement", "verdict"),
    [
        (
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::aws-mgn-*"},
            "allowed",
        ),
        ({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, "allowed"),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}, "not-allowed"),
        (
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:role/x"},
                "Action": "*",
                "Resource": "*",
            },
            "conditional",
        ),
        (
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"x": {}}},
            "conditional",
        ),
        ({"Effect": "Allow", "Principal": "*", "NotAction": "s3:PutObject", "Resource": "*"}, "conditional"),
    ],
)
def test_bucket_access_reading_of_a_statement(statement: dict[str, Any], verdict: str) -> None:
    assert bucket_access({"Statement": [statement]}, f"aws-mgn-clients-{REGION}") == verdict


def test_explicit_deny_wins() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::aws-mgn-clients-*",
    }
    assert bucket_access({"Statement": [allow, deny]}, f"aws-mgn-clients-{REGION}") == "denied"


def test_conditional_s3_policy_warns() -> None:
    inventory = healthy()
    policy = json.loads(inventory.vpc_endpoints[3]["PolicyDocument"])
    policy["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceVpc": VPC}}
    inventory.vpc_endpoints[3]["PolicyDocument"] = json.dumps(policy)
    assert results(inventory)["s3-policy"].status is Status.WARN


def test_partial_inventory_fails_inventory_read() -> None:
    result = results(edit(healthy(), read_errors={"network_acls": "AccessDenied"}))["inventory.read"]
    assert result.status is Status.FAIL and "DescribeNetworkAcls" in result.fix
