"""Network-health benchmark: a full check of a closed VPC with 20 interface endpoints in under 3 s.

Builds the closed landing zone of ``localcloud.vpc`` in moto with 20 interface endpoints, then times one
full run (inventory read through moto + every inventory check + DNS, TCP, verified TLS per service)
with the probes pointed at real loopback listeners:

* most services answer TLS at once;
* five answer only after an injected 200 ms delay;
* one accepts TCP and never answers TLS: its probe must end at its own timeout (1 s) as a FAIL.

Probes run concurrently, so the run costs about the slowest probe plus the inventory read. Prints the
wall time, the slowest checks and "under 3 s: yes/no", writes ``reports/health_check.json``, and
exits 1 if the run took 3 s or more or the silent endpoint was not caught by its timeout.
A benchmark, not a test: ``python benchmarks/health_check.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "pipeline")]

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from localcloud.listeners import SilentListener, TlsListener, make_certificates  # noqa: E402
from localcloud.vpc import build_closed_vpc  # noqa: E402
from mgn_pipeline.health.inventory import InventoryReader  # noqa: E402
from mgn_pipeline.health.model import NetworkExpectations, Status  # noqa: E402
from mgn_pipeline.health.probes import ProbeTools  # noqa: E402
from mgn_pipeline.health.runner import run_checks  # noqa: E402

REGION = "us-east-1"
SERVICES = (
    "mgn", "ec2", "s3", "sns", "states", "ssm", "sts", "logs", "kms", "sqs",
    "events", "lambda", "monitoring", "secretsmanager", "ssmmessages", "ec2messages",
    "execute-api", "elasticloadbalancing", "autoscaling", "cloudformation",
)  # fmt: skip
DELAYED = ("sns", "states", "ssm", "sts", "logs")  # answer after 200 ms
SILENT = "cloudformation"  # never answers TLS
BUDGET_SECONDS = 3.0
PROBE_TIMEOUT_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "health_check.json")
    args = parser.parse_args(argv)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[key] = "testing"
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"

    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        ec2 = boto3.client("ec2", region_name=REGION)
        r53 = boto3.client("route53resolver", region_name=REGION)
        vpc = build_closed_vpc(ec2, r53, REGION, endpoint_services=SERVICES)
        s3_names = [
            d["DnsName"]
            for d in ec2.describe_vpc_endpoints(VpcEndpointIds=[vpc.endpoint_ids["s3"]])["VpcEndpoints"][0][
                "DnsEntries"
            ]
        ]
        certs = make_certificates(Path(scratch), [f"*.{REGION}.amazonaws.com", *s3_names])
        fast, slow, silent = TlsListener(certs), TlsListener(certs, delay=0.2), SilentListener()
        # One private address per service; the connector sends each to its listener.
        address_of = {service: f"10.0.1.{10 + i}" for i, service in enumerate(SERVICES)}
        port_of = {
            address: (silent.port if s == SILENT else slow.port if s in DELAYED else fast.port)
            for s, address in address_of.items()
        }

        def resolve(hostname: str, _timeout: float) -> list[str]:
            if hostname.startswith(("s3.", "dynamodb.")):
                return ["52.216.8.1"]  # gateway services keep public names
            service = hostname.split(".")[0]
            return [address_of.get(service, address_of["s3"])]  # vpce names: S3's is the only one probed

        def connect(address: str, _port: int, timeout: float) -> socket.socket:
            return socket.create_connection(("127.0.0.1", port_of[address]), timeout=timeout)

        expectations = NetworkExpectations(
            region=REGION,
            vpc_id=vpc.vpc_id,
            function_subnet_ids=tuple(vpc.private_subnet_ids),
            staging_subnet_id=vpc.staging_subnet_id,
            replication_security_group_ids=tuple(vpc.replication_security_group_ids),
            on_prem_cidrs=tuple(vpc.on_prem_cidrs),
            interface_services=SERVICES,
        )
        tools = ProbeTools(resolve, connect, str(certs.ca_file), timeout_seconds=PROBE_TIMEOUT_SECONDS)

        started = time.perf_counter()
        inventory = InventoryReader(ec2, r53).read(vpc.vpc_id)
        inventory_seconds = time.perf_counter() - started
        results, _forwarder = run_checks(inventory, expectations, tools, deadline_seconds=2.5)
        wall = time.perf_counter() - started
        for listener in (fast, slow, silent):
            listener.close()

    by_id = {r.check_id: r for r in results}
    silent_result = by_id[f"reach.{SILENT}"]
    caught = silent_result.status is Status.FAIL and "timed out" in silent_result.summary
    unexpected = sorted(
        r.check_id for r in results if r.status is Status.FAIL and r.check_id != f"reach.{SILENT}"
    )
    under = wall < BUDGET_SECONDS
    slowest = sorted(results, key=lambda r: r.duration_ms, reverse=True)[:8]

    print(f"closed VPC with {len(SERVICES)} interface endpoints: {len(results)} checks")
    print(f"inventory read (moto): {inventory_seconds * 1000:.0f} ms")
    print(f"full run wall time:    {wall * 1000:.0f} ms")
    print("slowest checks:")
    for r in slowest:
        print(f"  {r.check_id:28} {r.status.value:4} {r.duration_ms:7.1f} ms  {r.summary[:70]}")
    print(f"silent endpoint caught by its {PROBE_TIMEOUT_SECONDS:.0f} s timeout: {'yes' if caught else 'no'}")
    print(f"other failures: {unexpected or 'none'}")
    print(f"under {BUDGET_SECONDS:.0f} s: {'yes' if under else 'no'}")

    out: dict[str, Any] = {
        "endpoints": len(SERVICES),
        "checks": len(results),
        "wallSeconds": round(wall, 3),
        "inventorySeconds": round(inventory_seconds, 3),
        "budgetSeconds": BUDGET_SECONDS,
        "underBudget": under,
        "silentEndpointTimedOut": caught,
        "unexpectedFailures": unexpected,
        "perCheckMs": {r.check_id: round(r.duration_ms, 1) for r in results},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0 if under and caught and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
