"""A closed landing zone in moto: the VPC a real user brings to this stack, plus switches that break it.

``build_closed_vpc`` creates, inside an active ``moto.mock_aws``, the network that the MGN pipeline
assumes (the MGN closed-network checklist: flows 443/1500, endpoints, S3 policy, inbound DNS):

* VPC 10.0.0.0/16 with DNS support and DNS hostnames (interface endpoints' private DNS needs both);
* two private subnets in two AZs (functions, interface endpoints, Resolver), a staging subnet (MGN
  replication servers) and a launch subnet (test/cutover instances), each with its own route table
  holding only the local route and gateway-endpoint routes: no internet gateway, no NAT;
* security groups for the endpoints (443 in), the replication servers (1500 in, 443 out), the
  functions (443 out) and the Resolver inbound endpoint (53 in);
* custom network ACLs on the private and staging subnets with explicit allow rules and an explicit
  final deny (moto's custom NACLs lack the default ``*`` deny entries AWS adds);
* interface endpoints (private DNS on, except S3), S3 and DynamoDB gateway endpoints, an S3 endpoint
  policy that allows the MGN buckets of the Region, and a Route 53 Resolver inbound endpoint.

``ClosedVpc`` holds every id, turns them into the template's parameters, and offers one switch per
failure the health checks must catch; each switch has an undo.

moto 5.2.5 limitations met here (the first and third are pinned by tests/emulator/test_vpc.py):

* ``modify_vpc_endpoint(PrivateDnsEnabled=...)`` is accepted and ignored; the private-DNS switches fall
  back to replacing the endpoint (delete + create), so under moto the endpoint id changes.
* A deleted endpoint stays visible with ``State: deleted`` (AWS shows ``deleting``, then drops it).
* Custom NACLs are created without the default deny entries (rule ``*``/32767).
* A gateway endpoint reports ``PrivateDnsEnabled: true``.
* A public NAT gateway is created in a subnet with no route to an internet gateway without complaint
  (in AWS such a NAT has no internet path); nothing checks whether a subnet is public.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

VPC_CIDR = "10.0.0.0/16"
PRIVATE_SUBNET_CIDRS = ("10.0.1.0/24", "10.0.2.0/24")
STAGING_SUBNET_CIDR = "10.0.10.0/24"
LAUNCH_SUBNET_CIDR = "10.0.20.0/24"
ANYWHERE = "0.0.0.0/0"
_resolver_requests = itertools.count(1)

DEFAULT_ENDPOINT_SERVICES = ("mgn", "ec2", "s3", "sns", "states", "ssm", "ssmmessages", "ec2messages", "sts")

# The S3 interface endpoint is reached by name (--s3-endpoint); private DNS stays off because the
# VPC's own S3 traffic uses the gateway endpoint (the template does the same).
SERVICES_WITHOUT_PRIVATE_DNS = frozenset({"s3"})

# NACL rule numbers: switches insert denies below ALLOW_RULE_BASE so they win; FINAL_DENY_RULE is the
# highest number the API accepts and stands in for AWS's implicit "*" deny that moto omits.
ALLOW_RULE_BASE = 100
GATEWAY_ENDPOINT_RULE = 900
FINAL_DENY_RULE = 32766
FIRST_SWITCH_DENY_RULE = 50

TCP, UDP, ALL = "6", "17", "-1"
EPHEMERAL = (1024, 65535)

# (protocol, from_port, to_port) allowed between the closed subnets and each peer, both directions.
NACL_PEER_RULES: tuple[tuple[str, int, int], ...] = (
    (TCP, 443, 443),  # HTTPS to/from interface endpoints
    (TCP, 1500, 1500),  # MGN data replication (agent -> replication server)
    (TCP, 53, 53),  # DNS through the Resolver inbound endpoint
    (UDP, 53, 53),
    (TCP, *EPHEMERAL),  # return traffic of the flows above
    (UDP, *EPHEMERAL),
)


def mgn_bucket_names(region: str) -> list[str]:
    """The S3 buckets MGN's agent and replication servers read in ``region`` (MGN docs)."""
    return [
        f"aws-mgn-clients-{region}",
        f"aws-mgn-clients-hashes-{region}",
        f"aws-mgn-internal-{region}",
        f"aws-mgn-internal-hashes-{region}",
        f"aws-application-migration-service-{region}",
        f"aws-application-migration-service-hashes-{region}",
    ]


