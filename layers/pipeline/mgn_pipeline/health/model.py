"""What a health check says (``CheckResult``), what a run says (``HealthReport``), and what the
closed network must provide (``NetworkExpectations``). Plain dataclasses: no AWS, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a password
    WARN = "WARN"
    FAIL = "FAIL"


# The interface endpoints a closed network needs (the template creates them).
DEFAULT_INTERFACE_SERVICES: tuple[str, ...] = (
    "mgn",
    "ec2",
    "s3",
    "sns",
    "states",
    "ssm",
    "ssmmessages",  # post-launch actions: the SSM agent on launched instances
    "ec2messages",
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict. ``evidence`` is what was seen (ids, rules, addresses, timings), ``fix``
    is what an operator does about it (empty on PASS)."""

    check_id: str
    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkId": self.check_id,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix,
            "durationMs": round(self.duration_ms, 1),
        }


def passed(check_id: str, summary: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.PASS, summary, evidence)


def warned(check_id: str, summary: str, fix: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.WARN, summary, evidence, fix)


def failed(check_id: str, summary: str, fix: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.FAIL, summary, evidence, fix)


def skipped(check_id: str, blocked_by: Iterable[str]) -> CheckResult:
    """A check not run because a check it depends on failed: that failure is the root cause, and
    running this one could only repeat it (e.g. resolving the name of an endpoint that is gone)."""
    causes = sorted(blocked_by)
    return CheckResult(
        check_id,
        Status.WARN,
        f"Not checked: depends on {', '.join(causes)}, which failed.",
        {"skipped": True, "blockedBy": causes},
        f"Fix {', '.join(causes)} first; this check runs again on the next health check.",
    )


@dataclass(frozen=True, slots=True)
class NetworkExpectations:
    """The closed network the pipeline and MGN need, from the stack's parameters.

    ``interface_services`` are the short service names (``mgn``, ``ec2``, ``s3``, ``sns``, ...) that
    need an interface endpoint; ``services_without_private_dns`` are reached by their endpoint-specific
    name instead (S3: the VPC's own S3 traffic uses the gateway endpoint, on-prem agents name the
    interface endpoint with ``--s3-endpoint``).
    """

    region: str
    vpc_id: str
    function_subnet_ids: tuple[str, ...]
    staging_subnet_id: str
    replication_security_group_ids: tuple[str, ...]
    on_prem_cidrs: tuple[str, ...]
    on_prem_dns_cidrs: tuple[str, ...] = ()
    interface_services: tuple[str, ...] = DEFAULT_INTERFACE_SERVICES
    services_without_private_dns: frozenset[str] = frozenset({"s3"})
    min_availability_zones: int = 2

    @property
    def dns_client_cidrs(self) -> tuple[str, ...]:
        """Who sends DNS queries to the Resolver inbound endpoint: the on-prem DNS servers if named,
        else the whole on-prem networks."""
        return self.on_prem_dns_cidrs or self.on_prem_cidrs

    def service_hostname(self, service: str) -> str:
        return f"{service}.{self.region}.amazonaws.com"

    def endpoint_service_name(self, service: str) -> str:
        return f"com.amazonaws.{self.region}.{service}"

    def mgn_buckets(self) -> list[str]:
        """The buckets MGN's agent and replication servers read (../shared/mgn-facts.md)."""
        r = self.region
        return [
            f"aws-mgn-clients-{r}",
            f"aws-mgn-clients-hashes-{r}",
            f"aws-mgn-internal-{r}",
            f"aws-mgn-internal-hashes-{r}",
            f"aws-application-migration-service-{r}",
            f"aws-application-migration-service-hashes-{r}",
        ]

    def ssm_bucket(self) -> str:
        return f"amazon-ssm-{self.region}"


@dataclass(frozen=True, slots=True)
class HealthReport:
    report_id: str
    generated_at: str
    trigger: str
    region: str
    vpc_id: str
    results: tuple[CheckResult, ...]
    duration_ms: float
    dns_forwarder: dict[str, Any] = field(default_factory=dict)

    def with_status(self, status: Status) -> list[CheckResult]:
        return [r for r in self.results if r.status is status]

    @property
    def failing_check_ids(self) -> list[str]:
        return [r.check_id for r in self.with_status(Status.FAIL)]

    @property
    def overall(self) -> Status:
        if self.with_status(Status.FAIL):
            return Status.FAIL
        return Status.WARN if self.with_status(Status.WARN) else Status.PASS

    def summary(self) -> dict[str, Any]:
        """What a gate returns to Step Functions and a schedule logs: small and decisive."""
        return {
            "reportId": self.report_id,
            "generatedAt": self.generated_at,
            "trigger": self.trigger,
            "status": self.overall.value,
            "counts": {s.value: len(self.with_status(s)) for s in Status},
            "failing": self.failing_check_ids,
            "warning": [r.check_id for r in self.with_status(Status.WARN)],
            "durationMs": round(self.duration_ms, 1),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "region": self.region,
            "vpcId": self.vpc_id,
            "dnsForwarder": self.dns_forwarder,
            "results": [r.as_dict() for r in self.results],
        }
