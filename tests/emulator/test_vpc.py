"""localcloud.vpc: the closed landing zone in moto, and the switches that break one piece of it.

Assertions read describe_* answers (ids and structure), never moto's DNS-name formats. The VPC is
built once per module (building takes most of the time); each switch test starts from the healthy
snapshot, breaks one piece, undoes it and checks the network is back to that snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from localcloud.vpc import (
    ANYWHERE,
    DEFAULT_ENDPOINT_SERVICES,
    ClosedVpc,
    build_closed_vpc,
    mgn_bucket_names,
)

REGION = "us-east-1"
ON_PREM = ("10.20.0.0/16", "192.168.0.0/16")
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@dataclass
class Env:
    ec2: Any
    r53: Any
    cv: ClosedVpc
    baseline: dict[str, Any]  # snapshot() of the healthy VPC, taken right after the build


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with pytest.MonkeyPatch.context() as mp:
        # Skip moto's ~9,000 default AMIs: this module never launches an instance (saves ~0.4 s).
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            r53 = boto3.client("route53resolver", region_name=REGION)
            cv = build_closed_vpc(ec2, r53, REGION, on_prem_cidrs=ON_PREM)
            yield Env(ec2=ec2, r53=r53, cv=cv, baseline=snapshot(ec2, r53, cv))


def _vpc_filter(vpc_id: str, name: str = "vpc-id") -> list[dict[str, Any]]:
    return [{"Name": name, "Values": [vpc_id]}]


def _live_endpoints(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    endpoints = ec2.describe_vpc_endpoints(Filters=_vpc_filter(vpc_id))["VpcEndpoints"]
    return [e for e in endpoints if e["State"] not in ("deleted", "deleting")]


def _route_tables(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    return list(ec2.describe_route_tables(Filters=_vpc_filter(vpc_id))["RouteTables"])


def _sg(ec2: Any, group_id: str) -> dict[str, Any]:
    return dict(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])


def _acl(ec2: Any, acl_id: str) -> dict[str, Any]:
    return dict(ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0])


def _perm_set(perms: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """Security-group permissions flattened to (protocol, from, to, cidr-or-prefix-list)."""
    flat = set()
    for p in perms:
        key = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        flat |= {(*key, r["CidrIp"]) for r in p.get("IpRanges", [])}
        flat |= {(*key, pl["PrefixListId"]) for pl in p.get("PrefixListIds", [])}
        flat |= {(*key, g["GroupId"]) for g in p.get("UserIdGroupPairs", [])}
    return flat


def _resolver_endpoints(r53: Any, vpc_id: str) -> list[dict[str, Any]]:
    return [e for e in r53.list_resolver_endpoints()["ResolverEndpoints"] if e["HostVPCId"] == vpc_id]


def snapshot(ec2: Any, r53: Any, cv: ClosedVpc) -> dict[str, Any]:
    """The landing zone split into named pieces, normalised so recreated resources compare equal."""
    pieces: dict[str, Any] = {}
    for e in _live_endpoints(ec2, cv.vpc_id):
        name = f"{e['VpcEndpointType']}:{e['ServiceName'].rsplit('.', 1)[1]}"
        pieces[f"endpoint:{name}"] = (
            e["State"],
            e["PrivateDnsEnabled"] if e["VpcEndpointType"] == "Interface" else None,
            sorted(e["SubnetIds"]),
            sorted(g["GroupId"] for g in e["Groups"]),
            sorted(e["RouteTableIds"]),
        )
        pieces[f"policy:{name}"] = json.loads(e["PolicyDocument"])
    roles = {
        **{t: f"private-{i}" for i, t in enumerate(cv.private_route_table_ids)},
        cv.staging_route_table_ids[0]: "staging",
        cv.launch_route_table_id: "launch",
    }
    for table in _route_tables(ec2, cv.vpc_id):
        routes = sorted(
            (
                r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"),
                # Gateway endpoint ids change when recreated: keep only the kind of target.
                re.sub(r"-[0-9a-f]+$", "", r.get("GatewayId") or r.get("NatGatewayId") or "?"),
            )
            for r in table["Routes"]
        )
        pieces[f"routes:{roles.get(table['RouteTableId'], table['RouteTableId'])}"] = routes
    pieces["internet_gateways"] = sorted(
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways(Filters=_vpc_filter(cv.vpc_id, "attachment.vpc-id"))[
            "InternetGateways"
        ]
    )
    pieces["nat_gateways"] = sorted(
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways(Filter=_vpc_filter(cv.vpc_id))["NatGateways"]
        if n["State"] not in ("deleted", "deleting")
    )
    for sg in ec2.describe_security_groups(Filters=_vpc_filter(cv.vpc_id))["SecurityGroups"]:
        pieces[f"sg:{sg['GroupName']}"] = (
            _perm_set(sg["IpPermissions"]),
            _perm_set(sg["IpPermissionsEgress"]),
        )
    for acl in ec2.describe_network_acls(Filters=_vpc_filter(cv.vpc_id))["NetworkAcls"]:
        name = next((t["Value"] for t in acl.get("Tags", []) if t["Key"] == "Name"), "default")
        entries = sorted(json.dumps(e, sort_keys=True) for e in acl["Entries"])
        pieces[f"nacl:{name}"] = (entries, sorted(a["SubnetId"] for a in acl["Associations"]))
    pieces["resolver"] = sorted(
        (
            e["Direction"],
            e["Status"],
            tuple(e["SecurityGroupIds"]),
            tuple(
                sorted(
                    (a["SubnetId"], a["Ip"])
                    for a in r53.list_resolver_endpoint_ip_addresses(ResolverEndpointId=e["Id"])[
                        "IpAddresses"
                    ]
                )
            ),
        )
        for e in _resolver_endpoints(r53, cv.vpc_id)
    )
    return pieces


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# ---------------------------------------------------------------------------- the healthy VPC


def test_vpc_has_dns_support_and_hostnames(env: Env) -> None:
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        answer = env.ec2.describe_vpc_attribute(VpcId=env.cv.vpc_id, Attribute=attribute)
        assert answer[key]["Value"] is True
    vpc = env.ec2.describe_vpcs(VpcIds=[env.cv.vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == env.cv.vpc_cidr == "10.0.0.0/16"


def test_no_route_leaves_the_vpc(env: Env) -> None:
    cv = env.cv
    tables = _route_tables(env.ec2, cv.vpc_id)
    assert {t["RouteTableId"] for t in tables} >= set(cv.route_table_ids)
    for table in tables:
        for route in table["Routes"]:
            assert route.get("DestinationCidrBlock") != ANYWHERE, route
            assert "NatGatewayId" not in route, route
            # Only the local route and gateway-endpoint (prefix list -> vpce) routes exist.
            target = route.get("GatewayId", "")
            assert target == "local" or (target.startswith("vpce-") and "DestinationPrefixListId" in route)
    assert not env.ec2.describe_internet_gateways(Filters=_vpc_filter(cv.vpc_id, "attachment.vpc-id"))[
        "InternetGateways"
    ]
    assert not env.ec2.describe_nat_gateways(Filter=_vpc_filter(cv.vpc_id))["NatGateways"]


def test_subnets_sit_in_two_azs_each_with_its_own_route_table(env: Env) -> None:
    cv = env.cv
    subnet_ids = [*cv.private_subnet_ids, cv.staging_subnet_id, cv.launch_subnet_id]
    subnets = {s["SubnetId"]: s for s in env.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]}
    assert {subnets[s]["AvailabilityZone"] for s in cv.private_subnet_ids} == set(cv.availability_zones)
    assert len(cv.availability_zones) == 2
    assert all(s["VpcId"] == cv.vpc_id and not s["MapPublicIpOnLaunch"] for s in subnets.values())
    table_of = {
        a["SubnetId"]: t["RouteTableId"]
        for t in _route_tables(env.ec2, cv.vpc_id)
        for a in t.get("Associations", [])
        if a.get("SubnetId")
    }
    expected = [*cv.private_route_table_ids, cv.staging_route_table_ids[0], cv.launch_route_table_id]
    assert [table_of[s] for s in subnet_ids] == expected
    assert len(set(expected)) == 4


def test_interface_endpoints_are_available_in_both_private_subnets(env: Env) -> None:
    cv = env.cv
    interface = {
        e["ServiceName"]: e
        for e in _live_endpoints(env.ec2, cv.vpc_id)
        if e["VpcEndpointType"] == "Interface"
    }
    assert set(interface) == {f"com.amazonaws.{REGION}.{s}" for s in DEFAULT_ENDPOINT_SERVICES}
    for service in DEFAULT_ENDPOINT_SERVICES:
        endpoint = interface[f"com.amazonaws.{REGION}.{service}"]
        assert endpoint["VpcEndpointId"] == cv.endpoint_ids[service]
        assert endpoint["State"] == "available"
        assert sorted(endpoint["SubnetIds"]) == sorted(cv.private_subnet_ids)
        assert [g["GroupId"] for g in endpoint["Groups"]] == [cv.endpoint_security_group_id]
        assert len(endpoint["NetworkInterfaceIds"]) == 2
        assert endpoint["PrivateDnsEnabled"] is (service != "s3")


def test_gateway_endpoints_route_their_prefix_lists(env: Env) -> None:
    cv = env.cv
    gateways = {
        e["ServiceName"].rsplit(".", 1)[1]: e
        for e in _live_endpoints(env.ec2, cv.vpc_id)
        if e["VpcEndpointType"] == "Gateway"
    }
    assert {s: e["VpcEndpointId"] for s, e in gateways.items()} == cv.gateway_endpoint_ids
    assert sorted(gateways["s3"]["RouteTableIds"]) == sorted(
        [*cv.staging_route_table_ids, cv.launch_route_table_id]
    )
    assert sorted(gateways["dynamodb"]["RouteTableIds"]) == sorted(cv.private_route_table_ids)
    managed = {
        p["PrefixListName"]: p["PrefixListId"] for p in env.ec2.describe_managed_prefix_lists()["PrefixLists"]
    }
    assert cv.dynamodb_prefix_list_id == managed[f"com.amazonaws.{REGION}.dynamodb"]
    routes = {t["RouteTableId"]: t["Routes"] for t in _route_tables(env.ec2, cv.vpc_id)}
    for service, prefix_list in (
        ("s3", managed[f"com.amazonaws.{REGION}.s3"]),
        ("dynamodb", cv.dynamodb_prefix_list_id),
    ):
        for table in gateways[service]["RouteTableIds"]:
            assert {
                "DestinationPrefixListId": prefix_list,
                "GatewayId": cv.gateway_endpoint_ids[service],
            } in [{k: r.get(k) for k in ("DestinationPrefixListId", "GatewayId")} for r in routes[table]]


def test_s3_endpoint_policies_allow_every_mgn_bucket_and_ssm(env: Env) -> None:
    cv = env.cv
    s3_endpoints = [e for e in _live_endpoints(env.ec2, cv.vpc_id) if e["ServiceName"].endswith(".s3")]
    assert {e["VpcEndpointType"] for e in s3_endpoints} == {"Gateway", "Interface"}
    for endpoint in s3_endpoints:
        resources = {
            r
            for st in json.loads(endpoint["PolicyDocument"])["Statement"]
            if st["Effect"] == "Allow"
            for r in st["Resource"]
        }
        for bucket in [*mgn_bucket_names(REGION), f"amazon-ssm-{REGION}"]:
            assert f"arn:aws:s3:::{bucket}/*" in resources


def test_security_groups_open_only_the_closed_network_flows(env: Env) -> None:
    cv = env.cv
    vpc, on_prem = cv.vpc_cidr, set(ON_PREM)
    endpoints = _sg(env.ec2, cv.endpoint_security_group_id)
    assert _perm_set(endpoints["IpPermissions"]) == {("tcp", 443, 443, c) for c in {vpc, *on_prem}}
    assert _perm_set(endpoints["IpPermissionsEgress"]) == {("-1", None, None, "127.0.0.1/32")}

    [replication_id] = cv.replication_security_group_ids
    replication = _sg(env.ec2, replication_id)
    assert _perm_set(replication["IpPermissions"]) == {("tcp", 1500, 1500, c) for c in on_prem}
    assert _perm_set(replication["IpPermissionsEgress"]) == {
        ("tcp", 443, 443, vpc),
        ("tcp", 443, 443, cv.s3_prefix_list_id),
    }

    functions = _sg(env.ec2, cv.function_security_group_id)
    assert _perm_set(functions["IpPermissions"]) == set()
    assert _perm_set(functions["IpPermissionsEgress"]) == {("tcp", 443, 443, vpc)}

    resolver = _sg(env.ec2, cv.resolver_security_group_id)
    assert _perm_set(resolver["IpPermissions"]) == {(p, 53, 53, c) for p in ("tcp", "udp") for c in on_prem}
    for group in (endpoints, replication, functions, resolver):
        assert not any(rule[3] == ANYWHERE for rule in _perm_set(group["IpPermissionsEgress"]))


@pytest.mark.parametrize("which", ["private", "staging"])
def test_custom_nacls_allow_the_flows_both_ways_then_deny(env: Env, which: str) -> None:
    cv = env.cv
    acl_id = cv.private_network_acl_id if which == "private" else cv.staging_network_acl_id
    subnets = cv.private_subnet_ids if which == "private" else [cv.staging_subnet_id]
    acl = _acl(env.ec2, acl_id)
    assert acl["IsDefault"] is False
    assert sorted(a["SubnetId"] for a in acl["Associations"]) == sorted(subnets)
    for egress in (False, True):
        entries = sorted((e for e in acl["Entries"] if e["Egress"] is egress), key=lambda e: e["RuleNumber"])
        allowed = {
            (e["Protocol"], e["PortRange"]["From"], e["PortRange"]["To"], e["CidrBlock"])
            for e in entries
            if e["RuleAction"] == "allow"
        }
        for peer in (cv.vpc_cidr, *ON_PREM):
            for rule in (
                ("6", 443, 443),
                ("6", 1500, 1500),
                ("6", 53, 53),
                ("17", 53, 53),
                ("6", 1024, 65535),
                ("17", 1024, 65535),
            ):
                assert (*rule, peer) in allowed
        # The explicit catch-all deny comes last (moto omits AWS's implicit "*" entry).
        last = entries[-1]
        assert (last["RuleNumber"], last["RuleAction"], last["Protocol"], last["CidrBlock"]) == (
            32766,
            "deny",
            "-1",
            ANYWHERE,
        )
        assert all(e["RuleAction"] == "allow" for e in entries[:-1])
    launch = env.ec2.describe_network_acls(Filters=_vpc_filter(cv.launch_subnet_id, "association.subnet-id"))
    assert launch["NetworkAcls"][0]["IsDefault"] is True


def test_resolver_inbound_endpoint_has_two_addresses_in_two_azs(env: Env) -> None:
    cv = env.cv
    [endpoint] = _resolver_endpoints(env.r53, cv.vpc_id)
    assert endpoint["Id"] == cv.resolver_endpoint_id
    assert (endpoint["Direction"], endpoint["Status"], endpoint["IpAddressCount"]) == (
        "INBOUND",
        "OPERATIONAL",
        2,
    )
    assert endpoint["SecurityGroupIds"] == [cv.resolver_security_group_id]
    addresses = env.r53.list_resolver_endpoint_ip_addresses(ResolverEndpointId=endpoint["Id"])["IpAddresses"]
    assert sorted(a["SubnetId"] for a in addresses) == sorted(cv.private_subnet_ids)
    zones = {
        s["AvailabilityZone"]
        for s in env.ec2.describe_subnets(SubnetIds=[a["SubnetId"] for a in addresses])["Subnets"]
    }
    assert len(zones) == 2
    assert [{"SubnetId": a["SubnetId"], "Ip": a["Ip"]} for a in addresses] == cv.resolver_ip_addresses


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml, turning every CloudFormation short-form tag (!Ref, !Sub, ...) into its value."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)


def test_template_parameters_are_keyed_and_shaped_as_the_template_expects(env: Env) -> None:
    cv = env.cv
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    network = next(g["Parameters"] for g in groups if g["Label"]["default"] == "Closed network")
    params = cv.template_parameters()
    assert list(params) == network
    declared = template["Parameters"]
    for name, value in params.items():
        if "AllowedPattern" in declared[name]:
            assert re.fullmatch(declared[name]["AllowedPattern"], value), name
        if "AllowedValues" in declared[name]:
            assert value in declared[name]["AllowedValues"], name
    assert params["PrivateSubnetIds"].split(",") == cv.private_subnet_ids
    assert params["PrivateRouteTableIds"].split(",") == cv.private_route_table_ids
    assert params["StagingRouteTableIds"].split(",") == cv.staging_route_table_ids
    entries = env.ec2.get_managed_prefix_list_entries(PrefixListId=params["OnPremPrefixListId"])["Entries"]
    assert sorted(e["Cidr"] for e in entries) == sorted(ON_PREM)
    # Endpoints exist already: the stack must not create duplicates unless asked.
    assert params["CreateVpcEndpoints"] == "false"
    assert cv.template_parameters(create_vpc_endpoints=True)["CreateVpcEndpoints"] == "true"


def test_clients_in_another_region_are_refused(env: Env) -> None:
    with pytest.raises(ValueError, match="region"):
        build_closed_vpc(env.ec2, env.r53, "eu-west-1")


# ---------------------------------------------------------------------------- moto limitations, pinned


def test_moto_ignores_private_dns_in_modify_and_custom_nacls_lack_default_denies(env: Env) -> None:
    """If moto fixes either, localcloud.vpc's workarounds and docstring can be simplified."""
    cv = env.cv
    endpoint_id = cv.endpoint_ids["mgn"]
    env.ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PrivateDnsEnabled=False)
    assert env.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0][
        "PrivateDnsEnabled"
    ]
    acl_id = env.ec2.create_network_acl(VpcId=cv.vpc_id)["NetworkAcl"]["NetworkAclId"]
    try:
        assert _acl(env.ec2, acl_id)["Entries"] == []
    finally:
        env.ec2.delete_network_acl(NetworkAclId=acl_id)