def s3_endpoint_policy(region: str, *, include_mgn: bool = True) -> dict[str, Any]:
    """An S3 endpoint policy: read access to the MGN buckets and amazon-ssm-REGION (post-launch actions).

    With ``include_mgn=False`` only the SSM bucket remains: the "narrowed" policy of the switch.
    """
    buckets = [*(mgn_bucket_names(region) if include_mgn else []), f"amazon-ssm-{region}"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MgnAndSsmBuckets" if include_mgn else "SsmBucketOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [arn for b in buckets for arn in (f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*")],
            }
        ],
    }


def _tags(resource_type: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def _ip_rule(protocol: str, port_from: int, port_to: int, cidrs: Iterable[str], why: str) -> dict[str, Any]:
    return {
        "IpProtocol": protocol,
        "FromPort": port_from,
        "ToPort": port_to,
        "IpRanges": [{"CidrIp": c, "Description": why} for c in cidrs],
    }


def _prefix_list_id(ec2: Any, region: str, service: str) -> str:
    """The AWS-managed prefix list of a gateway service; a plausible id if moto has none."""
    lists = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.{service}"]}]
    )["PrefixLists"]
    if lists:
        return str(lists[0]["PrefixListId"])
    return {"dynamodb": "pl-02cd2c6b", "s3": "pl-63a5400a"}.get(service, "pl-00000000")


@dataclass
class PublicRoute:
    """What ``add_public_route`` created, so ``remove_public_route`` can take it away again."""

    kind: str
    route_table_id: str
    gateway_id: str
    allocation_id: str | None = None


