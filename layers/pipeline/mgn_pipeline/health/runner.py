"""Run every check: the inventory checks first (pure, microseconds), then the network probes of each
service concurrently, each probe with its own timeout and the whole run under an overall deadline.

Per service the probes are sequential (resolve -> TCP + TLS -> one read-only API call) because each
step needs the previous one's answer; services run in parallel, so a run over 20 endpoints takes
about as long as its slowest service. A probe whose prerequisite check failed (no endpoint, private
DNS off) is not run: it is reported as skipped, naming the failed check, so one broken piece gives
one FAIL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from mgn_pipeline.health.checks import endpoint_check_id, private_dns_check_id, static_checks
from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, Status, failed, passed, skipped
from mgn_pipeline.health.netrules import address_in
from mgn_pipeline.health.probes import ProbeFailed, ProbeTools, resolve, tls_handshake

# A read-only API call through a service's endpoint: returns a short description of the answer.
ApiCall = Callable[[], str]
MAX_PROBE_WORKERS = 32

FIX_BY_STAGE = {
    "dns": (
        "The name must resolve to the endpoint's private addresses: enable private DNS on the endpoint, keep "
        "enableDnsSupport and enableDnsHostnames on for the VPC, keep the DHCP options on AmazonProvidedDNS, and "
        "make sure no Route 53 private hosted zone or Resolver rule overrides amazonaws.com."
    ),
    "tcp": (
        "Nothing answered on TCP 443: check the endpoint's security group (sg.endpoint-443), the network ACLs "
        "(nacl.endpoint-subnets) and the function security group's egress to the VPC CIDR on 443."
    ),
    "tls": (
        "The TLS handshake failed or did not verify: something other than the AWS endpoint answers (a proxy, an "
        "inspection appliance, a wrong DNS record). Fix the path; never turn certificate checks off."
    ),
    "api": (
        "TLS works but the read-only API call failed: AccessDenied means the endpoint policy or the function's "
        "IAM policy denies the call; allow it. Other errors are in the evidence."
    ),
}


@dataclass(frozen=True, slots=True)
class ServiceProbe:
    """What to probe for one service. ``private_names`` must resolve inside the VPC; ``public_names`` may
    resolve to public addresses (a gateway endpoint routes them); ``tls_name`` is what clients connect to."""

    service: str
    private_names: tuple[str, ...]
    public_names: tuple[str, ...]
    tls_name: str | None
    depends_on: tuple[str, ...]

    @property
    def dns_check_id(self) -> str:
        return f"dns.{self.service}"

    @property
    def reach_check_id(self) -> str:
        return f"reach.{self.service}"


def _endpoint_names(endpoint: Mapping[str, Any]) -> list[str]:
    """The endpoint-specific DNS names. S3's start with ``*.`` (a bucket label goes there): probe them
    as ``bucket.<rest>``, the form agents are given (template output S3EndpointDns)."""
    names = []
    for entry in endpoint.get("DnsEntries", []):
        name = str(entry.get("DnsName", "")).rstrip(".")
        if name:
            names.append("bucket." + name[2:] if name.startswith("*.") else name)
    return list(dict.fromkeys(names))


def plan_probes(inv: NetworkInventory, exp: NetworkExpectations) -> list[ServiceProbe]:
    plans = []
    for service in exp.interface_services:
        endpoints = inv.endpoints_for(exp.endpoint_service_name(service), "Interface")
        vpce_names = _endpoint_names(endpoints[0]) if endpoints else []
        hostname = exp.service_hostname(service)
        private_dns = service not in exp.services_without_private_dns
        private_names = ([hostname] if private_dns else []) + [n for n in vpce_names if n != hostname]
        plans.append(
            ServiceProbe(
                service=service,
                private_names=tuple(private_names),
                # Without private DNS the public name stays public (S3: the VPC uses the gateway endpoint).
                public_names=() if private_dns else (hostname,),
                tls_name=hostname if private_dns else (vpce_names[0] if vpce_names else None),
                depends_on=(endpoint_check_id(service), private_dns_check_id(service)),
            )
        )
    for service in ("s3", "dynamodb"):
        if service not in exp.interface_services:
            # Gateway services: the public name, routed by the prefix-list route. It must resolve.
            plans.append(
                ServiceProbe(service, (), (exp.service_hostname(service),), None, (f"gateway.{service}",))
            )
    return plans


def _dns_result(
    plan: ServiceProbe, tools: ProbeTools, vpc_cidrs: list[str]
) -> tuple[CheckResult, dict[str, list[str]]]:
    answers: dict[str, list[str]] = {}
    problems: list[str] = []
    for name in (*plan.private_names, *plan.public_names):
        try:
            answers[name] = resolve(tools, name)
        except ProbeFailed as exc:
            problems.append(str(exc))
            continue
        outside = [a for a in answers[name] if not address_in(a, vpc_cidrs)]
        if name in plan.private_names and outside:
            problems.append(
                f"{name} resolves to {', '.join(outside)}, outside the VPC ({', '.join(vpc_cidrs)})"
            )
    evidence = {"answers": answers, "vpcCidrs": vpc_cidrs}
    if plan.public_names:
        evidence["note"] = (
            f"{', '.join(plan.public_names)} may resolve to public addresses: the VPC reaches them through the "
            "gateway endpoint's prefix-list route."
        )
    if problems:
        return failed(plan.dns_check_id, "; ".join(problems), FIX_BY_STAGE["dns"], **evidence), answers
    return passed(
        plan.dns_check_id, f"{plan.service} names resolve as expected inside the VPC.", **evidence
    ), answers


def _reach_result(
    plan: ServiceProbe, tools: ProbeTools, answers: dict[str, list[str]], api_call: ApiCall | None
) -> CheckResult:
    name = plan.tls_name
    if name is None or name not in answers:
        return failed(
            plan.reach_check_id, f"No address to connect to for {plan.service}.", FIX_BY_STAGE["dns"]
        )
    try:
        evidence = tls_handshake(tools, name, answers[name])
        evidence["hostname"] = name
        if api_call is not None:
            started = time.perf_counter()
            try:
                evidence["apiCall"] = api_call()
            except Exception as exc:  # any SDK error: the stage and the text are the evidence
                raise ProbeFailed("api", f"{type(exc).__name__}: {exc}", **evidence) from exc
            evidence["apiMs"] = round((time.perf_counter() - started) * 1000, 1)
    except ProbeFailed as exc:
        return failed(
            plan.reach_check_id,
            f"{plan.service} is not reachable ({exc.stage}): {exc}",
            FIX_BY_STAGE[exc.stage],
            **{**exc.evidence, "stage": exc.stage, "hostname": name},
        )
    proof = " + API call" if api_call is not None else ""
    return passed(plan.reach_check_id, f"{name}: TCP 443 and verified TLS{proof} succeed.", **evidence)


def _probe_service(
    plan: ServiceProbe, tools: ProbeTools, vpc_cidrs: list[str], api_call: ApiCall | None
) -> list[CheckResult]:
    started = time.perf_counter()
    dns, answers = _dns_result(plan, tools, vpc_cidrs)
    dns = replace(dns, duration_ms=(time.perf_counter() - started) * 1000)
    if plan.tls_name is None:
        return [dns]
    if dns.status is Status.FAIL:
        return [dns, skipped(plan.reach_check_id, [plan.dns_check_id])]
    reach_started = time.perf_counter()
    reach = _reach_result(plan, tools, answers, api_call)
    return [dns, replace(reach, duration_ms=(time.perf_counter() - reach_started) * 1000)]


def _deadline_results(plan: ServiceProbe, deadline_seconds: float) -> list[CheckResult]:
    ids = [plan.dns_check_id] + ([plan.reach_check_id] if plan.tls_name else [])
    return [
        failed(
            check_id,
            f"No result within the run's deadline of {deadline_seconds:.1f} s.",
            "A probe hung beyond its own timeout (DNS or the API call): check the VPC resolver and the endpoint, "
            "then run the health check again.",
            deadlineSeconds=deadline_seconds,
        )
        for check_id in ids
    ]


def run_checks(
    inv: NetworkInventory,
    exp: NetworkExpectations,
    tools: ProbeTools,
    api_calls: Mapping[str, ApiCall] | None = None,
    *,
    deadline_seconds: float = 20.0,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Every check's result (inventory checks, then DNS and reachability per service) and the DNS
    forwarder for on-prem."""
    started = time.perf_counter()
    results, forwarder = static_checks(inv, exp)
    failing = {r.check_id for r in results if r.status is Status.FAIL}
    vpc_cidrs = inv.vpc_cidrs
    plans = plan_probes(inv, exp)
    runnable: list[ServiceProbe] = []
    for plan in plans:
        blocked = [d for d in plan.depends_on if d in failing]
        if blocked:
            results += [skipped(plan.dns_check_id, blocked)]
            results += [skipped(plan.reach_check_id, blocked)] if plan.tls_name else []
        else:
            runnable.append(plan)
    if not runnable:
        return results, forwarder
    pool = ThreadPoolExecutor(max_workers=min(MAX_PROBE_WORKERS, len(runnable)), thread_name_prefix="probe")
    try:
        futures: dict[Future[list[CheckResult]], ServiceProbe] = {
            pool.submit(_probe_service, plan, tools, vpc_cidrs, (api_calls or {}).get(plan.service)): plan
            for plan in runnable
        }
        remaining = max(0.0, deadline_seconds - (time.perf_counter() - started))
        wait(futures, timeout=remaining)
        for future, plan in futures.items():
            if future.done() and future.exception() is None:
                results += future.result()
            elif future.done():
                results += [
                    failed(
                        plan.dns_check_id, f"The probe crashed: {future.exception()!r}", "A bug: report it."
                    )
                ]
            else:
                results += _deadline_results(plan, deadline_seconds)
    finally:
        # Late probes are abandoned, not awaited: each still ends at its own timeout.
        pool.shutdown(wait=False, cancel_futures=True)
    return results, forwarder
