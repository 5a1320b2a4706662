"""One snapshot of the VPC as the EC2 and Route 53 Resolver APIs describe it, read once per run.

``NetworkInventory`` holds the describe_* answers unchanged (lists of the API's dicts), so the pure
checks in ``checks`` can be fed handcrafted inventories in unit tests. ``InventoryReader`` takes
injected ``boto3`` clients (``ec2``, ``route53resolver``) and reads everything concurrently: eight
round trips to the endpoints cost one round trip of wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mgn_pipeline.health.errors import NetworkInventoryUnavailable

Describe = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class NetworkInventory:
    vpc: dict[str, Any]
    subnets: Describe
    route_tables: Describe
    security_groups: Describe
    network_acls: Describe
    vpc_endpoints: Describe
    # Each resolver endpoint of the VPC, with its addresses merged in under "IpAddresses".
    resolver_endpoints: Describe
    # enableDnsSupport / enableDnsHostnames: private DNS names resolve only with both on.
    vpc_attributes: dict[str, bool] = field(default_factory=dict)
    # Sources that could not be read (e.g. "resolver": "AccessDenied ..."): the checks that need
    # them fail with this text as evidence instead of the whole run failing.
    read_errors: dict[str, str] = field(default_factory=dict)

    @property
    def vpc_cidrs(self) -> list[str]:
        associated = [
            a["CidrBlock"]
            for a in self.vpc.get("CidrBlockAssociationSet", [])
            if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
        ]
        return associated or ([self.vpc["CidrBlock"]] if "CidrBlock" in self.vpc else [])

    def subnet(self, subnet_id: str) -> dict[str, Any] | None:
        return next((s for s in self.subnets if s["SubnetId"] == subnet_id), None)

    def availability_zone(self, subnet_id: str) -> str | None:
        subnet = self.subnet(subnet_id)
        return str(subnet["AvailabilityZone"]) if subnet else None

    def security_group(self, group_id: str) -> dict[str, Any] | None:
        return next((g for g in self.security_groups if g["GroupId"] == group_id), None)

    def route_table_for(self, subnet_id: str) -> dict[str, Any] | None:
        """The subnet's explicitly associated route table, else the VPC's main table (AWS's rule)."""
        main = None
        for table in self.route_tables:
            for association in table.get("Associations", []):
                if association.get("SubnetId") == subnet_id:
                    return table
                if association.get("Main"):
                    main = table
        return main

    def network_acl_for(self, subnet_id: str) -> dict[str, Any] | None:
        return next(
            (
                acl
                for acl in self.network_acls
                if any(a.get("SubnetId") == subnet_id for a in acl.get("Associations", []))
            ),
            None,
        )

    def endpoints_for(self, service_name: str, endpoint_type: str) -> Describe:
        """Endpoints of one service and type, the usable ones (``available``) first."""
        found = [
            e
            for e in self.vpc_endpoints
            if e.get("ServiceName") == service_name and e.get("VpcEndpointType") == endpoint_type
        ]
        return sorted(found, key=lambda e: e.get("State", "").lower() != "available")


class InventoryReader:
    """Reads a ``NetworkInventory`` for one VPC. Clients are injected ``boto3`` clients."""

    def __init__(self, ec2: Any, route53resolver: Any, *, max_workers: int = 8) -> None:
        self._ec2 = ec2
        self._resolver = route53resolver
        self._max_workers = max_workers

    def prefix_list_cidrs(self, prefix_list_id: str) -> list[str]:
        """The CIDRs of a customer-managed prefix list (the template's OnPremPrefixListId)."""
        pages = self._ec2.get_paginator("get_managed_prefix_list_entries").paginate(
            PrefixListId=prefix_list_id
        )
        return [entry["Cidr"] for page in pages for entry in page.get("Entries", [])]

    def read(self, vpc_id: str) -> NetworkInventory:
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        reads: dict[str, Callable[[], Any]] = {
            "vpc": lambda: self._ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"],
            "subnets": lambda: self._paginate("describe_subnets", "Subnets", Filters=in_vpc),
            "route_tables": lambda: self._paginate("describe_route_tables", "RouteTables", Filters=in_vpc),
            "security_groups": lambda: self._paginate(
                "describe_security_groups", "SecurityGroups", Filters=in_vpc
            ),
            "network_acls": lambda: self._paginate("describe_network_acls", "NetworkAcls", Filters=in_vpc),
            "vpc_endpoints": lambda: self._paginate("describe_vpc_endpoints", "VpcEndpoints", Filters=in_vpc),
            "resolver": lambda: self._resolver_endpoints(vpc_id),
            "vpc_attributes": lambda: self._vpc_dns_attributes(vpc_id),
        }
        answers: dict[str, Any] = {}
        errors: dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="inventory") as pool:
            futures = {name: pool.submit(read) for name, read in reads.items()}
            for name, future in futures.items():
                try:
                    answers[name] = future.result()
                except Exception as exc:  # any read error becomes evidence, see read_errors
                    errors[name] = f"{type(exc).__name__}: {exc}"
        if "vpc" in errors or not answers.get("vpc"):
            raise NetworkInventoryUnavailable(
                f"cannot describe VPC {vpc_id}: {errors.get('vpc', 'not found')}. Check the HEALTH_VPC_ID "
                "setting, the function's ec2:DescribeVpcs permission and its path to the EC2 endpoint."
            )
        return NetworkInventory(
            vpc=answers["vpc"][0],
            subnets=answers.get("subnets", []),
            route_tables=answers.get("route_tables", []),
            security_groups=answers.get("security_groups", []),
            network_acls=answers.get("network_acls", []),
            vpc_endpoints=answers.get("vpc_endpoints", []),
            resolver_endpoints=answers.get("resolver", []),
            vpc_attributes=answers.get("vpc_attributes", {}),
            read_errors=errors,
        )

    def _paginate(self, operation: str, key: str, **kwargs: Any) -> Describe:
        pages = self._ec2.get_paginator(operation).paginate(**kwargs)
        return [item for page in pages for item in page.get(key, [])]

    def _vpc_dns_attributes(self, vpc_id: str) -> dict[str, bool]:
        attributes = {}
        for name in ("enableDnsSupport", "enableDnsHostnames"):
            answer = self._ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=name)
            attributes[name] = bool(answer[name[0].upper() + name[1:]]["Value"])
        return attributes

    def _resolver_endpoints(self, vpc_id: str) -> Describe:
        pages = self._resolver.get_paginator("list_resolver_endpoints").paginate()
        endpoints = [
            dict(e)
            for page in pages
            for e in page.get("ResolverEndpoints", [])
            if e.get("HostVPCId") == vpc_id and e.get("Direction") in {"INBOUND", "INBOUND_DELEGATION"}
        ]
        for endpoint in endpoints:
            addresses = self._resolver.get_paginator("list_resolver_endpoint_ip_addresses").paginate(
                ResolverEndpointId=endpoint["Id"]
            )
            endpoint["IpAddresses"] = [a for page in addresses for a in page.get("IpAddresses", [])]
        return endpoints
