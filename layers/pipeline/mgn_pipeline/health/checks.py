"""The checks that read only the inventory: endpoints, security groups, NACLs, routes, Resolver, S3 policy.

Each check returns one ``CheckResult`` with the evidence it saw and, unless it passed, the fix an
operator applies. Check ids are stable (metrics and alarms are keyed by them):

``endpoint.<svc>``, ``private-dns.<svc>``, ``gateway.s3``, ``gateway.dynamodb``, ``sg.endpoint-443``,
``sg.replication-1500``, ``nacl.staging-subnet``, ``nacl.endpoint-subnets``, ``routes.closed``,
``resolver.inbound``, ``s3-policy``, ``inventory.read``; the probes (``runner``) add ``dns.<svc>`` and
``reach.<svc>``.

Severity rule: FAIL when a flow of the closed-network checklist is broken (or cannot be proven);
WARN when it works today but is fragile (one AZ, a policy with conditions this code cannot evaluate).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from typing import Any

from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed, skipped, warned
from mgn_pipeline.health.netrules import (
    EPHEMERAL_SAMPLE_PORTS,
    TCP,
    UDP,
    nacl_flow_problems,
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


def _subnet_cidrs(inv: NetworkInventory, subnet_ids: Iterable[str]) -> dict[str, str]:
    cidrs = {}
    for subnet_id in subnet_ids:
        subnet = inv.subnet(subnet_id)
        if subnet:
            cidrs[subnet_id] = str(subnet["CidrBlock"])
    return cidrs


def _usable_interface_endpoint(
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
    endpoint = _usable_interface_endpoint(inv, exp, service)
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
    staging = _subnet_cidrs(inv, [exp.staging_subnet_id])
    functions = _subnet_cidrs(inv, exp.function_subnet_ids)
    missing: list[dict[str, Any]] = []
    seen: dict[str, list[str]] = {}
    for service in exp.interface_services:
        endpoint = _usable_interface_endpoint(inv, exp, service)
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
    endpoint_subnets = {
        s
        for svc in ("mgn", "ec2")
        if (e := _usable_interface_endpoint(inv, exp, svc))
        for s in e.get("SubnetIds", [])
    }
    for subnet_id, cidr in _subnet_cidrs(inv, sorted(endpoint_subnets)).items():
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


def _endpoint_subnet_ids(inv: NetworkInventory, exp: NetworkExpectations) -> list[str]:
    found = {
        s
        for svc in exp.interface_services
        if (e := _usable_interface_endpoint(inv, exp, svc))
        for s in e.get("SubnetIds", [])
    }
    return sorted(found) or list(exp.function_subnet_ids)


def check_staging_nacl(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    endpoint_cidrs = sorted(set(_subnet_cidrs(inv, _endpoint_subnet_ids(inv, exp)).values()))

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
    cidrs = _subnet_cidrs(inv, [exp.staging_subnet_id, *exp.function_subnet_ids])

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


# ---------------------------------------------------------------------- Route 53 Resolver
def dns_forwarder(addresses: list[str]) -> dict[str, Any]:
    """The conditional forwarder the on-prem DNS team configures, in the two common dialects."""
    return {
        "zone": "amazonaws.com",
        "forwardTo": addresses,
        "windows": f"Add-DnsServerConditionalForwarderZone -Name amazonaws.com -MasterServers {','.join(addresses)}",
        "bind": f'zone "amazonaws.com" {{ type forward; forward only; forwarders {{ {"; ".join(addresses)}; }}; }};',
    }


def check_resolver(inv: NetworkInventory, exp: NetworkExpectations) -> tuple[CheckResult, dict[str, Any]]:
    """The Resolver inbound endpoint; also returns the forwarder to print (empty if none)."""
    check_id = "resolver.inbound"
    create = (
        f"aws route53resolver create-resolver-endpoint --direction INBOUND --name mgn-inbound "
        f"--creator-request-id $(date +%s) --security-group-ids <sg allowing 53 from on-prem DNS> "
        f"--ip-addresses {' '.join(f'SubnetId={s}' for s in exp.function_subnet_ids)}"
    )
    if "resolver" in inv.read_errors:
        return failed(
            check_id,
            f"Cannot read Route 53 Resolver endpoints: {inv.read_errors['resolver']}",
            "Allow route53resolver:ListResolverEndpoints and ListResolverEndpointIpAddresses to the function "
            "and give it a path to the Route 53 Resolver API.",
        ), {}
    endpoints = sorted(inv.resolver_endpoints, key=lambda e: e.get("Status") != "OPERATIONAL")
    if not endpoints:
        return failed(
            check_id,
            f"No Route 53 Resolver inbound endpoint in {exp.vpc_id}: on-prem DNS cannot resolve the endpoints' "
            "private names, so agents go to public MGN and S3 addresses.",
            f"Create one in two AZs: {create}; then have on-prem DNS forward amazonaws.com to its addresses.",
        ), {}
    endpoint = endpoints[0]
    addresses = [a for a in endpoint.get("IpAddresses", []) if a.get("Status", "ATTACHED") == "ATTACHED"]
    ips = [str(a["Ip"]) for a in addresses if a.get("Ip")]
    zones = sorted({z for a in addresses if (z := inv.availability_zone(a.get("SubnetId", "")))})
    forwarder = dns_forwarder(ips)
    evidence: dict[str, Any] = {
        "resolverEndpointId": endpoint.get("Id"),
        "status": endpoint.get("Status"),
        "addresses": ips,
        "availabilityZones": zones,
        "forwarder": forwarder,
    }
    if endpoint.get("Status") != "OPERATIONAL":
        return failed(
            check_id,
            f"Resolver inbound endpoint {endpoint.get('Id')} is {endpoint.get('Status')}: {endpoint.get('StatusMessage', '')}",
            f"Wait for OPERATIONAL, or delete it and create it again: {create}",
            **evidence,
        ), forwarder
    groups = [g for gid in endpoint.get("SecurityGroupIds", []) if (g := inv.security_group(gid))]
    problems = [
        f"{protocol.upper()} 53 from {cidr} not allowed by {endpoint.get('SecurityGroupIds')}"
        for cidr in exp.dns_client_cidrs
        for protocol in (UDP, TCP)
        if sg_rule_allowing(groups, protocol, 53, cidr) is None
    ]
    for address in addresses:
        acl = inv.network_acl_for(address.get("SubnetId", ""))
        for cidr in exp.dns_client_cidrs:
            for protocol in (UDP, TCP):
                for egress, ports in ((False, (53,)), (True, EPHEMERAL_SAMPLE_PORTS)):
                    for p in (
                        nacl_flow_problems(
                            acl or {}, egress=egress, protocol=protocol, ports=ports, peer_cidr=cidr
                        )
                        if acl
                        else []
                    ):
                        problems.append(
                            f"NACL {p['networkAclId']} blocks {p['direction']} {protocol} {p['port']} ({cidr})"
                        )
    if problems:
        sg = (endpoint.get("SecurityGroupIds") or ["<sg>"])[0]
        return failed(
            check_id,
            "On-prem DNS servers cannot reach the Resolver inbound endpoint on port 53: "
            + "; ".join(problems[:4]),
            " ; ".join(
                f"aws ec2 authorize-security-group-ingress --group-id {sg} --protocol {p} --port 53 --cidr {c}"
                for c in exp.dns_client_cidrs
                for p in (UDP, TCP)
            )
            + " ; and allow UDP/TCP 53 in and 1024-65535 out in the subnets' network ACLs.",
            problems=problems,
            **evidence,
        ), forwarder
    if len(zones) < exp.min_availability_zones:
        return warned(
            check_id,
            f"Resolver inbound endpoint has addresses in {len(zones)} AZ(s); on-prem DNS loses the VPC in an AZ outage.",
            f"aws route53resolver associate-resolver-endpoint-ip-address --resolver-endpoint-id {endpoint.get('Id')} "
            "--ip-address SubnetId=<subnet in another AZ>",
            **evidence,
        ), forwarder
    return passed(
        check_id,
        f"Resolver inbound endpoint is operational in {len(zones)} AZs; on-prem DNS forwards amazonaws.com to "
        f"{', '.join(ips)}.",
        **evidence,
    ), forwarder


# ---------------------------------------------------------------------- S3 endpoint policy
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_is_anyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))


def _matches(patterns: Any, value: str, *, case_sensitive: bool) -> bool:
    if case_sensitive:
        return any(fnmatch.fnmatchcase(value, str(p)) for p in _as_list(patterns))
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def bucket_access(policy: dict[str, Any], bucket: str) -> str:
    """'allowed', 'denied', 'conditional' (allowed only under conditions or principals this code
    does not evaluate) or 'not-allowed', for s3:GetObject on an object of ``bucket``."""
    action, resource = "s3:GetObject", f"arn:aws:s3:::{bucket}/mgn-health-probe"
    verdict = "not-allowed"
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        if any(k in statement for k in ("NotAction", "NotResource", "NotPrincipal")):
            applies = "uncertain"
        elif _matches(statement.get("Action", []), action, case_sensitive=False) and _matches(
            statement.get("Resource", []), resource, case_sensitive=True
        ):
            applies = "yes"
        else:
            continue
        if statement.get("Effect") == "Deny":
            if applies == "yes" and not statement.get("Condition"):
                return "denied"
            verdict = "conditional"
        elif (
            applies == "yes"
            and _principal_is_anyone(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            verdict = "allowed" if verdict != "conditional" else verdict
        elif verdict == "not-allowed":
            verdict = "conditional"
    return verdict


def check_s3_policy(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    check_id = "s3-policy"
    service_name = exp.endpoint_service_name("s3")
    endpoints = [
        e
        for kind in ("Gateway", "Interface")
        for e in inv.endpoints_for(service_name, kind)
        if str(e.get("State", "")).lower() == "available"
    ]
    if not endpoints:
        return warned(check_id, "No S3 endpoint to evaluate.", "See gateway.s3 and endpoint.s3.")
    verdicts: dict[str, dict[str, str]] = {}
    for endpoint in endpoints:
        raw = endpoint.get("PolicyDocument")
        try:
            policy = (
                json.loads(raw)
                if isinstance(raw, str)
                else (
                    raw
                    or {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
                )
            )
        except json.JSONDecodeError:
            policy = {}
        verdicts[endpoint["VpcEndpointId"]] = {
            b: bucket_access(policy, b) for b in [*exp.mgn_buckets(), exp.ssm_bucket()]
        }
    blocked = {
        eid: sorted(b for b, v in per.items() if v in {"denied", "not-allowed"} and b != exp.ssm_bucket())
        for eid, per in verdicts.items()
    }
    blocked = {eid: buckets for eid, buckets in blocked.items() if buckets}
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{b}/*" for b in [*exp.mgn_buckets(), exp.ssm_bucket()]],
    }
    if blocked:
        eid, buckets = next(iter(blocked.items()))
        return failed(
            check_id,
            f"The S3 endpoint policy of {', '.join(blocked)} does not allow the MGN buckets "
            f"(e.g. {', '.join(buckets[:3])}): agents cannot download, replication servers cannot start.",
            f"Add this statement to the policy of {', '.join(blocked)} (aws ec2 modify-vpc-endpoint "
            f"--vpc-endpoint-id {eid} --policy-document file://policy.json): {json.dumps(statement)}",
            blocked=blocked,
            verdicts=verdicts,
        )
    unsure = {eid: sorted(b for b, v in per.items() if v != "allowed") for eid, per in verdicts.items()}
    unsure = {eid: b for eid, b in unsure.items() if b}
    if unsure:
        return warned(
            check_id,
            "The S3 endpoint policies allow the MGN buckets, but some access is conditional or the SSM bucket "
            f"({exp.ssm_bucket()}, post-launch actions) is not allowed: {unsure}",
            f"Confirm the conditions hold for the agent and replication servers, or add: {json.dumps(statement)}",
            verdicts=verdicts,
        )
    return passed(
        check_id, f"S3 endpoint policies of {', '.join(verdicts)} allow every MGN bucket.", verdicts=verdicts
    )


# ---------------------------------------------------------------------- all of them
def check_inventory_complete(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    """Whether every describe call answered; the other checks judge what they were given."""
    # resolver.inbound reports the resolver's read error itself.
    errors = {k: v for k, v in inv.read_errors.items() if k != "resolver"}
    if errors:
        return failed(
            "inventory.read",
            f"Could not read {', '.join(sorted(errors))}: checks that need them report missing resources.",
            "Give the function ec2:DescribeSubnets, DescribeRouteTables, DescribeSecurityGroups, DescribeNetworkAcls, "
            "DescribeVpcEndpoints and DescribeVpcAttribute, and a path to the EC2 endpoint.",
            errors=errors,
        )
    return passed("inventory.read", f"Read {exp.vpc_id}: every describe call answered.")


def static_checks(
    inv: NetworkInventory, exp: NetworkExpectations
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Every inventory check, endpoints first (the private-DNS checks depend on them). Also returns
    the DNS forwarder for the report."""
    results = [check_inventory_complete(inv, exp)]
    results += [check_interface_endpoint(inv, exp, s) for s in exp.interface_services]
    failing = {r.check_id for r in results if r.status == "FAIL"}
    results += [check_private_dns(inv, exp, s, failing) for s in exp.interface_services]
    results += [
        check_gateway_endpoint(
            inv, exp, "s3", [exp.staging_subnet_id], "the staging subnet (replication servers)"
        ),
        check_gateway_endpoint(
            inv, exp, "dynamodb", exp.function_subnet_ids, "the pipeline's function subnets"
        ),
        check_endpoint_ingress_443(inv, exp),
        check_replication_sg(inv, exp),
        check_staging_nacl(inv, exp),
        check_endpoint_nacl(inv, exp),
        check_closed_routes(inv, exp),
    ]
    resolver, forwarder = check_resolver(inv, exp)
    results += [resolver, check_s3_policy(inv, exp)]
    return results, forwarder
