"""Checks of the paths the traffic takes: the replication security group (TCP 1500 in, 443 out),
the staging and endpoint subnets' network ACLs, and routes with no way to the internet."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mgn_pipeline.health.endpoint_checks import subnet_cidrs, usable_interface_endpoint
from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed, warned
from mgn_pipeline.health.netrules import (
    EPHEMERAL_SAMPLE_PORTS,
    TCP,
    nacl_flow_problems,
    sg_rule_allowing,
)


def _replication_groups(inv: NetworkInventory, exp: NetworkExpectations) -> list[dict[str, Any]]:
    return [g for gid in exp.replication_security_group_ids if (g := inv.security_group(gid))]


def _gateway_prefix_lists(inv: NetworkInventory, exp: NetworkExpectations, service: str) -> set[str]:
    endpoint_ids = {
        e["VpcEndpointId"] for e in inv.endpoints_for(exp.endpoint_service_name(service), "Gateway")
    }
    return {
        str(r["DestinationPrefixListId"])
        for t in inv.route_tables
        for r in t.get("Routes", [])
        if r.get("GatewayId") in endpoint_ids and r.get("DestinationPrefixListId")
    }


def check_replication_sg(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    """Replication servers: 1500 in from on-prem (flow 1); 443 out to the endpoints and S3 (flows 4-6)."""
    check_id = "sg.replication-1500"
    groups = _replication_groups(inv, exp)
    unknown = [g for g in exp.replication_security_group_ids if not inv.security_group(g)]
    problems: list[str] = [f"security group {g} not found in {exp.vpc_id}" for g in unknown]
    fixes: list[str] = []
    target = exp.replication_security_group_ids[0] if exp.replication_security_group_ids else "<sg>"
    for cidr in exp.on_prem_cidrs:
        if sg_rule_allowing(groups, TCP, 1500, cidr) is None:
            problems.append(f"TCP 1500 from on-prem {cidr} not allowed in")
            fixes.append(
                f"aws ec2 authorize-security-group-ingress --group-id {target} --protocol tcp --port 1500 --cidr {cidr}"
            )
    for subnet_id, cidr in subnet_cidrs(inv, _subnets_of_endpoints(inv, exp, ("mgn", "ec2"))).items():
        if sg_rule_allowing(groups, TCP, 443, cidr, egress=True) is None:
            problems.append(f"TCP 443 out to endpoint subnet {subnet_id} ({cidr}) not allowed")
            fixes.append(
                f"aws ec2 authorize-security-group-egress --group-id {target} --protocol tcp --port 443 --cidr {cidr}"
            )
    s3_lists = _gateway_prefix_lists(inv, exp, "s3")
    if (
        s3_lists
        and sg_rule_allowing(groups, TCP, 443, "0.0.0.0/0", egress=True, peer_prefix_list_ids=s3_lists)
        is None
    ):
        problems.append(f"TCP 443 out to the S3 gateway prefix list {sorted(s3_lists)} not allowed")
        fixes.append(
            f"aws ec2 authorize-security-group-egress --group-id {target} --ip-permissions "
            f"IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={sorted(s3_lists)[0]}}}]"
        )
    evidence = {"groups": list(exp.replication_security_group_ids), "onPremCidrs": list(exp.on_prem_cidrs)}
    if problems:
        return failed(
            check_id,
            "Replication servers' security groups block MGN flows: " + "; ".join(problems),
            " ; ".join(fixes) or "Pass the right ReplicationSecurityGroupIds to the stack.",
            problems=problems,
            **evidence,
        )
    return passed(
        check_id,
        "Replication servers accept TCP 1500 from on-prem and reach 443 on the endpoints.",
        **evidence,
    )


# ---------------------------------------------------------------------- network ACLs
Flow = tuple[bool, str, tuple[int, ...], str]  # (egress, protocol, ports, peer CIDR)


def _nacl_check(
    inv: NetworkInventory,
    check_id: str,
    subnet_ids: Iterable[str],
    flows_for: Callable[[str], list[Flow]],
    what: str,
) -> CheckResult:
    problems: list[dict[str, Any]] = []
    acls: dict[str, str | None] = {}
    for subnet_id in subnet_ids:
        acl = inv.network_acl_for(subnet_id)
        acls[subnet_id] = acl.get("NetworkAclId") if acl else None
        if acl is None:
            continue  # cannot happen in AWS (a subnet always has a NACL); moto may omit the default one
        for egress, protocol, ports, peer in flows_for(subnet_id):
            for problem in nacl_flow_problems(
                acl, egress=egress, protocol=protocol, ports=ports, peer_cidr=peer
            ):
                problems.append({"subnetId": subnet_id, **problem})
    if problems:
        first = problems[0]
        fixes = sorted(
            {
                f"aws ec2 create-network-acl-entry --network-acl-id {p['networkAclId']} "
                f"--{'egress' if p['direction'] == 'outbound' else 'ingress'} --rule-number <below the deny> "
                f"--protocol {p['protocol']} --port-range From={p['port']},To={p['port']} "
                f"--cidr-block {p['peer']} --rule-action allow"
                for p in problems
                if p["port"] not in EPHEMERAL_SAMPLE_PORTS
            }
        )
        if any(p["port"] in EPHEMERAL_SAMPLE_PORTS for p in problems):
            fixes.append("allow the ephemeral return ports TCP 1024-65535 in the listed direction and peer")
        return failed(
            check_id,
            f"The network ACL of {what} blocks {len(problems)} flow(s), e.g. {first['direction']} "
            f"{first['protocol']} {first['port']} {'to' if first['direction'] == 'outbound' else 'from'} "
            f"{first['peer']} ({first['deniedBy']} of {first['networkAclId']}).",
            "Remove the deny entry or add an allow with a lower rule number: " + " ; ".join(fixes),
            problems=problems[:20],
            networkAcls=acls,
        )
    return passed(
        check_id, f"The network ACL of {what} passes the MGN flows and their return ports.", networkAcls=acls
    )


def _subnets_of_endpoints(
    inv: NetworkInventory, exp: NetworkExpectations, services: Iterable[str]
) -> list[str]:
    """The subnets the usable interface endpoints of ``services`` have their interfaces in."""
    found = {
        s
        for svc in services
        if (e := usable_interface_endpoint(inv, exp, svc))
        for s in e.get("SubnetIds", [])
    }
    return sorted(found)


def _endpoint_subnet_ids(inv: NetworkInventory, exp: NetworkExpectations) -> list[str]:
    return _subnets_of_endpoints(inv, exp, exp.interface_services) or list(exp.function_subnet_ids)


def check_staging_nacl(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    endpoint_cidrs = sorted(set(subnet_cidrs(inv, _endpoint_subnet_ids(inv, exp)).values()))

    def flows(_subnet_id: str) -> list[Flow]:
        result: list[Flow] = []
        for cidr in exp.on_prem_cidrs:  # flow 1: agent -> replication server 1500, and the replies
            result += [(False, TCP, (1500,), cidr), (True, TCP, EPHEMERAL_SAMPLE_PORTS, cidr)]
        for cidr in endpoint_cidrs:  # flows 4-5: replication server -> MGN/EC2 endpoints 443
            result += [(True, TCP, (443,), cidr), (False, TCP, EPHEMERAL_SAMPLE_PORTS, cidr)]
        return result

    return _nacl_check(
        inv, "nacl.staging-subnet", [exp.staging_subnet_id], flows, f"staging subnet {exp.staging_subnet_id}"
    )


def check_endpoint_nacl(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    cidrs = subnet_cidrs(inv, [exp.staging_subnet_id, *exp.function_subnet_ids])

    def flows(subnet_id: str) -> list[Flow]:
        subnet = inv.subnet(subnet_id)
        own = subnet["CidrBlock"] if subnet else None
        # Traffic inside one subnet never crosses its NACL.
        peers = [*exp.on_prem_cidrs, *(c for c in sorted(set(cidrs.values())) if c != own)]
        return [f for c in peers for f in ((False, TCP, (443,), c), (True, TCP, EPHEMERAL_SAMPLE_PORTS, c))]

    subnets = _endpoint_subnet_ids(inv, exp)
    return _nacl_check(inv, "nacl.endpoint-subnets", subnets, flows, f"endpoint subnets {', '.join(subnets)}")


# ---------------------------------------------------------------------- routes
_OPEN_TARGETS = (("GatewayId", "igw-"), ("NatGatewayId", "nat-"), ("EgressOnlyInternetGatewayId", "eigw-"))
_MAYBE_OPEN_TARGETS = ("InstanceId", "NetworkInterfaceId")


def check_closed_routes(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    check_id = "routes.closed"
    subnets = [*exp.function_subnet_ids, exp.staging_subnet_id]
    open_routes: list[dict[str, Any]] = []
    maybe_open: list[dict[str, Any]] = []
    tables: dict[str, str | None] = {}
    for subnet_id in subnets:
        table = inv.route_table_for(subnet_id)
        tables[subnet_id] = table.get("RouteTableId") if table else None
        if table is None:
            continue
        for route in table.get("Routes", []):
            if route.get("State", "active") != "active":
                continue  # a blackhole route carries nothing
            destination = (
                route.get("DestinationCidrBlock")
                or route.get("DestinationIpv6CidrBlock")
                or route.get("DestinationPrefixListId")
            )
            for key, prefix in _OPEN_TARGETS:
                if str(route.get(key, "")).startswith(prefix):
                    open_routes.append(
                        {
                            "subnetId": subnet_id,
                            "routeTableId": table["RouteTableId"],
                            "destination": destination,
                            "target": route[key],
                        }
                    )
            for key in _MAYBE_OPEN_TARGETS:
                if route.get(key) and destination in {"0.0.0.0/0", "::/0"}:
                    maybe_open.append(
                        {
                            "subnetId": subnet_id,
                            "routeTableId": table["RouteTableId"],
                            "destination": destination,
                            "target": route[key],
                        }
                    )
    if open_routes:
        r = open_routes[0]
        return failed(
            check_id,
            f"Not closed: {len(open_routes)} route(s) to an internet or NAT gateway, e.g. {r['destination']} -> "
            f"{r['target']} in {r['routeTableId']} (subnet {r['subnetId']}).",
            " ; ".join(
                sorted(
                    {
                        f"aws ec2 delete-route --route-table-id {o['routeTableId']} "
                        f"--destination-cidr-block {o['destination']}"
                        for o in open_routes
                    }
                )
            )
            + " (and detach the internet gateway from the VPC if nothing needs it).",
            openRoutes=open_routes,
            routeTables=tables,
        )
    if maybe_open:
        return warned(
            check_id,
            "A default route points at an instance or network interface (a NAT or proxy instance would open the network).",
            "Confirm the target is an on-prem path (firewall to Direct Connect/VPN), not a NAT or proxy to the internet.",
            routes=maybe_open,
            routeTables=tables,
        )
    return passed(
        check_id,
        "No route to an internet or NAT gateway from the pipeline or staging subnets.",
        routeTables=tables,
    )
