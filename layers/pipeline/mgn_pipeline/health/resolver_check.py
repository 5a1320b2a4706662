"""The Route 53 Resolver inbound endpoint that on-premises DNS forwards ``amazonaws.com`` to."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed, warned
from mgn_pipeline.health.netrules import (
    EPHEMERAL_SAMPLE_PORTS,
    TCP,
    UDP,
    nacl_flow_problems,
    sg_rule_allowing,
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