# ---------------------------------------------------------------------------- switches


@dataclass
class Switch:
    apply: Callable[[ClosedVpc, Env], object]
    undo: Callable[[ClosedVpc, Env], object]
    pieces: set[str]  # the snapshot pieces the switch may (and must) change
    check: Callable[[ClosedVpc, Env, object], None]


def _check_endpoint_gone(service: str, kind: str) -> Callable[[ClosedVpc, Env, object], None]:
    def check(cv: ClosedVpc, env: Env, deleted_id: object) -> None:
        state = env.ec2.describe_vpc_endpoints(VpcEndpointIds=[str(deleted_id)])["VpcEndpoints"][0]["State"]
        assert state in ("deleted", "deleting")
        assert not [
            e
            for e in _live_endpoints(env.ec2, cv.vpc_id)
            if e["ServiceName"].endswith(f".{service}") and e["VpcEndpointType"] == kind
        ]

    return check


def _check_private_dns_off(cv: ClosedVpc, env: Env, endpoint_id: object) -> None:
    endpoint = env.ec2.describe_vpc_endpoints(VpcEndpointIds=[str(endpoint_id)])["VpcEndpoints"][0]
    assert endpoint_id == cv.endpoint_ids["mgn"]
    assert (endpoint["State"], endpoint["PrivateDnsEnabled"]) == ("available", False)


