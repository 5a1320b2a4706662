"""``mgn-migrate``: the operator's one command (installed by ``pip install -e .``; ``make venv`` does it).

    mgn-migrate status [--wave W | --server S] [--json] [--watch SECONDS]
    mgn-migrate audit-export --wave W --since T --until T --output FILE
    mgn-migrate cutover {status,approve,reject} (SERVER_ID | --wave W) [--comment TEXT]
    mgn-migrate preflight --stack-outputs outputs.json --replication-ip IP   (on-prem checks)

``mgn-migrate COMMAND --help`` explains each. The preflight is also a single stdlib-only file,
``mgn_pipeline_ops/onprem_preflight.py``, to copy to source servers that have no pip.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

USAGE = __doc__ or ""


def _status(argv: list[str]) -> int:
    from mgn_pipeline_ops.cli import status

    return status.main(argv)


def _cutover(argv: list[str]) -> int:
    from mgn_pipeline_ops.cli import cutover

    return cutover.main(argv)


def _preflight(argv: list[str]) -> int:
    from mgn_pipeline_ops import onprem_preflight

    result: int = onprem_preflight.main(argv)
    return result


# Each command loads only its own modules: the preflight must start without boto3's import cost.
COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "status": lambda argv: _status(["status", *argv]),
    "audit-export": lambda argv: _status(["audit-export", *argv]),
    "cutover": _cutover,
    "preflight": _preflight,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE.strip())
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"mgn-migrate: unknown command {args[0]!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return command(args[1:])
