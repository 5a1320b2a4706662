"""One network-health invocation: parse the request, check, store, emit metrics, notify, gate.

Requests (``events/network-health-*.json``):

* schedule: the EventBridge Scheduled Event (``source: aws.events``);
* on demand: ``{}`` or ``{"requestedBy": "alice"}``;
* gate, from Step Functions: ``{"gate": "before-test" | "before-cutover"}`` plus optional
  ``executionArn``, ``serverIds``, ``waveId``, ``requestedBy``.

Anything else raises ``InvalidHealthRequest``. A gate raises ``NetworkHealthGateFailed`` (naming the
failing checks) after the report is stored and notified; schedule and on-demand runs return the
report and never raise on a failing check: the metrics, the alarm and the notification carry it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from mgn_pipeline.health.errors import (
    InvalidHealthRequest,
    NetworkHealthGateFailed,
    NetworkInventoryUnavailable,
)
from mgn_pipeline.health.inventory import InventoryReader
from mgn_pipeline.health.model import CheckResult, HealthReport, NetworkExpectations, Status, failed
from mgn_pipeline.health.probes import ProbeTools
from mgn_pipeline.health.reports import HealthReportStore, notification_body, notification_subject
from mgn_pipeline.health.runner import ApiCall, run_checks
from mgn_pipeline.shared.aws.audit import AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.events import EventOrigin, check_origin, is_server_id, shown
from mgn_pipeline.shared.observability import logger, metrics

GATES = frozenset({"before-test", "before-cutover"})
GATE_CONTEXT_KEYS = frozenset({"executionArn", "serverIds", "waveId", "requestedBy"})
NOTIFICATION_KIND = "network-health"
# Audit subject of network health results (not a server: wave "account-wide").
AUDIT_SUBJECT = "network-health"


@dataclass(frozen=True, slots=True)
class HealthRequest:
    trigger: str  # "schedule", "on-demand" or the gate's name
    gate: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


def parse_request(event: object, origin: EventOrigin | None = None) -> HealthRequest:
    """``origin``: the account and Region whose schedule may run the check (None: not checked)."""
    if not isinstance(event, Mapping):
        raise InvalidHealthRequest(f"expected a JSON object, got {type(event).__name__}")
    if "gate" in event:
        gate = event["gate"]
        if not isinstance(gate, str) or gate not in GATES:
            raise InvalidHealthRequest(f"gate must be one of {sorted(GATES)}, not {shown(gate)}")
        unknown = set(event) - GATE_CONTEXT_KEYS - {"gate"}
        if unknown:
            raise InvalidHealthRequest(
                f"unknown keys in a gate request: {shown(sorted(map(str, unknown)))}; "
                f"allowed: {sorted(GATE_CONTEXT_KEYS)}"
            )
        context = {k: event[k] for k in GATE_CONTEXT_KEYS if k in event}
        _check_context(context)
        return HealthRequest(str(gate), str(gate), context)
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        if origin is not None:
            try:
                check_origin("schedule", "event", event.get("account"), event.get("region"), origin)
            except InvalidEventError as exc:
                raise InvalidHealthRequest(str(exc)) from None
        return HealthRequest("schedule")
    if set(event) <= {"requestedBy"}:
        _check_context(dict(event))
        return HealthRequest("on-demand", context=dict(event))
    raise InvalidHealthRequest(
        "not a schedule, on-demand ({} or {'requestedBy': ...}) or gate request: keys "
        + shown(sorted(map(str, event)))
    )


def _check_context(context: Mapping[str, Any]) -> None:
    """What a request says about who asked and for which servers goes into the report, the audit
    trail and the notification: each is held to its shape, or the request is refused."""
    for key, value in context.items():
        if key == "serverIds":
            ok = isinstance(value, list) and len(value) <= 1000 and all(map(is_server_id, value))
        else:
            ok = isinstance(value, str) and bool(_CONTEXT_SHAPES[key].fullmatch(value))
        if not ok:
            raise InvalidHealthRequest(f"{key} {shown(value)} is not {_CONTEXT_MEANING[key]}")


_CONTEXT_SHAPES = {
    "executionArn": re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[\w.:-]{1,160}"),
    "waveId": re.compile(r"[\w.:/=+@ -]{1,128}"),
    "requestedBy": re.compile(r"[\w.:/=+@ -]{1,256}"),
}
_CONTEXT_MEANING = {
    "executionArn": "a Step Functions execution ARN",
    "serverIds": "a list of at most 1,000 MGN source server ids",
    "waveId": "a wave name (1-128 letters, digits, spaces or ._:/=+@-)",
    "requestedBy": "a name (1-256 letters, digits, spaces or ._:/=+@-)",
}


def standard_api_calls(mgn: Any, ec2: Any) -> dict[str, ApiCall]:
    """One cheap read-only call per service whose IAM the function has: it proves endpoint policy and
    IAM along with the path (mgn:DescribeSourceServers, ec2:DescribeAvailabilityZones)."""

    def mgn_call() -> str:
        items = mgn.describe_source_servers(filters={}, maxResults=1).get("items", [])
        return f"mgn DescribeSourceServers answered ({len(items)} item(s) on the first page)"

    def ec2_call() -> str:
        zones = ec2.describe_availability_zones().get("AvailabilityZones", [])
        return f"ec2 DescribeAvailabilityZones answered ({len(zones)} zones)"

    return {"mgn": mgn_call, "ec2": ec2_call}


@dataclass
class HealthDependencies:
    inventory: InventoryReader
    store: HealthReportStore
    notifier: Notifier
    tools: ProbeTools
    api_calls: Mapping[str, ApiCall]
    emit_metrics: Callable[[HealthReport], None]
    # Each change of the failing set is audited (None: not wired, e.g. a unit test).
    audit: AuditTrail | None = None
    actor: str = "NetworkHealthFunction"


def emit_check_metrics(report: HealthReport) -> None:
    """``HealthCheckFailed`` (0/1) per check, dimension CheckId, for dashboards and per-check alarms;
    ``HealthChecksFailed`` / ``HealthChecksWarned`` (counts) on the function's metrics, which the
    template's alarm watches."""
    for result in report.results:
        with single_metric(
            name="HealthCheckFailed", unit=MetricUnit.Count, value=1 if result.status is Status.FAIL else 0
        ) as metric:
            metric.add_dimension(name="CheckId", value=result.check_id)
    metrics.add_metric(name="HealthChecksFailed", unit=MetricUnit.Count, value=len(report.failing_check_ids))
    metrics.add_metric(
        name="HealthChecksWarned", unit=MetricUnit.Count, value=len(report.with_status(Status.WARN))
    )


