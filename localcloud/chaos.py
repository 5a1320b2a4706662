"""``python -m localcloud.chaos --servers 200``: the chaos wave (``localcloud.bench.chaos``), its
figures against the same wave without faults, written to ``reports/chaos.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from localcloud.bench.chaos import Chaos
from localcloud.bench.cli import quiet_functions
from localcloud.bench.wave import run_wave

REPORT = Path("reports/chaos.json")


def print_figures(result: dict[str, Any], calm: dict[str, Any] | None, out: TextIO) -> None:
    figures = result["chaos"]
    n = figures["servers"]
    print(f"\nChaos wave of {n} servers (seed {figures['faults']['seed']})", file=out)
    for name, value in figures["faults"].items():
        print(f"    {name:<32} {value}", file=out)
    print("  outcome", file=out)
    print(f"    finalized                        {figures['finalized']} of {n}", file=out)
    print(
        f"    ended needing a person           {len(figures['stated'])} (a reason and a notification each)",
        file=out,
    )
    for sid, why in list(figures["stated"].items())[:10]:
        print(f"      {sid}  {why[:140]}", file=out)
    print(
        f"    lost (neither)                   {len(figures['lost'])} {figures['lost'][:5] or ''}", file=out
    )
    print(
        f"    StartCutover without approval    {len(figures['start_cutover_without_allowed_approval'])}",
        file=out,
    )
    print(f"    cut over twice                   {len(figures['cut_over_twice'])}", file=out)
    print(f"    test launches per server         {figures['test_launches_per_server']}", file=out)
    for queue, held in figures["dead_letters"].items():
        print(f"    {queue:<32} {len(held)} {sorted(set(held))[:4] or ''}", file=out)
    print("  faults applied", file=out)
    for name, value in figures["applied"].items():
        print(f"    {name:<32} {value}", file=out)
    hours = result["simulated_hours"]
    if calm is not None:
        ratio = hours / calm["simulated_hours"] if calm["simulated_hours"] else 0.0
        print(
            f"  simulated time                     {hours:.2f} h, {ratio:.2f} x the wave without faults ({calm['simulated_hours']:.2f} h)",
            file=out,
        )
        figures["time_ratio_to_calm"] = round(ratio, 2)
    print(f"  result                             {'OK' if result['ok'] else 'FAILED'}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The chaos wave: every fault at once, what survives.")
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument("--no-baseline", action="store_true", help="skip the same wave without faults")
    args = parser.parse_args(argv)
    with quiet_functions() as terminal:
        result = run_wave(args.servers, chaos=Chaos(seed=args.seed), progress=terminal)
        calm = None if args.no_baseline else run_wave(args.servers)
        print_figures(result, calm, terminal)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"chaos": result, "calm": calm}, indent=2, default=str))
    print(f"written: {args.output}", file=sys.stdout)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