@dataclass
class ClosedVpc:
    """Every id of the closed landing zone, its template parameters, and switches that break it.

    Switches take the clients explicitly (the dataclass holds ids only) and each has an undo:
    ``delete_endpoint``/``restore_endpoint``, ``disable_private_dns``/``enable_private_dns``,
    ``remove_endpoint_ingress_443``/``restore_endpoint_ingress_443``,
    ``remove_replication_ingress_1500``/``restore_replication_ingress_1500``,
    ``add_nacl_deny``/``remove_nacl_deny``, ``add_public_route``/``remove_public_route``,
    ``delete_resolver_endpoint``/``restore_resolver_endpoint``,
    ``narrow_s3_endpoint_policy``/``restore_s3_endpoint_policy``. Recreating an endpoint gives it a new
    id; the id fields are updated in place.
    """

    region: str
    vpc_id: str
    vpc_cidr: str
    availability_zones: list[str]
    private_subnet_ids: list[str]
    private_route_table_ids: list[str]
    staging_subnet_id: str
    staging_route_table_ids: list[str]
    launch_subnet_id: str
    launch_route_table_id: str
    replication_security_group_ids: list[str]
    function_security_group_id: str
    endpoint_security_group_id: str
    resolver_security_group_id: str
    private_network_acl_id: str
    staging_network_acl_id: str
    endpoint_ids: dict[str, str]  # interface endpoints by service ("mgn", "s3", ...)
    gateway_endpoint_ids: dict[str, str]  # "s3", "dynamodb"
    resolver_endpoint_id: str | None
    resolver_ip_addresses: list[dict[str, str]]  # [{"SubnetId", "Ip"}], kept to recreate with same IPs
    on_prem_cidrs: list[str]
    # The customer-managed prefix list of on-prem networks the template takes (OnPremPrefixListId).
    on_prem_prefix_list_id: str
    dynamodb_prefix_list_id: str
    s3_prefix_list_id: str
    s3_endpoint_policy: dict[str, Any]
    # Switch bookkeeping (for the undo methods).
    _nacl_denies: dict[int, list[tuple[int, bool]]] = field(default_factory=dict, repr=False)
    _public_routes: list[PublicRoute] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ template
    def template_parameters(self, *, create_vpc_endpoints: bool | None = None) -> dict[str, str]:
        """The template's "Closed network" parameters, keyed exactly as in template.yaml.

        CreateVpcEndpoints defaults to "false" when this landing zone already has endpoints: a second
        private-DNS interface endpoint for a service, or a second S3/DynamoDB gateway route in the same
        route table, is rejected by AWS.
        """
        if create_vpc_endpoints is None:
            create_vpc_endpoints = not (self.endpoint_ids or self.gateway_endpoint_ids)
        return {
            "VpcId": self.vpc_id,
            "VpcCidr": self.vpc_cidr,
            "PrivateSubnetIds": ",".join(self.private_subnet_ids),
            "PrivateRouteTableIds": ",".join(self.private_route_table_ids),
            "StagingSubnetId": self.staging_subnet_id,
            "StagingRouteTableIds": ",".join(self.staging_route_table_ids),
            "ReplicationSecurityGroupIds": ",".join(self.replication_security_group_ids),
            "OnPremPrefixListId": self.on_prem_prefix_list_id,
            "DynamoDbPrefixListId": self.dynamodb_prefix_list_id,
            "CreateVpcEndpoints": "true" if create_vpc_endpoints else "false",
        }

    @property
    def route_table_ids(self) -> list[str]:
        """Every route table this landing zone created (private, staging, launch)."""
        return [*self.private_route_table_ids, *self.staging_route_table_ids, self.launch_route_table_id]

    # ------------------------------------------------------------------ endpoints
    def _interface_endpoint_spec(self, service: str, private_dns: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "VpcId": self.vpc_id,
            "ServiceName": f"com.amazonaws.{self.region}.{service}",
            "VpcEndpointType": "Interface",
            "SubnetIds": list(self.private_subnet_ids),
            "SecurityGroupIds": [self.endpoint_security_group_id],
            "PrivateDnsEnabled": private_dns,
            "TagSpecifications": _tags("vpc-endpoint", f"closed-{service}"),
        }
        if service == "s3":
            spec["PolicyDocument"] = json.dumps(self.s3_endpoint_policy)
        return spec

    def _gateway_endpoint_spec(self, service: str) -> dict[str, Any]:
        # S3: replication servers (staging) and launched instances (post-launch SSM scripts from
        # amazon-ssm-REGION). DynamoDB: the pipeline's functions in the private subnets.
        route_tables = (
            [*self.staging_route_table_ids, self.launch_route_table_id]
            if service == "s3"
            else list(self.private_route_table_ids)
        )
        spec: dict[str, Any] = {
            "VpcId": self.vpc_id,
            "ServiceName": f"com.amazonaws.{self.region}.{service}",
            "VpcEndpointType": "Gateway",
            "RouteTableIds": route_tables,
            "TagSpecifications": _tags("vpc-endpoint", f"closed-{service}-gateway"),
        }
        if service == "s3":
            spec["PolicyDocument"] = json.dumps(self.s3_endpoint_policy)
        return spec

    def delete_endpoint(self, ec2: Any, service: str, *, gateway: bool = False) -> str:
        """Delete the interface (or, with ``gateway=True``, gateway) endpoint of ``service``.

        Returns the deleted id. Undo: ``restore_endpoint`` (creates a new endpoint, new id). Deleting a
        gateway endpoint also removes its prefix-list routes (AWS and moto both do).
        """
        ids = self.gateway_endpoint_ids if gateway else self.endpoint_ids
        endpoint_id = ids.pop(service)
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        return endpoint_id

    def restore_endpoint(self, ec2: Any, service: str, *, gateway: bool = False) -> str:
        """Recreate the endpoint ``delete_endpoint`` removed, as ``build_closed_vpc`` made it."""
        if gateway:
            new_id = ec2.create_vpc_endpoint(**self._gateway_endpoint_spec(service))["VpcEndpoint"]
            self.gateway_endpoint_ids[service] = new_id["VpcEndpointId"]
        else:
            spec = self._interface_endpoint_spec(service, service not in SERVICES_WITHOUT_PRIVATE_DNS)
            new_id = ec2.create_vpc_endpoint(**spec)["VpcEndpoint"]
            self.endpoint_ids[service] = new_id["VpcEndpointId"]
        return str(new_id["VpcEndpointId"])

    def _set_private_dns(self, ec2: Any, service: str, enabled: bool) -> str:
        endpoint_id = self.endpoint_ids[service]
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PrivateDnsEnabled=enabled)
        current = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
        if current["PrivateDnsEnabled"] == enabled:
            return endpoint_id
        # moto 5.2.5 ignores PrivateDnsEnabled in modify_vpc_endpoint: replace the endpoint instead.
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        created = ec2.create_vpc_endpoint(**self._interface_endpoint_spec(service, enabled))["VpcEndpoint"]
        self.endpoint_ids[service] = created["VpcEndpointId"]
        return str(created["VpcEndpointId"])

    def disable_private_dns(self, ec2: Any, service: str) -> str:
        """Turn private DNS off on ``service``'s interface endpoint (agents then resolve the public name).

        Returns the endpoint id (a new one under moto, see module docstring). Undo: ``enable_private_dns``.
        """
        return self._set_private_dns(ec2, service, False)

    def enable_private_dns(self, ec2: Any, service: str) -> str:
        """Undo of ``disable_private_dns``."""
        return self._set_private_dns(ec2, service, True)

    # ------------------------------------------------------------------ security groups
    def _endpoint_ingress_rule(self) -> dict[str, Any]:
        return _ip_rule("tcp", 443, 443, [self.vpc_cidr, *self.on_prem_cidrs], "HTTPS to endpoints")

    def remove_endpoint_ingress_443(self, ec2: Any) -> None:
        """Revoke every TCP 443 ingress rule (VPC and on-prem) of the endpoints' security group.

        Undo: ``restore_endpoint_ingress_443``.
        """
        ec2.revoke_security_group_ingress(
            GroupId=self.endpoint_security_group_id, IpPermissions=[self._endpoint_ingress_rule()]
        )

    def restore_endpoint_ingress_443(self, ec2: Any) -> None:
        """Undo of ``remove_endpoint_ingress_443``."""
        ec2.authorize_security_group_ingress(
            GroupId=self.endpoint_security_group_id, IpPermissions=[self._endpoint_ingress_rule()]
        )

    def _replication_ingress_rule(self) -> dict[str, Any]:
        return _ip_rule("tcp", 1500, 1500, self.on_prem_cidrs, "MGN data replication from source servers")

    def remove_replication_ingress_1500(self, ec2: Any) -> None:
        """Revoke TCP 1500 from the on-prem CIDRs on every replication security group.

        Undo: ``restore_replication_ingress_1500``.
        """
        for group_id in self.replication_security_group_ids:
            ec2.revoke_security_group_ingress(
                GroupId=group_id, IpPermissions=[self._replication_ingress_rule()]
            )

    def restore_replication_ingress_1500(self, ec2: Any) -> None:
        """Undo of ``remove_replication_ingress_1500``."""
        for group_id in self.replication_security_group_ids:
            ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[self._replication_ingress_rule()]
            )

    # ------------------------------------------------------------------ network ACL
    def add_nacl_deny(
        self, ec2: Any, port: int, *, protocol: str = TCP, egress: bool = False, cidr: str = ANYWHERE
    ) -> int:
        """Add a deny entry for ``port`` to the staging subnet's NACL, numbered below every allow rule.

        Returns the rule number. Undo: ``remove_nacl_deny(port)``.
        """
        used = {n for entries in self._nacl_denies.values() for n, e in entries if e == egress}
        rule_number = next(n for n in range(FIRST_SWITCH_DENY_RULE, 0, -1) if n not in used)
        ec2.create_network_acl_entry(
            NetworkAclId=self.staging_network_acl_id,
            RuleNumber=rule_number,
            Protocol=protocol,
            RuleAction="deny",
            Egress=egress,
            CidrBlock=cidr,
            PortRange={"From": port, "To": port},
        )
        self._nacl_denies.setdefault(port, []).append((rule_number, egress))
        return rule_number

    def remove_nacl_deny(self, ec2: Any, port: int) -> None:
        """Undo of ``add_nacl_deny``: delete every deny entry the switch added for ``port``."""
        for rule_number, egress in self._nacl_denies.pop(port, []):
            ec2.delete_network_acl_entry(
                NetworkAclId=self.staging_network_acl_id, RuleNumber=rule_number, Egress=egress
            )

    # ------------------------------------------------------------------ routes
    def add_public_route(self, ec2: Any, kind: str = "igw", *, route_table_id: str | None = None) -> str:
        """Open a path to the internet: 0.0.0.0/0 to a new IGW (attached) or a new public NAT gateway.

        The route goes into ``route_table_id`` (default: the staging route table). The NAT gateway is
        placed in the launch subnet with a new Elastic IP; no IGW is attached for it, so exactly one
        thing changes (AWS would need an IGW for it to reach the internet; moto does not check).
        Returns the IGW or NAT id. Undo: ``remove_public_route``.
        """
        table = route_table_id or self.staging_route_table_ids[0]
        if kind == "igw":
            gateway_id = ec2.create_internet_gateway(
                TagSpecifications=_tags("internet-gateway", "switch-public-igw")
            )["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=self.vpc_id)
            ec2.create_route(RouteTableId=table, DestinationCidrBlock=ANYWHERE, GatewayId=gateway_id)
            self._public_routes.append(PublicRoute("igw", table, gateway_id))
        elif kind == "nat":
            allocation_id = ec2.allocate_address(Domain="vpc")["AllocationId"]
            gateway_id = ec2.create_nat_gateway(
                SubnetId=self.launch_subnet_id,
                AllocationId=allocation_id,
                ConnectivityType="public",
                TagSpecifications=_tags("natgateway", "switch-public-nat"),
            )["NatGateway"]["NatGatewayId"]
            ec2.create_route(RouteTableId=table, DestinationCidrBlock=ANYWHERE, NatGatewayId=gateway_id)
            self._public_routes.append(PublicRoute("nat", table, gateway_id, allocation_id))
        else:
            raise ValueError(f"kind must be 'igw' or 'nat', not {kind!r}")
        return str(gateway_id)

    def remove_public_route(self, ec2: Any) -> None:
        """Undo of ``add_public_route``: delete the routes and the IGW / NAT gateway (+ EIP) it created."""
        while self._public_routes:
            public = self._public_routes.pop()
            ec2.delete_route(RouteTableId=public.route_table_id, DestinationCidrBlock=ANYWHERE)
            if public.kind == "igw":
                ec2.detach_internet_gateway(InternetGatewayId=public.gateway_id, VpcId=self.vpc_id)
                ec2.delete_internet_gateway(InternetGatewayId=public.gateway_id)
            else:
                ec2.delete_nat_gateway(NatGatewayId=public.gateway_id)
                ec2.release_address(AllocationId=public.allocation_id)

    # ------------------------------------------------------------------ DNS
    def delete_resolver_endpoint(self, r53resolver: Any) -> str:
        """Delete the Route 53 Resolver inbound endpoint (on-prem DNS forwarders then get no answer).

        Returns the deleted id. Undo: ``restore_resolver_endpoint`` (same subnets and IPs, new id).
        """
        if self.resolver_endpoint_id is None:
            raise ValueError("the resolver endpoint is already deleted")
        endpoint_id, self.resolver_endpoint_id = self.resolver_endpoint_id, None
        r53resolver.delete_resolver_endpoint(ResolverEndpointId=endpoint_id)
        return endpoint_id

    def restore_resolver_endpoint(self, r53resolver: Any) -> str:
        """Undo of ``delete_resolver_endpoint``: recreate it with the IPs on-prem DNS forwards to."""
        self.resolver_endpoint_id = _create_resolver_endpoint(
            r53resolver, self.resolver_security_group_id, self.resolver_ip_addresses
        )
        return self.resolver_endpoint_id

    # ------------------------------------------------------------------ S3 policy
    def _s3_endpoint_ids(self) -> list[str]:
        return [ids["s3"] for ids in (self.gateway_endpoint_ids, self.endpoint_ids) if "s3" in ids]

    def narrow_s3_endpoint_policy(self, ec2: Any) -> dict[str, Any]:
        """Replace the S3 gateway and interface endpoints' policy by one without the MGN buckets.

        Returns the policy applied. Undo: ``restore_s3_endpoint_policy``.
        """
        narrowed = s3_endpoint_policy(self.region, include_mgn=False)
        for endpoint_id in self._s3_endpoint_ids():
            ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(narrowed))
        return narrowed

    def restore_s3_endpoint_policy(self, ec2: Any) -> None:
        """Undo of ``narrow_s3_endpoint_policy``."""
        for endpoint_id in self._s3_endpoint_ids():
            ec2.modify_vpc_endpoint(
                VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(self.s3_endpoint_policy)
            )


