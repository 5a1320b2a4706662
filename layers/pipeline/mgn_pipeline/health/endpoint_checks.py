"""Checks of the VPC endpoints: interface endpoints, their private DNS, gateway endpoints, and
the endpoint security groups' TCP 443 from every client network."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed, skipped, warned
from mgn_pipeline.health.netrules import (
    TCP,
    sg_rule_allowing,
)

# Who must reach each interface endpoint on 443 (../shared/mgn-facts.md, flows 2-6, plus the
# pipeline's own functions). S3 is absent from STAGING: replication servers use the gateway endpoint.
ON_PREM_CLIENT_SERVICES = frozenset({"mgn", "s3"})
STAGING_CLIENT_SERVICES = frozenset({"mgn", "ec2"})
FUNCTION_CLIENT_SERVICES_EXCLUDED = frozenset({"s3"})  # the functions never call S3


def endpoint_check_id(service: str) -> str:
    return f"endpoint.{service}"


def private_dns_check_id(service: str) -> str:
    return f"private-dns.{service}"


def subnet_cidrs(inv: NetworkInventory, subnet_ids: Iterable[str]) -> dict[str, str]:
    cidrs = {}
    for subnet_id in subnet_ids:
        subnet = inv.subnet(subnet_id)
        if subnet:
            cidrs[subnet_id] = str(subnet["CidrBlock"])
    return cidrs


def usable_interface_endpoint(
    inv: NetworkInventory, exp: NetworkExpectations, service: str
) -> dict[str, Any] | None:
    candidates = inv.endpoints_for(exp.endpoint_service_name(service), "Interface")
    if candidates and str(candidates[0].get("State", "")).lower() == "available":
        return candidates[0]
    return None


# ---------------------------------------------------------------------- endpoints
def check_interface_endpoint(inv: NetworkInventory, exp: NetworkExpectations, service: str) -> CheckResult:
    check_id = endpoint_check_id(service)
    service_name = exp.endpoint_service_name(service)
    create = (
        f"aws ec2 create-vpc-endpoint --vpc-id {exp.vpc_id} --vpc-endpoint-type Interface "
        f"--service-name {service_name} --subnet-ids {' '.join(exp.function_subnet_ids)} "
        f"--security-group-ids <endpoint security group> "
        + (
            "--no-private-dns-enabled"
            if service in exp.services_without_private_dns
            else "--private-dns-enabled"
        )
        + " (or deploy the stack with CreateVpcEndpoints=true)."
    )
    candidates = inv.endpoints_for(service_name, "Interface")
    if not candidates:
        return failed(
            check_id,
            f"No interface endpoint for {service_name} in {exp.vpc_id}: calls to {service} leave the VPC and fail.",
            f"Create it: {create}",
            vpcId=exp.vpc_id,
            serviceName=service_name,
        )
    endpoint = candidates[0]
    state = str(endpoint.get("State", "unknown"))
    evidence: dict[str, Any] = {
        "vpcEndpointId": endpoint.get("VpcEndpointId"),
        "state": state,
        "subnetIds": endpoint.get("SubnetIds", []),
    }
    if state.lower() != "available":
        return failed(
            check_id,
            f"Interface endpoint {endpoint.get('VpcEndpointId')} for {service} is {state}, not available.",
            "pendingAcceptance/pending: wait or accept it; failed/rejected/deleted/deleting: "
            f"delete it and create it again: {create}",
            **evidence,
        )
    zones = sorted({z for s in endpoint.get("SubnetIds", []) if (z := inv.availability_zone(s))})
    evidence["availabilityZones"] = zones
    if len(zones) < exp.min_availability_zones:
        return warned(
            check_id,
            f"Endpoint {endpoint.get('VpcEndpointId')} for {service} is in {len(zones)} AZ(s); "
            f"an outage of {zones[0] if zones else 'that AZ'} cuts {service} off.",
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint.get('VpcEndpointId')} "
            f"--add-subnet-ids <a private subnet in another AZ>",
            **evidence,
        )
    return passed(check_id, f"Interface endpoint for {service} is available in {len(zones)} AZs.", **evidence)


def check_private_dns(
    inv: NetworkInventory, exp: NetworkExpectations, service: str, failing: set[str]
) -> CheckResult:
    check_id = private_dns_check_id(service)
    if endpoint_check_id(service) in failing:
        return skipped(check_id, [endpoint_check_id(service)])
    endpoint = usable_interface_endpoint(inv, exp, service)
    if endpoint is None:  # endpoint check warned or was not run: nothing to judge
        return skipped(check_id, [endpoint_check_id(service)])
    endpoint_id = endpoint.get("VpcEndpointId")
    enabled = bool(endpoint.get("PrivateDnsEnabled"))
    vpc_dns = {k: inv.vpc_attributes.get(k) for k in ("enableDnsSupport", "enableDnsHostnames")}
    evidence = {"vpcEndpointId": endpoint_id, "privateDnsEnabled": enabled, "vpcAttributes": vpc_dns}
    if service in exp.services_without_private_dns:
        inbound_only = bool(
            (endpoint.get("DnsOptions") or {}).get("PrivateDnsOnlyForInboundResolverEndpoint")
        )
        if enabled and not inbound_only:
            return warned(
                check_id,
                f"Private DNS is on for {service} endpoint {endpoint_id}: the VPC's own {service} traffic "
                "bypasses the gateway endpoint (and its cost and policy).",
                f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} --dns-options "
                "PrivateDnsOnlyForInboundResolverEndpoint=true, or turn private DNS off and keep --s3-endpoint.",
                **evidence,
            )
        return passed(
            check_id,
            f"Private DNS is off for {service} as intended: on-prem names the endpoint, the VPC uses the gateway.",
            **evidence,
        )
    if not enabled:
        return failed(
            check_id,
            f"Private DNS is off on {service} endpoint {endpoint_id}: {exp.service_hostname(service)} "
            "resolves to public addresses, which a closed network cannot reach.",
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint_id} --private-dns-enabled",
            **evidence,
        )
    if False in vpc_dns.values():
        return failed(
            check_id,
            f"Private DNS is on for {service}, but the VPC has DNS support or DNS hostnames off, so the "
            "private name does not resolve.",
            f"aws ec2 modify-vpc-attribute --vpc-id {exp.vpc_id} --enable-dns-support; and again with "
            "--enable-dns-hostnames",
            **evidence,
        )
    return passed(check_id, f"Private DNS is on for {service} ({exp.service_hostname(service)}).", **evidence)


def check_gateway_endpoint(
    inv: NetworkInventory, exp: NetworkExpectations, service: str, subnet_ids: Iterable[str], who: str
) -> CheckResult:
    """A gateway endpoint whose routes reach the route table of every subnet in ``subnet_ids``."""
    check_id = f"gateway.{service}"
    service_name = exp.endpoint_service_name(service)
    tables = {s: inv.route_table_for(s) for s in subnet_ids}
    table_ids = sorted({str(t["RouteTableId"]) for t in tables.values() if t})
    available = [
        e
        for e in inv.endpoints_for(service_name, "Gateway")
        if str(e.get("State", "")).lower() == "available"
    ]
    if not available:
        return failed(
            check_id,
            f"No available gateway endpoint for {service_name}: {who} cannot reach {service}.",
            f"aws ec2 create-vpc-endpoint --vpc-id {exp.vpc_id} --vpc-endpoint-type Gateway "
            f"--service-name {service_name} --route-table-ids {' '.join(table_ids)}",
            routeTableIds=table_ids,
        )
    routed = {str(t) for e in available for t in e.get("RouteTableIds", [])}
    # The route itself is the proof: a gateway endpoint works through a prefix-list route to it.
    endpoint_ids = {e["VpcEndpointId"] for e in available}
    with_route = {
        str(t["RouteTableId"])
        for t in tables.values()
        if t
        and any(r.get("GatewayId") in endpoint_ids and r.get("DestinationPrefixListId") for r in t["Routes"])
    }
    missing = [t for t in table_ids if t not in routed or t not in with_route]
    evidence = {"vpcEndpointIds": sorted(endpoint_ids), "routeTableIds": table_ids, "missingRoutes": missing}
    if not table_ids or missing:
        return failed(
            check_id,
            f"The {service} gateway endpoint has no route in {', '.join(missing) or 'the subnets route tables'} "
            f"({who}).",
            f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {sorted(endpoint_ids)[0]} "
            f"--add-route-table-ids {' '.join(missing)}",
            **evidence,
        )
    return passed(check_id, f"Gateway endpoint for {service} routes {who}.", **evidence)


# ---------------------------------------------------------------------- security groups
def check_endpoint_ingress_443(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    check_id = "sg.endpoint-443"
    staging = subnet_cidrs(inv, [exp.staging_subnet_id])
    functions = subnet_cidrs(inv, exp.function_subnet_ids)
    missing: list[dict[str, Any]] = []
    seen: dict[str, list[str]] = {}
    for service in exp.interface_services:
        endpoint = usable_interface_endpoint(inv, exp, service)
        if endpoint is None:
            continue  # endpoint.<service> reports it
        group_ids = [g["GroupId"] for g in endpoint.get("Groups", [])]
        groups = [g for gid in group_ids if (g := inv.security_group(gid))]
        seen[service] = group_ids
        peers: dict[str, str] = {}
        if service in ON_PREM_CLIENT_SERVICES:
            peers |= {f"on-prem {c}": c for c in exp.on_prem_cidrs}
        if service in STAGING_CLIENT_SERVICES:
            peers |= {f"staging subnet {s}": c for s, c in staging.items()}
        if service not in FUNCTION_CLIENT_SERVICES_EXCLUDED:
            peers |= {f"function subnet {s}": c for s, c in functions.items()}
        for label, cidr in peers.items():
            peer_groups = exp.replication_security_group_ids if label.startswith("staging") else ()
            if sg_rule_allowing(groups, TCP, 443, cidr, peer_group_ids=peer_groups) is None:
                missing.append(
                    {
                        "service": service,
                        "vpcEndpointId": endpoint.get("VpcEndpointId"),
                        "groups": group_ids,
                        "from": label,
                        "cidr": cidr,
                    }
                )
    if missing:
        commands = sorted(
            {
                f"aws ec2 authorize-security-group-ingress --group-id {m['groups'][0] if m['groups'] else '<sg>'} "
                f"--protocol tcp --port 443 --cidr {m['cidr']}"
                for m in missing
            }
        )
        return failed(
            check_id,
            f"{len(missing)} flow(s) to interface endpoints on TCP 443 are not allowed by their security groups: "
            + "; ".join(f"{m['service']} from {m['from']}" for m in missing[:5]),
            "Allow TCP 443 in: " + " ; ".join(commands),
            missing=missing,
            endpointGroups=seen,
        )
    return passed(
        check_id, "Endpoint security groups accept TCP 443 from every client network.", endpointGroups=seen
    )