def _check_no_ingress(group: str, port: int) -> Callable[[ClosedVpc, Env, object], None]:
    def check(cv: ClosedVpc, env: Env, _: object) -> None:
        group_id = (
            cv.endpoint_security_group_id if group == "endpoints" else cv.replication_security_group_ids[0]
        )
        assert not [p for p in _perm_set(_sg(env.ec2, group_id)["IpPermissions"]) if p[1] == port]

    return check


def _check_nacl_deny(cv: ClosedVpc, env: Env, rule_number: object) -> None:
    entries = [e for e in _acl(env.ec2, cv.staging_network_acl_id)["Entries"] if not e["Egress"]]
    [deny] = [e for e in entries if e["RuleNumber"] == rule_number]
    assert (deny["RuleAction"], deny["Protocol"], deny["PortRange"]) == (
        "deny",
        "6",
        {"From": 1500, "To": 1500},
    )
    assert deny["RuleNumber"] < min(e["RuleNumber"] for e in entries if e["RuleAction"] == "allow")


def _check_public_route(kind: str) -> Callable[[ClosedVpc, Env, object], None]:
    def check(cv: ClosedVpc, env: Env, gateway_id: object) -> None:
        table = env.ec2.describe_route_tables(RouteTableIds=cv.staging_route_table_ids)["RouteTables"][0]
        [route] = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == ANYWHERE]
        assert route["NatGatewayId" if kind == "nat" else "GatewayId"] == gateway_id
        assert str(gateway_id).startswith("nat-" if kind == "nat" else "igw-")

    return check


