"""The command line: one wave (its table, reports/bench.json) or one fresh interpreter per size (growth)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from localcloud.bench.report import growth_table, print_cost, print_growth, print_table
from localcloud.bench.wave import WaveFailed, run_wave
from localcloud.cloud import ROOT

# The package docstring's first line, as --help has always shown it.
DESCRIPTION = (
    "A wave of N servers the whole way through the pipeline on the local cloud, what it cost, how it grows."
)
REPORT = Path("reports/bench.json")
SCALE_REPORT = Path("reports/bench-scale.json")


@contextmanager
def quiet_functions() -> Iterator[TextIO]:
    """Function logs are not the benchmark's output (and writing them costs time)."""
    terminal = sys.stdout
    with Path(os.devnull).open("w") as sink:
        sys.stdout = sink
        try:
            yield terminal
        finally:
            sys.stdout = terminal


def run_sizes(sizes: Iterable[int], out: TextIO, max_simulated_hours: float | None) -> list[dict[str, Any]]:
    """Each size in a fresh interpreter (and so a fresh local cloud): no size inherits another's warm state."""
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            output = Path(tmp) / f"wave-{size}.json"
            command = [
                sys.executable,
                "-m",
                "localcloud.bench",
                "--servers",
                str(size),
                "--output",
                str(output),
            ]
            if max_simulated_hours:
                command += ["--max-simulated-hours", str(max_simulated_hours)]
            print(f"\n+ {' '.join(command[1:])}", file=out, flush=True)
            subprocess.run(command, check=False, stdout=out, cwd=ROOT)  # noqa: S603 - our own module
            if not output.exists():
                raise WaveFailed(f"the wave of {size} servers ended without a result")
            results.append(json.loads(output.read_text()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--servers", type=int, default=200, help="one wave of this many servers")
    parser.add_argument(
        "--sizes", help="comma-separated wave sizes, each in a fresh local cloud, e.g. 10,100,1000"
    )
    parser.add_argument(
        "--output", type=Path, help=f"report file (default {REPORT}, with --sizes {SCALE_REPORT})"
    )
    parser.add_argument("--max-simulated-hours", type=float, help="give up after this much simulated time")
    parser.add_argument(
        "--default-replication-quota",
        action="store_true",
        help="keep MGN's default of 150 actively replicating servers (a bigger wave replicates in turns)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
        results = run_sizes(sizes, sys.stdout, args.max_simulated_hours)
        growth = growth_table(results)
        print_growth(growth, sys.stdout)
        largest = results[-1]
        print(f"\ncost per migrated server, wave of {largest['servers']}:", file=sys.stdout)
        print_cost(largest, sys.stdout)
        output = args.output or SCALE_REPORT
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"growth": growth, "waves": results}, indent=2) + "\n")
        print(f"\nwritten: {output}")
        failed = [r["servers"] for r in results if not r["ok"]]
        if failed:
            print(f"bench: FAILED checks for waves of {failed}", file=sys.stderr)
        return 1 if failed else 0
    output = args.output or REPORT
    with quiet_functions() as terminal:
        try:
            result = run_wave(
                args.servers,
                max_simulated_hours=args.max_simulated_hours,
                progress=terminal,
                default_replication_quota=args.default_replication_quota,
            )
        except (WaveFailed, TimeoutError) as exc:
            print(f"bench: FAILED: {exc}", file=terminal)
            return 1
    print_table(result, sys.stdout)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {output}")
    return 0 if result["ok"] else 1
