"""A wave's table, its checks and costs, and the growth table across sizes, as printed."""

from __future__ import annotations

from typing import Any, TextIO

from localcloud.bench.cost import COST_CAVEATS
from localcloud.bench.measure import PHASE, SERVICES
from localcloud.bench.quotas import MAX_ACTIVE_JOBS, MAX_JOBS_PER_SERVER, MAX_SERVERS_IN_ACTIVE_JOBS


def print_table(result: dict[str, Any], out: TextIO) -> None:
    n = result["servers"]
    print(f"\nWave of {n} servers: {result['phase']}", file=out)
    print(
        f"  wall time            {result['wall_seconds']:>10.2f} s (local cloud up {result['setup_seconds']:.1f} s)",
        file=out,
    )
    print(f"  wall per server      {1000 * result['wall_seconds_per_server']:>10.1f} ms", file=out)
    print(f"  servers per second   {result['servers_per_second']:>10.2f}", file=out)
    print(f"  simulated time       {result['simulated_hours']:>10.2f} h", file=out)
    print("\n  calls per server           operation", file=out)
    for service, ops in result["calls_per_server"].items():
        for op, count in ops.items():
            print(f"    {service:<8} {count:>8.2f}       {op}", file=out)
    print(
        f"\n  {'calls per server by phase':<44} {'MGN':>6} {'DynamoDB':>8} {'EC2':>6} {'others':>7}", file=out
    )
    for phase, by_service in result["calls_per_server_by_phase"].items():
        others = sum(v for k, v in by_service.items() if k not in {"mgn", "dynamodb", "ec2"})
        print(
            f"    {phase:<42} {by_service.get('mgn', 0):>6.2f} {by_service.get('dynamodb', 0):>8.2f}"
            f" {by_service.get('ec2', 0):>6.2f} {others:>7.2f}",
            file=out,
        )
    rate = result["mgn_request_rate"]
    print(
        f"\n  MGN request rate (model: {rate['limit_per_second']} a second for the account, each call"
        f" {1000 * rate['call_seconds']:.0f} ms of its invocation)",
        file=out,
    )
    print(f"    {'peak, all operations':<42} {rate['peak_per_second']:>4} a second", file=out)
    for op, peak in rate["peak_per_second_by_operation"].items():
        print(f"    {op:<42} {peak:>4}", file=out)
    print(
        f"    throttled calls        {sum(rate['throttled'].values()):>4} {rate['throttled'] or ''}", file=out
    )
    print(
        "\n  Lambda per server      invocations   CPU ms/invocation   longest, simulated s (Timeout)"
        "   containers, longest wait for one (s)",
        file=out,
    )
    for fn, count in result["lambda_invocations_per_server"].items():
        timing = result["lambda"].get(fn, {})
        ms = timing.get("cpu_ms_per_invocation", 0.0)
        longest = f"{timing.get('longest_simulated_s', 0.0):>10.1f} ({timing.get('timeout_s')})"
        containers = (
            f"{timing.get('containers', 0):>6} {timing.get('longest_wait_for_container_s', 0.0):>8.1f}"
        )
        print(f"    {fn:<22} {count:>8.3f}   {ms:>10.1f}   {longest}   {containers}", file=out)
    sfn = result["step_functions"]
    print(
        f"\n  Step Functions transitions per server {result['step_functions_transitions_per_server']:.2f}"
        f" ({sfn['states_entered']} states entered + {sfn['retries']} retries)",
        file=out,
    )
    print("\n  EventBridge events on the default bus per server (free)", file=out)
    for kind, count in result["eventbridge_events"].items():
        print(f"    {count / n:>8.2f}  {kind}", file=out)
    print(
        f"    {sum(result['custom_events_put'].values()) / n:>8.2f}  custom events put by the pipeline",
        file=out,
    )
    print_checks(result, out)
    print_cost(result, out)


def print_checks(result: dict[str, Any], out: TextIO) -> None:
    checks, n = result["checks"], result["servers"]
    quota = checks["quotas"]
    print("\n  checks", file=out)
    print(f"    finalized                      {checks['finalized']:>6} of {n}", file=out)
    print(f"    not once: cutover job/Finalize {len(checks['done_twice']):>6} servers", file=out)
    print(
        f"    StartCutover refused           {checks['start_cutover_refused']:>6} servers"
        " (ConflictException; the batcher plans within the quotas, so none)",
        file=out,
    )
    print(f"    test launches per server       {checks['test_launches_per_server']}", file=out)
    print(f"    gate executions                {checks['executions']}", file=out)
    print(
        f"    max active MGN jobs            {quota['max_active_jobs']:>6} (quota {MAX_ACTIVE_JOBS}), servers in them "
        f"{quota['max_servers_in_active_jobs']} (quota {MAX_SERVERS_IN_ACTIVE_JOBS}), jobs per server "
        f"{quota['max_active_jobs_per_server']} (quota {MAX_JOBS_PER_SERVER}); {quota['samples']} samples",
        file=out,
    )
    print(
        f"    max servers replicating        {quota['max_replicating_servers']:>6} (quota {quota['replicating_quota']})",
        file=out,
    )
    print(f"    MGN quota                      {quota['note']}", file=out)
    print(f"    dead letters                   {checks['dead_letters']}", file=out)
    print(
        f"    function failures              {checks['function_failures'] or 0}, OnFailure records "
        f"{checks['on_failure_records']}",
        file=out,
    )
    print(f"    task errors retried by gate    {checks['task_errors_retried_by_the_gate'] or 0}", file=out)
    print(
        f"    result                         {'OK' if result['ok'] else 'FAILED: ' + '; '.join(result['problems'])}",
        file=out,
    )