def _create_resolver_endpoint(
    r53resolver: Any, security_group_id: str, ip_addresses: Sequence[dict[str, str]]
) -> str:
    endpoint = r53resolver.create_resolver_endpoint(
        # Must be unique per create call (it is the idempotency token), so number the calls.
        CreatorRequestId=f"closed-vpc-inbound-{next(_resolver_requests)}",
        Name="closed-vpc-inbound",
        Direction="INBOUND",
        SecurityGroupIds=[security_group_id],
        IpAddresses=[dict(a) for a in ip_addresses],
    )["ResolverEndpoint"]
    return str(endpoint["Id"])


def _create_nacl(ec2: Any, vpc_id: str, name: str, subnet_ids: Sequence[str], peers: Sequence[str]) -> str:
    """A custom NACL allowing only the closed-network flows, associated with ``subnet_ids``."""
    acl_id: str = ec2.create_network_acl(VpcId=vpc_id, TagSpecifications=_tags("network-acl", name))[
        "NetworkAcl"
    ]["NetworkAclId"]
    if len(peers) * len(NACL_PEER_RULES) > GATEWAY_ENDPOINT_RULE - ALLOW_RULE_BASE:
        raise ValueError("too many on-prem CIDRs for the NACL numbering")
    for egress in (False, True):
        for i, peer in enumerate(peers):
            for j, (protocol, port_from, port_to) in enumerate(NACL_PEER_RULES):
                ec2.create_network_acl_entry(
                    NetworkAclId=acl_id,
                    RuleNumber=ALLOW_RULE_BASE + i * 10 + j,
                    Protocol=protocol,
                    RuleAction="allow",
                    Egress=egress,
                    CidrBlock=peer,
                    PortRange={"From": port_from, "To": port_to},
                )
        # Gateway endpoints (S3, DynamoDB) are reached at the services' public ranges, which a NACL
        # cannot name by prefix list: allow HTTPS out / replies in for any address. Routing (no IGW,
        # no NAT) is what keeps this traffic on the gateway endpoints.
        gateway_port = (443, 443) if egress else EPHEMERAL
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id,
            RuleNumber=GATEWAY_ENDPOINT_RULE,
            Protocol=TCP,
            RuleAction="allow",
            Egress=egress,
            CidrBlock=ANYWHERE,
            PortRange={"From": gateway_port[0], "To": gateway_port[1]},
        )
        # Explicit catch-all deny: AWS adds an implicit "*" deny to every NACL, moto does not.
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id,
            RuleNumber=FINAL_DENY_RULE,
            Protocol=ALL,
            RuleAction="deny",
            Egress=egress,
            CidrBlock=ANYWHERE,
        )
    # A subnet is always associated with some NACL (the default one at first): replace that association.
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": list(subnet_ids)}]
    )
    associations = {
        a["SubnetId"]: a["NetworkAclAssociationId"]
        for acl in current["NetworkAcls"]
        for a in acl["Associations"]
    }
    for subnet_id in subnet_ids:
        ec2.replace_network_acl_association(AssociationId=associations[subnet_id], NetworkAclId=acl_id)
    return acl_id


