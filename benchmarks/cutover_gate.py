"""The cutover gate on the local cloud: N servers approved, cut over, verified and finalized.

    python benchmarks/cutover_gate.py [--servers 20]

Prints Step Functions state transitions per server (from each execution's history), MGN calls per
server by operation, and the calls made while the gate waited for the approvals (no polling: only
the reconciler's one bounded check per pending gate).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Powertools reads these when mgn_pipeline.shared.observability is first imported (Lambda sets them first).
for _key, _value in {
    "POWERTOOLS_SERVICE_NAME": "mgn-pipeline",
    "POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}.items():
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "layers" / "pipeline"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from localcloud.gate import CutoverCloud, cutover_cloud  # noqa: E402


def _mgn_ops(env: CutoverCloud) -> Counter[str]:
    """Every MGN call the emulator answered (from any thread), by operation."""
    return Counter(name for name, _ in env.mgn.calls)


def run(servers: int) -> dict[str, Any]:
    started = time.perf_counter()
    with cutover_cloud() as env:
        ids = env.ready_servers(servers)
        for sid in ids:
            env.automation_id(sid)
        # Waiting for people: one simulated hour, the reconciler runs every 5 minutes.
        mgn_before, ssm_before = _mgn_ops(env), Counter(name for name, _ in env.ssm.calls)
        env.advance(3600)
        waiting_mgn = _mgn_ops(env) - mgn_before
        waiting_ssm = Counter(name for name, _ in env.ssm.calls) - ssm_before
        mgn_before = _mgn_ops(env)
        for sid in ids:
            env.decide(sid, "Approve", comment="change CHG-1234 approved")
        env.advance(env._launch_seconds() + 120)
        env.settle()
        statuses = Counter(env.execution(sid)["status"] for sid in ids)
        transitions = [env.transitions(sid) for sid in ids]
        gate_mgn = _mgn_ops(env) - mgn_before
        wall = time.perf_counter() - started
        return {
            "servers": servers,
            "executions": dict(statuses),
            "transitions_per_server": {"max": max(transitions), "mean": round(sum(transitions) / servers, 2)},
            "mgn_calls_per_server_approval_to_done": {
                op: round(n / servers, 2) for op, n in sorted(gate_mgn.items())
            },
            "waiting_for_approval_1h_per_server": {
                "reconciles": 12,
                "mgn": {op: round(n / servers, 2) for op, n in sorted(waiting_mgn.items())},
                "ssm": {op: round(n / servers, 2) for op, n in sorted(waiting_ssm.items())},
            },
            "start_cutover_calls": env.mgn_calls("StartCutover"),
            "wall_seconds": round(wall, 2),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=20)
    args = parser.parse_args(argv)
    result = run(args.servers)
    print(json.dumps(result, indent=2))
    ok = result["transitions_per_server"]["max"] <= 25 and result["executions"] == {"SUCCEEDED": args.servers}
    print(
        f"cutover gate: {'OK' if ok else 'NOT OK'} (aim: <= 25 transitions per server, every execution SUCCEEDED)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
