"""What a finished wave measured (AWS calls, Lambda timings, transitions, events) and the checks it must pass."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from localcloud.bench.cost import cost_per_server
from localcloud.bench.executions import Executions
from localcloud.bench.quotas import QuotaWatch
from localcloud.cloud import LocalCloud

PHASE = (
    "agent installed -> settings enforced -> replicated -> test launched and verified -> approval "
    "requested -> approved (SSM) -> cut over -> verified -> finalized"
)
SERVICES = ("mgn", "ec2", "dynamodb", "sns", "stepfunctions", "ssm", "sqs", "events")

# Which part of the pipeline spends a call: the function making it (and, for the gate's tasks
# function, the task). The event function and the reconciler follow every server through
# replication and its test launch; the gate's tasks before the approval only read.
PHASES = (
    "replication and test (events, reconciler)",
    "launch jobs (batcher)",
    "gate until approved",
    "cutover (after approval)",
    "network health",
    # Step Functions invoking the tasks, SSM's approval messages, the health checks' worker threads.
    "outside a function's own thread",
)
_BEFORE_APPROVAL = {"precheck", "wait-ready", "request-approval", "record-rejection", "record-blocked"}


def phase_of(caller: str) -> str:
    function, _, what = caller.partition(":")
    if function in {"MgnEventFunction", "ReconcilerFunction"}:
        return PHASES[0]
    if function == "LaunchBatcherFunction":
        return PHASES[1]
    if function == "ApprovalBridgeFunction" or (
        function == "CutoverTasksFunction" and what in _BEFORE_APPROVAL
    ):
        return PHASES[2]
    if function == "CutoverTasksFunction":
        return PHASES[3]
    if function == "NetworkHealthFunction":
        return PHASES[4]
    return PHASES[5]


def calls_by_phase(cloud: LocalCloud, servers: int) -> dict[str, dict[str, float]]:
    """Calls per server by phase and service (every service the wave called)."""
    table: dict[str, Counter[str]] = {phase: Counter() for phase in PHASES}
    for (caller, service, _), count in cloud.calls.by_caller.items():
        table[phase_of(caller)][service] += count
    return {
        phase: {service: round(n / servers, 3) for service, n in sorted(by_service.items())}
        for phase, by_service in table.items()
        if by_service
    }


def is_finalized(cloud: LocalCloud, server_id: str) -> bool:
    server = cloud.mgn.server(server_id)
    return server.lifecycle == "CUTOVER" and "finalized" in server.last_cutover and not server.replicating


def measure(
    cloud: LocalCloud,
    ids: list[str],
    quotas: QuotaWatch,
    executions: Executions,
    approvals: int,
    quota_note: str,
    setup_s: float,
    wave_s: float,
    simulated_s: float,
) -> dict[str, Any]:
    n = len(ids)
    functions = cloud.stack.functions
    calls = {
        service: dict(sorted(cloud.calls.by_service(service).items()))
        for service in SERVICES
        if cloud.calls.total(service)
    }
    entered, retries = executions.billable_transitions()
    # What MGN acted on: the requests it answered, less those it throttled.
    answered = Counter(map(_call_key, cloud.mgn.calls)) - Counter(map(_call_key, cloud.mgn.throttled_calls))
    mgn_calls = [(op, json.loads(params)) for op, params in answered.elements()]
    start_cutover_calls = Counter(
        sid for op, params in mgn_calls if op == "StartCutover" for sid in params.get("sourceServerIDs") or []
    )
    finalize_calls = Counter(
        params.get("sourceServerID") for op, params in mgn_calls if op == "FinalizeCutover"
    )
    cutover_jobs = quotas.per_server("START_CUTOVER")
    test_jobs = quotas.per_server("START_TEST")
    executions_per_server = Counter(e.name.rsplit("-", 1)[0] for e in executions.all())
    with cloud.calls.not_counting():
        dead_letters = {
            queue: len(cloud.stack.queue_messages(queue))
            for queue in ("FunctionFailureDLQ", "EventDeliveryDLQ")
        }
    # An error a state machine's Retry handles (e.g. StartCutover refused while the server's test cleanup
    # job runs) is part of the design: reported, and the execution must still succeed. Any other failed
    # invocation (event, schedule) is a failure.
    failures = Counter(
        f"{record.function} {record.outcome}"
        for record in functions.log
        if record.outcome != "ok" and record.trigger != "stepfunctions"
    )
    retried = Counter(
        f"{record.function} {record.outcome}"
        for record in functions.log
        if record.outcome != "ok" and record.trigger == "stepfunctions"
    )
    lost = [sid for sid in ids if not is_finalized(cloud, sid)]
    # StartCutover accepted = a cutover job started; refused calls (ConflictException) are counted apart.
    twice = {
        sid: {
            "cutoverJobs": cutover_jobs[sid],
            "FinalizeCutover": finalize_calls[sid],
            "executions": executions_per_server[sid],
        }
        for sid in ids
        if (cutover_jobs[sid], finalize_calls[sid], executions_per_server[sid]) != (1, 1, 1)
    }
    refused = sum(start_cutover_calls[sid] - cutover_jobs[sid] for sid in ids)
    tests = Counter(test_jobs[sid] for sid in ids)
    statuses = executions.statuses()
    checks = {
        "finalized": n - len(lost),
        "lost": lost[:20],
        "done_twice": dict(list(twice.items())[:20]),
        "start_cutover_refused": refused,
        "test_launches_per_server": {str(k): v for k, v in sorted(tests.items())},
        "executions": dict(statuses),
        "quotas": {
            "samples": quotas.samples,
            "max_active_jobs": quotas.max_jobs,
            "max_servers_in_active_jobs": quotas.max_servers_in_jobs,
            "max_active_jobs_per_server": quotas.max_jobs_per_server,
            "max_replicating_servers": quotas.max_replicating,
            "replicating_quota": quotas.replicating_quota,
            "violations": quotas.violations,
            "note": quota_note,
        },
        "dead_letters": dead_letters,
        "function_failures": dict(failures),
        "task_errors_retried_by_the_gate": dict(retried),
        "on_failure_records": len(functions.on_failure_records),
        "mgn_throttled_calls": dict(cloud.mgn.rate.throttled),
        # Simulated seconds of the longest invocation of each function that ran past its Timeout.
        "over_timeout": {
            key: round(timing.max_simulated_s, 1)
            for key, timing in sorted(functions.timings.items())
            if timing.max_simulated_s > functions.timeout_of(key)
        },
    }
    problems = failed_checks(checks, n)
    events = eventbridge_events(cloud)
    lambda_by_function = {
        key: {
            "invocations": timing.invocations,
            "cpu_ms_per_invocation": round(1000 * timing.cpu_s / timing.invocations, 2),
            "billed_ms": timing.billed_ms,
            "longest_simulated_s": round(timing.max_simulated_s, 1),
            "timeout_s": functions.timeout_of(key),
            "longest_wait_for_container_s": round(timing.max_wait_s, 1),
            "containers": functions.containers(key),
        }
        for key, timing in sorted(functions.timings.items())
    }
    result: dict[str, Any] = {
        "servers": n,
        "phase": PHASE,
        "wall_seconds": round(setup_s + wave_s, 2),
        "setup_seconds": round(setup_s, 2),
        "wave_seconds": round(wave_s, 2),
        "wall_seconds_per_server": round((setup_s + wave_s) / n, 4),
        "servers_per_second": round(n / (setup_s + wave_s), 3),
        "simulated_hours": round(simulated_s / 3600, 2),
        "approvals": approvals,
        "calls": calls,
        "calls_per_server": {s: {op: round(c / n, 3) for op, c in ops.items()} for s, ops in calls.items()},
        "calls_per_server_total": {s: round(sum(ops.values()) / n, 3) for s, ops in calls.items()},
        "calls_per_server_by_phase": calls_by_phase(cloud, n),
        "lambda_invocations": dict(sorted(functions.counts.items())),
        "lambda_invocations_per_server": {k: round(v / n, 3) for k, v in sorted(functions.counts.items())},
        "lambda": lambda_by_function,
        "step_functions": {
            "states_entered": entered,
            "retries": retries,
            "billable_transitions": entered + retries,
        },
        "step_functions_transitions_per_server": round((entered + retries) / n, 3),
        "eventbridge_events": events,
        "mgn_request_rate": {
            "limit_per_second": cloud.mgn.rate.per_second,
            "call_seconds": cloud.mgn.rate.call_seconds,
            "peak_per_second": cloud.mgn.rate.peak(),
            "peak_per_second_by_operation": cloud.mgn.rate.peak_by_operation(),
            "throttled": dict(cloud.mgn.rate.throttled),
        },
        "custom_events_put": dict(cloud.calls.put_events_entries),
        "checks": checks,
        "problems": problems,
        "ok": not problems,
    }
    result["cost"] = cost_per_server(result)
    return result


def _call_key(call: tuple[str, dict[str, Any]]) -> tuple[str, str]:
    operation, params = call
    return operation, json.dumps(params, sort_keys=True, default=str)


def failed_checks(checks: dict[str, Any], n: int) -> list[str]:
    problems = []
    if checks["finalized"] != n:
        problems.append(f"lost: {n - checks['finalized']} of {n} servers not finalized")
    if checks["done_twice"]:
        problems.append(
            f"done twice (or not once): {len(checks['done_twice'])} servers, e.g. {checks['done_twice']}"
        )
    if checks["start_cutover_refused"]:
        problems.append(f"StartCutover refused for {checks['start_cutover_refused']} servers (expected none)")
    if set(checks["test_launches_per_server"]) != {"1"}:
        problems.append(f"test launches per server: {checks['test_launches_per_server']} (expected 1 each)")
    if checks["executions"] != {"SUCCEEDED": n}:
        problems.append(f"gate executions: {checks['executions']} (expected {n} SUCCEEDED)")
    quota = checks["quotas"]
    if quota["violations"]:
        problems.append(f"MGN quotas broken: {quota['violations']}")
    if sum(checks["dead_letters"].values()):
        problems.append(f"dead letters: {checks['dead_letters']}")
    if checks["function_failures"] or checks["on_failure_records"]:
        problems.append(
            f"function failures: {checks['function_failures']}, OnFailure records {checks['on_failure_records']}"
        )
    if checks.get("over_timeout"):
        problems.append(f"invocations longer than their Timeout (simulated s): {checks['over_timeout']}")
    # Throttled MGN calls (checks["mgn_throttled_calls"]) are a figure, not a failure: botocore and
    # the state machine retry them, and a call that still failed shows as a function failure above.
    return problems


def eventbridge_events(cloud: LocalCloud) -> dict[str, int]:
    """Events the default bus received, by kind: all AWS management events or schedules (free)."""
    mgn = Counter(
        "CloudTrail API calls (aws.mgn)"
        if e.get("detail-type") == "AWS API Call via CloudTrail"
        else "MGN service events"
        for e in cloud.mgn.events
    )
    scheduled = sum(stats["scheduled"] for stats in cloud.bus.stats.values())
    return {
        **dict(sorted(mgn.items())),
        "SSM Automation status changes (aws.ssm)": len(cloud.ssm.events),
        "scheduled rule firings": scheduled,
    }