def _check_resolver_gone(cv: ClosedVpc, env: Env, _: object) -> None:
    assert cv.resolver_endpoint_id is None
    assert _resolver_endpoints(env.r53, cv.vpc_id) == []


def _check_policy_narrowed(cv: ClosedVpc, env: Env, _: object) -> None:
    for endpoint_id in (cv.gateway_endpoint_ids["s3"], cv.endpoint_ids["s3"]):
        policy = env.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0][
            "PolicyDocument"
        ]
        assert "aws-mgn-" not in policy and "aws-application-migration-service" not in policy
        assert f"amazon-ssm-{REGION}" in policy


SWITCHES: dict[str, Switch] = {
    "delete_endpoint(mgn)": Switch(
        lambda cv, e: cv.delete_endpoint(e.ec2, "mgn"),
        lambda cv, e: cv.restore_endpoint(e.ec2, "mgn"),
        {"endpoint:Interface:mgn", "policy:Interface:mgn"},
        _check_endpoint_gone("mgn", "Interface"),
    ),
    "delete_endpoint(dynamodb, gateway)": Switch(
        lambda cv, e: cv.delete_endpoint(e.ec2, "dynamodb", gateway=True),
        lambda cv, e: cv.restore_endpoint(e.ec2, "dynamodb", gateway=True),
        {"endpoint:Gateway:dynamodb", "policy:Gateway:dynamodb", "routes:private-0", "routes:private-1"},
        _check_endpoint_gone("dynamodb", "Gateway"),
    ),
    "disable_private_dns(mgn)": Switch(
        lambda cv, e: cv.disable_private_dns(e.ec2, "mgn"),
        lambda cv, e: cv.enable_private_dns(e.ec2, "mgn"),
        {"endpoint:Interface:mgn"},
        _check_private_dns_off,
    ),
    "remove_endpoint_ingress_443": Switch(
        lambda cv, e: cv.remove_endpoint_ingress_443(e.ec2),
        lambda cv, e: cv.restore_endpoint_ingress_443(e.ec2),
        {"sg:closed-endpoints"},
        _check_no_ingress("endpoints", 443),
    ),
    "remove_replication_ingress_1500": Switch(
        lambda cv, e: cv.remove_replication_ingress_1500(e.ec2),
        lambda cv, e: cv.restore_replication_ingress_1500(e.ec2),
        {"sg:closed-replication"},
        _check_no_ingress("replication", 1500),
    ),
    "add_nacl_deny(1500)": Switch(
        lambda cv, e: cv.add_nacl_deny(e.ec2, 1500),
        lambda cv, e: cv.remove_nacl_deny(e.ec2, 1500),
        {"nacl:closed-staging"},
        _check_nacl_deny,
    ),
    "add_public_route(igw)": Switch(
        lambda cv, e: cv.add_public_route(e.ec2, "igw"),
        lambda cv, e: cv.remove_public_route(e.ec2),
        {"routes:staging", "internet_gateways"},
        _check_public_route("igw"),
    ),
    "add_public_route(nat)": Switch(
        lambda cv, e: cv.add_public_route(e.ec2, "nat"),
        lambda cv, e: cv.remove_public_route(e.ec2),
        {"routes:staging", "nat_gateways"},
        _check_public_route("nat"),
    ),
    "delete_resolver_endpoint": Switch(
        lambda cv, e: cv.delete_resolver_endpoint(e.r53),
        lambda cv, e: cv.restore_resolver_endpoint(e.r53),
        {"resolver"},
        _check_resolver_gone,
    ),
    "narrow_s3_endpoint_policy": Switch(
        lambda cv, e: cv.narrow_s3_endpoint_policy(e.ec2),
        lambda cv, e: cv.restore_s3_endpoint_policy(e.ec2),
        {"policy:Gateway:s3", "policy:Interface:s3"},
        _check_policy_narrowed,
    ),
}


@pytest.mark.parametrize("name", list(SWITCHES))
def test_switch_breaks_exactly_its_piece_and_undo_restores_it(env: Env, name: str) -> None:
    switch, cv = SWITCHES[name], env.cv
    assert changed(env.baseline, snapshot(env.ec2, env.r53, cv)) == set(), "an earlier test left it broken"
    result = switch.apply(cv, env)
    assert changed(env.baseline, snapshot(env.ec2, env.r53, cv)) == switch.pieces
    switch.check(cv, env, result)
    switch.undo(cv, env)
    assert changed(env.baseline, snapshot(env.ec2, env.r53, cv)) == set()


def test_public_route_into_a_private_table_and_bad_kind(env: Env) -> None:
    cv = env.cv
    table = cv.private_route_table_ids[1]
    before = env.baseline
    cv.add_public_route(env.ec2, "igw", route_table_id=table)
    assert changed(before, snapshot(env.ec2, env.r53, cv)) == {"routes:private-1", "internet_gateways"}
    cv.remove_public_route(env.ec2)
    with pytest.raises(ValueError, match="kind"):
        cv.add_public_route(env.ec2, "vpn")
    assert changed(before, snapshot(env.ec2, env.r53, cv)) == set()