def build_report(
    request: HealthRequest,
    expectations: NetworkExpectations,
    deps: HealthDependencies,
    *,
    now: datetime,
    deadline_seconds: float,
) -> HealthReport:
    started = time.perf_counter()
    forwarder: dict[str, Any] = {}
    results: list[CheckResult]
    try:
        inventory = deps.inventory.read(expectations.vpc_id)
    except NetworkInventoryUnavailable as exc:
        # Nothing else can be judged; a gate fails closed on this one check.
        results = [
            failed("inventory.read", str(exc), "See the summary: fix the setting, permission or path.")
        ]
    else:
        results, forwarder = run_checks(
            inventory, expectations, deps.tools, deps.api_calls, deadline_seconds=deadline_seconds
        )
    return HealthReport(
        report_id=str(uuid.uuid4()),
        generated_at=now.isoformat(timespec="seconds"),
        trigger=request.trigger,
        region=expectations.region,
        vpc_id=expectations.vpc_id,
        results=tuple(results),
        duration_ms=(time.perf_counter() - started) * 1000,
        dns_forwarder=forwarder,
    )


def _failing_before(previous: dict[str, Any] | None) -> list[str]:
    return sorted(previous.get("failing", [])) if previous else []


def _should_notify(report: HealthReport, previous: dict[str, Any] | None) -> bool:
    """Notify when the set of failing checks changes (new failure, or all fixed): a broken network
    checked every few minutes would otherwise page every few minutes; the alarm stays in ALARM.
    The all-fixed message closes the incident the failure opened for the person working on it."""
    return set(report.failing_check_ids) != set(_failing_before(previous))


def _record_change(
    report: HealthReport,
    previous: dict[str, Any] | None,
    request: HealthRequest,
    deps: HealthDependencies,
    now: datetime,
) -> None:
    """One audit record per change of the failing set (the same moments a person is told)."""
    if deps.audit is None:
        return
    failing = sorted(report.failing_check_ids)
    record = AuditRecord(
        subject=AUDIT_SUBJECT,
        action="network-health-failed" if failing else "network-health-passed",
        trigger=request.trigger,
        actor=deps.actor,
        reason=("failing: " + ", ".join(failing)) if failing else "every check passes",
        before=_failing_before(previous),
        after=failing,
        details={"reportId": report.report_id, "status": report.overall.value, "gate": request.gate},
    )
    try:
        deps.audit.append(record, now)
    except ClientError as exc:
        # The gate's answer and the person's message matter more: the record stays in the log.
        logger.error(
            "network health change not audited",
            extra={"error": str(exc), "action": record.action, "reason": record.reason},
        )


def _what_next(report: HealthReport) -> str:
    """The closing lines of the message: what the result means for the waves, and what to do."""
    if report.failing_check_ids:
        return "\n".join(
            [
                "What this means: test launches and cutovers wait at their network gate until these checks"
                " pass; replication through a broken path stalls.",
                "What to do: apply each Fix above, then run NetworkHealthFunction on demand (payload {}) to"
                " check again. You get one message when the failing checks change, not one per check run.",
            ]
        )
    return (
        "What this means: the network gates are open again; test launches and cutovers that waited"
        " continue by themselves. Nothing else to do."
    )


def run_network_health(
    request: HealthRequest,
    expectations: NetworkExpectations,
    deps: HealthDependencies,
    *,
    deadline_seconds: float,
    report_ttl_days: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``request``: ``parse_request``'s, read before anything is built or called."""
    now = now or utc_now()
    report = build_report(request, expectations, deps, now=now, deadline_seconds=deadline_seconds)
    previous = deps.store.latest()
    deps.store.save(report, now=now, ttl_days=report_ttl_days)
    deps.emit_metrics(report)
    logger.info("network health", extra={"summary": report.summary()})
    if _should_notify(report, previous):
        _record_change(report, previous, request, deps, now)
        body = notification_body(report).rstrip("\n") + "\n\n" + _what_next(report)
        deps.notifier.notify(notification_subject(report), body, NOTIFICATION_KIND)
    if request.gate and report.failing_check_ids:
        failing = report.with_status(Status.FAIL)
        raise NetworkHealthGateFailed(
            request.gate,
            report.failing_check_ids,
            f"Gate {request.gate} blocked by {len(failing)} failing network check(s): "
            + "; ".join(f"{r.check_id}: {r.summary}" for r in failing)[:900]
            + f" (report {report.report_id})",
        )
    return report.summary() if request.gate else report.as_dict()
