"""Wave-scale benchmark: waves of N servers the whole way (agent installed -> finalized) in the local cloud.

    python benchmarks/wave_scale.py                      # 10 and 100 servers (part of make bench)
    python benchmarks/wave_scale.py --sizes 10,100,1000  # make bench-scale (~20 minutes on 2 cores)

Each size runs in a fresh interpreter and local cloud (``localcloud.bench``): its own table first,
then a growth table (wall time, calls per server by service, Step Functions transitions and Lambda
invocations per server, simulated hours, each per-server figure's ratio to the smallest wave: flat
means linear growth) and the cost per migrated server at list prices. Writes
``reports/bench-scale.json``; exits 1 if any wave lost a server, did something twice, broke an MGN
quota, left a dead letter or had a function fail. A benchmark, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "layers" / "pipeline"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from localcloud.bench import main  # noqa: E402

DEFAULT_SIZES = "10,100"

if __name__ == "__main__":
    arguments = sys.argv[1:]
    if not any(a == "--sizes" or a.startswith("--sizes=") for a in arguments):
        arguments = ["--sizes", DEFAULT_SIZES, *arguments]
    raise SystemExit(main(arguments))
