"""The local cloud as an endpoint any AWS client can use: ``make localcloud``.

``python -m localcloud.endpoint serve`` starts the emulated account (closed VPC, MGN, SSM approvals,
the stack with its functions, rules and schedules) and serves it on a loopback port, so that the
AWS CLI, boto3 in another process or any SDK drives it: ``--endpoint-url http://127.0.0.1:4566``,
any credentials, Region us-east-1. The clock runs ``--speed`` simulated seconds per real second, or
with ``--step`` only when asked. What no AWS API does has control calls of its own:

    GET  /_localcloud/         Region, account, the principal calls are attributed to, simulated time
    POST /_localcloud/agents   {"hostname": "web-01", "tags": {"wave": "w1"}}: an agent installed
    GET  /_localcloud/clock    simulated time
    POST /_localcloud/clock    {"seconds": 600}: move simulated time (what --step waits for)

``install-agent`` and ``advance`` make the control calls from a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_PORT = 4566
DEFAULT_URL = os.environ.get("LOCALCLOUD_ENDPOINT", f"http://127.0.0.1:{DEFAULT_PORT}")
LOG_FILE = Path("reports/localcloud-function-logs.jsonl")


def control(endpoint_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One control call (``path`` under ``/_localcloud/``); its JSON answer, RuntimeError on refusal."""
    request = urllib.request.Request(  # noqa: S310 - the URL is the person's own endpoint
        f"{endpoint_url.rstrip('/')}/_localcloud/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        raise RuntimeError(f"{method} {path}: HTTP {refused.code} {refused.read().decode()}") from refused
    return result


def _serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the client commands should not wait for moto to load.
    from localcloud.endpoint_server import serving
    from localcloud.function_logs import function_logs_to

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    speed = 0.0 if args.step else args.speed
    with (
        function_logs_to(args.logs) as terminal,
        serving(host=args.host, port=args.port, speed=speed, principal=args.principal) as running,
    ):
        clock = f"runs {speed:g}x real time" if speed else "moves on request (POST /_localcloud/clock)"
        info = control(running.url, "GET", "")
        print(
            f"Local cloud listening on {running.url} (Region {info['region']}, account {info['accountId']})\n"
            f"  simulated time {info['now']}; the clock {clock}\n"
            f"  calls are attributed to {info['principal']}\n"
            f"  aws --endpoint-url {running.url} mgn describe-source-servers\n"
            f"  python -m localcloud.endpoint install-agent --hostname web-01 --endpoint-url {running.url}\n"
            f"  python -m localcloud.endpoint advance --seconds 600 --endpoint-url {running.url}\n"
            f"  the functions' logs: {args.logs}; Ctrl-C stops it",
            file=terminal,
            flush=True,
        )
        stopped.wait()
        print("Local cloud stopping", file=terminal, flush=True)
    return 0


def _install_agent(args: argparse.Namespace) -> int:
    tags = dict(tag.split("=", 1) for tag in args.tag)
    print(json.dumps(control(args.endpoint_url, "POST", "agents", {"hostname": args.hostname, "tags": tags})))
    return 0


def _advance(args: argparse.Namespace) -> int:
    print(json.dumps(control(args.endpoint_url, "POST", "clock", {"seconds": args.seconds})))
    return 0


def _tag(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.endpoint", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the local cloud and serve it until Ctrl-C or SIGTERM")
    serve.add_argument(
        "--host", default="127.0.0.1", help="loopback by default: the endpoint checks no signature"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (printed at start)"
    )
    clock = serve.add_mutually_exclusive_group()
    clock.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (60)")
    clock.add_argument("--step", action="store_true", help="move the clock only on POST /_localcloud/clock")
    serve.add_argument(
        "--principal",
        help="who the AWS calls come from (CloudTrail, SSM approvals); default: a session of the stack's approver role",
    )
    serve.add_argument("--logs", type=Path, default=LOG_FILE, help="where the functions' JSON logs go")
    serve.set_defaults(run=_serve)

    install = commands.add_parser(
        "install-agent", help="what installing the MGN agent on a source server does"
    )
    install.add_argument("--hostname", required=True)
    install.add_argument("--tag", type=_tag, action="append", default=[], help="KEY=VALUE, e.g. wave=wave-1")
    install.set_defaults(run=_install_agent)

    advance = commands.add_parser("advance", help="move simulated time")
    advance.add_argument("--seconds", type=float, required=True)
    advance.set_defaults(run=_advance)

    for client in (install, advance):
        client.add_argument(
            "--endpoint-url", default=DEFAULT_URL, help=f"default {DEFAULT_URL} ($LOCALCLOUD_ENDPOINT)"
        )
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except RuntimeError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
