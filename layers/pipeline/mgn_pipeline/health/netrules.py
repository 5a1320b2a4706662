"""Evaluate security-group and network-ACL rules for one flow, the way AWS does. Pure functions.

A *flow* is (protocol, port, peer CIDR). Peers are whole networks (an on-prem /16, a subnet), so a
rule decides a flow only if it covers the *whole* peer network:

* security groups are allow-lists: a flow passes if any rule of any attached group covers it;
* network ACLs are ordered: the lowest-numbered rule that matches decides; a deny that touches
  *part* of the peer already breaks that part, so it counts as a deny (conservative on purpose: a
  half-working network is the hardest to diagnose). No matching rule means AWS's implicit deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

TCP, UDP = "tcp", "udp"
_PROTOCOL_NUMBERS = {TCP: "6", UDP: "17"}
# Return traffic goes to the client's ephemeral port: Linux uses 32768-60999, Windows 49152-65535,
# and AWS recommends opening 1024-65535. Sampling both ends and the OS ranges finds a rule that
# covers only part of it.
EPHEMERAL_SAMPLE_PORTS = (1024, 32768, 49152, 60999, 65535)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def contains(outer: str, inner: str) -> bool:
    """Whether CIDR ``outer`` contains all of CIDR ``inner`` (different IP versions: never)."""
    a, b = network(outer), network(inner)
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def overlaps(a: str, b: str) -> bool:
    x, y = network(a), network(b)
    return x.version == y.version and x.overlaps(y)


def address_in(address: str, cidrs: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in network(cidr) for cidr in cidrs)


def is_private_address(address: str) -> bool:
    """RFC 1918, 100.64/10 (shared), link-local and ULA: addresses that never route on the internet."""
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip in ipaddress.ip_network("100.64.0.0/10")


# ---------------------------------------------------------------------- security groups
def _permission_covers_port(permission: dict[str, Any], protocol: str, port: int) -> bool:
    ip_protocol = str(permission.get("IpProtocol", ""))
    if ip_protocol == "-1":
        return True
    if ip_protocol not in {protocol, _PROTOCOL_NUMBERS[protocol]}:
        return False
    return int(permission.get("FromPort", -1)) <= port <= int(permission.get("ToPort", -1))


def sg_rule_allowing(
    groups: Sequence[dict[str, Any]],
    protocol: str,
    port: int,
    peer_cidr: str,
    *,
    egress: bool = False,
    peer_group_ids: Iterable[str] = (),
    peer_prefix_list_ids: Iterable[str] = (),
) -> dict[str, Any] | None:
    """The first rule (as evidence) of ``groups`` that admits the flow, or None.

    A peer also matches by security-group reference (``peer_group_ids``, e.g. the replication
    servers' groups) or by prefix list (``peer_prefix_list_ids``, e.g. S3's for the gateway endpoint).
    """
    group_refs, prefix_lists = set(peer_group_ids), set(peer_prefix_list_ids)
    for group in groups:
        for permission in group.get("IpPermissionsEgress" if egress else "IpPermissions", []):
            if not _permission_covers_port(permission, protocol, port):
                continue
            where = {"groupId": group.get("GroupId"), "protocol": permission.get("IpProtocol")}
            where |= {"fromPort": permission.get("FromPort"), "toPort": permission.get("ToPort")}
            for ip_range in [*permission.get("IpRanges", []), *permission.get("Ipv6Ranges", [])]:
                cidr = ip_range.get("CidrIp") or ip_range.get("CidrIpv6")
                if cidr and contains(cidr, peer_cidr):
                    return where | {"cidr": cidr}
            for pair in permission.get("UserIdGroupPairs", []):
                if pair.get("GroupId") in group_refs:
                    return where | {"sourceGroup": pair["GroupId"]}
            for prefix_list in permission.get("PrefixListIds", []):
                if prefix_list.get("PrefixListId") in prefix_lists:
                    return where | {"prefixList": prefix_list["PrefixListId"]}
    return None


# ---------------------------------------------------------------------- network ACLs
def _entry_matches_port(entry: dict[str, Any], protocol: str, port: int) -> bool:
    entry_protocol = str(entry.get("Protocol", ""))
    if entry_protocol == "-1":
        return True
    if entry_protocol != _PROTOCOL_NUMBERS[protocol]:
        return False
    port_range = entry.get("PortRange")
    return port_range is None or int(port_range["From"]) <= port <= int(port_range["To"])


def nacl_decision(
    acl: dict[str, Any], *, egress: bool, protocol: str, port: int, peer_cidr: str
) -> tuple[bool, dict[str, Any] | None]:
    """(allowed, deciding entry) for one flow through ``acl``; entry None means the implicit deny."""
    entries = sorted(
        (e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress),
        key=lambda e: int(e["RuleNumber"]),
    )
    for entry in entries:
        cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
        if not cidr or not _entry_matches_port(entry, protocol, port) or not overlaps(cidr, peer_cidr):
            continue
        if entry.get("RuleAction") == "deny":
            return False, entry
        if contains(cidr, peer_cidr):
            return True, entry
        # An allow for only part of the peer: the rest falls through to later rules.
    return False, None


def nacl_flow_problems(
    acl: dict[str, Any], *, egress: bool, protocol: str, ports: Iterable[int], peer_cidr: str
) -> list[dict[str, Any]]:
    """Each sampled port of the flow that ``acl`` blocks, with the rule that blocks it."""
    problems = []
    for port in ports:
        allowed, entry = nacl_decision(acl, egress=egress, protocol=protocol, port=port, peer_cidr=peer_cidr)
        if not allowed:
            problems.append(
                {
                    "networkAclId": acl.get("NetworkAclId"),
                    "direction": "outbound" if egress else "inbound",
                    "protocol": protocol,
                    "port": port,
                    "peer": peer_cidr,
                    "deniedBy": f"rule {entry['RuleNumber']}"
                    if entry
                    else "no matching rule (implicit deny)",
                }
            )
    return problems
