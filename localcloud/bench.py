"""A wave of N servers through the pipeline on the local cloud, and what it cost: ``make bench``.

Prints wall time, servers per second, AWS calls per server by service and operation, Step
Functions transitions and Lambda invocations per server. The phases measured are the ones the
pipeline automates in this build; each capability that lands extends the run. Results also go
to ``reports/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from localcloud.cloud import LocalCloud
from localcloud.mgn import Timings

REPORT = Path("reports/bench.json")


def run_wave(servers: int, max_simulated_hours: float = 6.0) -> dict[str, Any]:
    timings = Timings(initiating_seconds=120, initial_sync_seconds=1800)
    started = time.perf_counter()
    with LocalCloud.start(timings=timings) as cloud:
        cloud.deployed()
        cloud.clock.advance(60)
        server_ids = [
            cloud.mgn.register_agent(f"app-{n:04d}", tags={"wave": "bench"}) for n in range(servers)
        ]
        simulated = 0.0
        while simulated < max_simulated_hours * 3600:
            cloud.clock.advance(300)
            simulated += 300
            registry = cloud.registry()
            if all(registry.get(sid, {}).get("step") == "OPEN_CUTOVER_GATE" for sid in server_ids):
                break
        else:
            raise RuntimeError(
                f"the wave did not pass its tests within {max_simulated_hours} simulated hours"
            )
        wall = time.perf_counter() - started
        transitions = _state_transitions(cloud)
        per_server = {
            service: {op: round(n / servers, 2) for op, n in sorted(cloud.calls.by_service(service).items())}
            for service in ("mgn", "ec2", "dynamodb", "sns", "states")
        }
        dead_letters = len(cloud.stack.queue_messages("FunctionFailureDLQ")) + len(
            cloud.stack.queue_messages("EventDeliveryDLQ")
        )
        return {
            "servers": servers,
            "phase": "agent installed -> settings enforced -> replicated -> tested and verified -> waiting for approval",
            "wall_seconds": round(wall, 2),
            "servers_per_second": round(servers / wall, 2),
            "simulated_minutes": round(simulated / 60),
            "calls_per_server": per_server,
            "calls_per_server_total": {s: round(sum(ops.values()), 2) for s, ops in per_server.items()},
            "lambda_invocations_per_server": {
                fn: round(n / servers, 3) for fn, n in sorted(cloud.stack.functions.counts.items())
            },
            # Each verified server opens its cutover gate, which runs up to the wait for a person.
            "step_functions_transitions_per_server": round(transitions / servers, 2),
            "dead_letters": dead_letters,
        }


def _state_transitions(cloud: LocalCloud) -> int:
    total = 0
    with cloud.calls.not_counting():
        for arn in cloud.state_machines.values():
            pages = cloud.sfn.client.get_paginator("list_executions").paginate(stateMachineArn=arn)
            total += sum(
                cloud.sfn.transitions(e["executionArn"]) for page in pages for e in page["executions"]
            )
    return total


def print_table(result: dict[str, Any], out: TextIO) -> None:
    print(f"\nWave of {result['servers']} servers: {result['phase']}", file=out)
    print(f"  wall time            {result['wall_seconds']:>10.2f} s", file=out)
    print(f"  servers per second   {result['servers_per_second']:>10.2f}", file=out)
    print(f"  simulated time       {result['simulated_minutes']:>10} min", file=out)
    print(f"  dead letters         {result['dead_letters']:>10}", file=out)
    print("\n  calls per server           operation", file=out)
    for service, ops in result["calls_per_server"].items():
        for op, n in ops.items():
            print(f"    {service:<8} {n:>8.2f}       {op}", file=out)
    print("\n  Lambda invocations per server", file=out)
    for fn, n in result["lambda_invocations_per_server"].items():
        print(f"    {fn:<22} {n:>8.3f}", file=out)
    print(
        f"\n  Step Functions transitions per server {result['step_functions_transitions_per_server']:.1f}",
        file=out,
    )


@contextmanager
def quiet_functions() -> Iterator[TextIO]:
    """Function logs are not the benchmark's output (and writing them costs time)."""
    terminal = sys.stdout
    with Path("/dev/null").open("w") as sink:
        sys.stdout = sink
        try:
            yield terminal
        finally:
            sys.stdout = terminal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a wave of N servers through the local cloud.")
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    with quiet_functions() as terminal:
        result = run_wave(args.servers)
    print_table(result, terminal)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    return 1 if result["dead_letters"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