def _create_sg(ec2: Any, vpc_id: str, name: str, description: str) -> str:
    """A security group with no egress: AWS's default allow-all egress rule is revoked at once."""
    group_id: str = ec2.create_security_group(
        GroupName=name,
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=_tags("security-group", name),
    )["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ANYWHERE}]}]
    )
    return group_id


def _create_subnet_with_table(ec2: Any, vpc_id: str, cidr: str, az: str, name: str) -> tuple[str, str]:
    """A subnet and its own route table (local route only: nothing leaves the VPC by default)."""
    subnet_id: str = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az, TagSpecifications=_tags("subnet", name)
    )["Subnet"]["SubnetId"]
    table_id: str = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_tags("route-table", name))[
        "RouteTable"
    ]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
    return subnet_id, table_id


def build_closed_vpc(
    ec2_client: Any,
    r53resolver_client: Any,
    region: str = "us-east-1",
    *,
    on_prem_cidrs: Sequence[str] = ("10.20.0.0/16",),
    endpoint_services: Sequence[str] = DEFAULT_ENDPOINT_SERVICES,
) -> ClosedVpc:
    """Create the closed landing zone (see module docstring) in moto; call inside ``mock_aws``."""
    for client in (ec2_client, r53resolver_client):
        if client.meta.region_name != region:
            raise ValueError(f"client region {client.meta.region_name!r} differs from region {region!r}")
    ec2 = ec2_client
    on_prem = list(on_prem_cidrs)

    vpc_id: str = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_tags("vpc", "closed-vpc"))["Vpc"][
        "VpcId"
    ]
    # Both attributes are required for an interface endpoint's private DNS name to resolve.
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    zones = [
        z["ZoneName"]
        for z in ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])[
            "AvailabilityZones"
        ]
    ][:2]
    if len(zones) < 2:
        raise ValueError(f"{region} needs two availability zones")

    private = [
        _create_subnet_with_table(ec2, vpc_id, cidr, az, f"closed-private-{az}")
        for cidr, az in zip(PRIVATE_SUBNET_CIDRS, zones, strict=True)
    ]
    private_subnets = [s for s, _ in private]
    private_tables = [t for _, t in private]
    staging_subnet, staging_table = _create_subnet_with_table(
        ec2, vpc_id, STAGING_SUBNET_CIDR, zones[0], "closed-mgn-staging"
    )
    launch_subnet, launch_table = _create_subnet_with_table(
        ec2, vpc_id, LAUNCH_SUBNET_CIDR, zones[1], "closed-mgn-launch"
    )

    dynamodb_pl = _prefix_list_id(ec2, region, "dynamodb")
    s3_pl = _prefix_list_id(ec2, region, "s3")
    on_prem_pl: str = ec2.create_managed_prefix_list(
        PrefixListName="on-premises",
        AddressFamily="IPv4",
        MaxEntries=max(len(on_prem), 1) + 10,
        Entries=[{"Cidr": cidr, "Description": "on-premises network"} for cidr in on_prem],
    )["PrefixList"]["PrefixListId"]

    # --- security groups
    endpoint_sg = _create_sg(
        ec2, vpc_id, "closed-endpoints", "Interface endpoints - HTTPS from VPC and on-prem"
    )
    ec2.authorize_security_group_ingress(
        GroupId=endpoint_sg,
        IpPermissions=[_ip_rule("tcp", 443, 443, [VPC_CIDR, *on_prem], "HTTPS to endpoints")],
    )
    # Endpoints only answer; like the template, a loopback-only egress rule documents "no egress".
    ec2.authorize_security_group_egress(
        GroupId=endpoint_sg,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "127.0.0.1/32"}]}],
    )

    replication_sg = _create_sg(ec2, vpc_id, "closed-replication", "MGN replication servers")
    ec2.authorize_security_group_ingress(
        GroupId=replication_sg,
        IpPermissions=[_ip_rule("tcp", 1500, 1500, on_prem, "MGN data replication from source servers")],
    )
    ec2.authorize_security_group_egress(
        GroupId=replication_sg,
        IpPermissions=[
            _ip_rule("tcp", 443, 443, [VPC_CIDR], "MGN, EC2 and S3 interface endpoints"),
            # Flow 6 (replication server -> S3) uses the S3 gateway endpoint, i.e. S3's prefix list.
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "PrefixListIds": [{"PrefixListId": s3_pl, "Description": "S3 gateway endpoint"}],
            },
        ],
    )

    function_sg = _create_sg(ec2, vpc_id, "closed-functions", "Pipeline functions - HTTPS to endpoints")
    # VPC CIDR only (the interface endpoints). The template's own FunctionSecurityGroup adds the
    # DynamoDB prefix list for the gateway endpoint; this stand-in keeps to the VPC.
    ec2.authorize_security_group_egress(
        GroupId=function_sg, IpPermissions=[_ip_rule("tcp", 443, 443, [VPC_CIDR], "Interface endpoints")]
    )

    resolver_sg = _create_sg(
        ec2, vpc_id, "closed-resolver-inbound", "Route 53 Resolver inbound - DNS from on-prem"
    )
    ec2.authorize_security_group_ingress(
        GroupId=resolver_sg,
        IpPermissions=[
            _ip_rule("tcp", 53, 53, on_prem, "DNS from on-prem forwarders"),
            _ip_rule("udp", 53, 53, on_prem, "DNS from on-prem forwarders"),
        ],
    )

    # --- network ACLs (the launch subnet keeps the VPC's default NACL)
    peers = [VPC_CIDR, *on_prem]
    private_acl = _create_nacl(ec2, vpc_id, "closed-private", private_subnets, peers)
    staging_acl = _create_nacl(ec2, vpc_id, "closed-staging", [staging_subnet], peers)

    closed = ClosedVpc(
        region=region,
        vpc_id=vpc_id,
        vpc_cidr=VPC_CIDR,
        availability_zones=zones,
        private_subnet_ids=private_subnets,
        private_route_table_ids=private_tables,
        staging_subnet_id=staging_subnet,
        staging_route_table_ids=[staging_table],
        launch_subnet_id=launch_subnet,
        launch_route_table_id=launch_table,
        replication_security_group_ids=[replication_sg],
        function_security_group_id=function_sg,
        endpoint_security_group_id=endpoint_sg,
        resolver_security_group_id=resolver_sg,
        private_network_acl_id=private_acl,
        staging_network_acl_id=staging_acl,
        endpoint_ids={},
        gateway_endpoint_ids={},
        resolver_endpoint_id=None,
        resolver_ip_addresses=[],
        on_prem_cidrs=on_prem,
        on_prem_prefix_list_id=on_prem_pl,
        dynamodb_prefix_list_id=dynamodb_pl,
        s3_prefix_list_id=s3_pl,
        s3_endpoint_policy=s3_endpoint_policy(region),
    )

    # --- endpoints (restore_endpoint is the single place that knows how each one is made)
    for service in endpoint_services:
        closed.restore_endpoint(ec2, service)
    for service in ("s3", "dynamodb"):
        closed.restore_endpoint(ec2, service, gateway=True)

    # --- Resolver inbound endpoint: one address per private subnet (two AZs), IPs kept for restore.
    closed.resolver_endpoint_id = _create_resolver_endpoint(
        r53resolver_client, resolver_sg, [{"SubnetId": s} for s in private_subnets]
    )
    addresses = r53resolver_client.list_resolver_endpoint_ip_addresses(
        ResolverEndpointId=closed.resolver_endpoint_id
    )["IpAddresses"]
    closed.resolver_ip_addresses = [{"SubnetId": a["SubnetId"], "Ip": a["Ip"]} for a in addresses]
    return closed
