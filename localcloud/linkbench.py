"""``python -m localcloud.linkbench``: a wave's replication over one private link, three ways of
sharing it (``localcloud.bench.link``); the table, and ``reports/link.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from localcloud.bench.link import STRATEGIES, LinkWave, run_link_wave

REPORT = Path("reports/link.json")


def print_table(wave: LinkWave, results: list[dict[str, Any]], out: TextIO) -> None:
    print(
        f"\n{wave.servers} servers, {wave.total_tb:g} TB ({wave.smallest_gb:g} GB to {wave.largest_gb:g} GB each) "
        f"over a {wave.link_mbps:g} Mbps link, budget {wave.budget_mbps} Mbps, {wave.waves} waves "
        f"with windows every {wave.window_every_h:g} h from {wave.first_window_h:g} h",
        file=out,
    )
    header = (
        "strategy",
        "makespan",
        "windows met",
        "budget used",
        "peak",
        "over budget",
        "writes",
        "quiet writes",
    )
    print("  " + "  ".join(f"{h:>12}" for h in header), file=out)
    for r in results:
        row = (
            r["strategy"],
            f"{r['makespan_h']} h" + ("" if r["finished"] else "+"),
            f"{r['windows_met']} of {wave.waves}",
            f"{r['budget_used_while_copying']:.0%}",
            f"{r['peak_mbps']:g} Mbps",
            f"{r['over_budget_minutes']} min",
            str(r["throttle_writes"]),
            str(r["writes_in_quiet_reconciles"]),
        )
        print("  " + "  ".join(f"{c:>12}" for c in row), file=out)
    for r in results:
        waves = ", ".join(
            f"w{n + 1} {w['ready_h']} h/{w['window_h']} h{' ok' if w['met'] else ' LATE'}"
            + (f" eta±{w['eta_error_max']:.0%}" if r["strategy"] == "budget" else "")
            for n, w in enumerate(r["waves"])
        )
        print(f"  {r['strategy']:>8}: ready/window {waves}", file=out)
    budget = next((r for r in results if r["strategy"] == "budget"), None)
    if budget and budget["hand_edit_repaired_after_s"] is not None:
        print(
            f"  a hand edit to {500} Mbps repaired after {budget['hand_edit_repaired_after_s']:.0f} s",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A wave's replication over one link: default, equal, budget."
    )
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--total-tb", type=float, default=40.0)
    parser.add_argument("--link-mbps", type=float, default=1000.0)
    parser.add_argument("--budget-mbps", type=int, default=700)
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    wave = LinkWave(
        servers=args.servers, total_tb=args.total_tb, link_mbps=args.link_mbps, budget_mbps=args.budget_mbps
    )
    results = [run_link_wave(strategy, wave) for strategy in STRATEGIES]
    print_table(wave, results, sys.stdout)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"wave": wave.__dict__, "results": results}, indent=2, default=str))
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
