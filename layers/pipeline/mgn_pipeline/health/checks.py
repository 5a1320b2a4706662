"""Every check that reads only the inventory, in order: endpoints, security groups, NACLs, routes,
Resolver, S3 policy (each family in its own module).

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

from typing import Any

from mgn_pipeline.health.endpoint_checks import (
    check_endpoint_ingress_443,
    check_gateway_endpoint,
    check_interface_endpoint,
    check_private_dns,
    endpoint_check_id,
    private_dns_check_id,
)
from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed
from mgn_pipeline.health.resolver_check import check_resolver
from mgn_pipeline.health.s3_policy_check import check_s3_policy
from mgn_pipeline.health.traffic_checks import (
    check_closed_routes,
    check_endpoint_nacl,
    check_replication_sg,
    check_staging_nacl,
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


__all__ = ["endpoint_check_id", "private_dns_check_id", "static_checks"]