def print_cost(result: dict[str, Any], out: TextIO) -> None:
    cost = result["cost"]
    per = cost["per_server_usd"]
    usage = cost["wave_usage"]
    print("\n  cost per migrated server, USD at list prices (us-east-1)", file=out)
    print(
        f"    Lambda requests      {per['lambda_requests']:>12.8f}   ({usage['lambda_requests']} requests in the wave)",
        file=out,
    )
    print(
        f"    Lambda duration      {per['lambda_duration']:>12.8f}   ({usage['lambda_gb_seconds']} GB-s, arm64)",
        file=out,
    )
    print(
        f"    Step Functions       {per['step_functions']:>12.8f}   ({usage['step_functions_transitions']} transitions)",
        file=out,
    )
    print(
        f"    EventBridge          {per['eventbridge']:>12.8f}   ({usage['eventbridge_custom_events']} custom events)",
        file=out,
    )
    print(f"    total                {per['total']:>12.8f}   (wave: {cost['wave_usd']:.4f} USD)", file=out)
    free = cost["fits_monthly_free_tier"]
    print(
        "    the whole wave fits the monthly free tier: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in free.items()),
        file=out,
    )
    for caveat in COST_CAVEATS:
        print("    * " + caveat.format(checked=cost["prices"]["checked"]), file=out)


def growth_table(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-server figures by size and their ratio to the smallest size (flat = linear growth)."""
    base = results[0]

    def per_server(result: dict[str, Any]) -> dict[str, float]:
        return {
            "wall_s": result["wall_seconds_per_server"],
            "calls": sum(result["calls_per_server_total"].values()),
            "transitions": result["step_functions_transitions_per_server"],
            "invocations": sum(result["lambda_invocations_per_server"].values()),
            "cost_usd": result["cost"]["per_server_usd"]["total"],
        }

    rows = []
    for result in results:
        mine, theirs = per_server(result), per_server(base)
        rows.append(
            {
                "servers": result["servers"],
                "wall_seconds": result["wall_seconds"],
                "simulated_hours": result["simulated_hours"],
                "per_server": mine,
                "calls_per_server_by_service": result["calls_per_server_total"],
                "ratio_to_smallest": {
                    k: round(v / theirs[k], 3) if theirs[k] else None for k, v in mine.items()
                },
                "ok": result["ok"],
            }
        )
    return {"baseline_servers": base["servers"], "rows": rows}


def print_growth(growth: dict[str, Any], out: TextIO) -> None:
    rows = growth["rows"]
    services = sorted({s for row in rows for s in row["calls_per_server_by_service"]}, key=SERVICES.index)
    print(f"\nGrowth from {rows[0]['servers']} to {rows[-1]['servers']} servers ({PHASE})", file=out)
    print(
        "per-server figures; x = ratio to the smallest wave (flat x1.0 = linear growth, below = better)\n",
        file=out,
    )
    header = (
        f"{'servers':>7} {'wall s':>8} {'wall/srv ms':>12} {'sim h':>6} "
        + " ".join(f"{s:>8}" for s in services)
        + f" {'calls/srv':>9} {'SFN tr/srv':>10} {'λ inv/srv':>9} {'$/srv':>10} {'ok':>3}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        per = row["per_server"]
        print(
            f"{row['servers']:>7} {row['wall_seconds']:>8.1f} {1000 * per['wall_s']:>12.1f} {row['simulated_hours']:>6.2f} "
            + " ".join(f"{row['calls_per_server_by_service'].get(s, 0):>8.2f}" for s in services)
            + f" {per['calls']:>9.2f} {per['transitions']:>10.2f} {per['invocations']:>9.2f} {per['cost_usd']:>10.7f}"
            + f" {'yes' if row['ok'] else 'NO':>3}",
            file=out,
        )
    print("\ngrowth vs the smallest wave (per server)", file=out)
    print(f"{'servers':>7} {'wall':>7} {'calls':>7} {'SFN tr':>7} {'λ inv':>7} {'$':>7}", file=out)
    for row in rows:
        ratio = row["ratio_to_smallest"]
        print(
            f"{row['servers']:>7} "
            + " ".join(
                f"x{ratio[k]:>6.2f}" for k in ("wall_s", "calls", "transitions", "invocations", "cost_usd")
            ),
            file=out,
        )
