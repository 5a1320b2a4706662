"""Test-launch benchmark: a wave of N servers (default 50) from READY_FOR_TEST to verified, in the local cloud.

Real handlers (mgn_events, launch_batcher) against moto and the MGN emulator. Prints the MGN jobs
used, the MGN, EC2 and DynamoDB calls the pipeline made per server by operation (EC2 and DynamoDB
counted with a botocore ``before-call`` hook, only while a pipeline handler runs: the emulator's
own EC2 calls, MGN's side, are not ours), and the calls made by K batcher runs with nothing to do.

    python benchmarks/test_launch.py [--servers 50] [--idle-runs 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "pipeline")]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "mgn-pipeline",
        "POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "SERVERS_TABLE_NAME": "servers",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
    }
)

import boto3  # noqa: E402
import botocore.handlers  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from localcloud.clock import SimClock  # noqa: E402
from localcloud.mgn import MgnEmulator, Timings  # noqa: E402
from tests.conftest import FakeLambdaContext  # noqa: E402
from tests.integration.conftest import Account, _create_tables  # noqa: E402
from tests.integration.test_test_launches import (  # noqa: E402
    HEALTH_TABLE,
    PORTS_TAG,
    QUEUE_TABLE,
    Deliverer,
    LoopbackProber,
    create_launch_tables,
    wire_test_launches,
    write_health,
)


class CallCounter:
    """Counts EC2 and DynamoDB calls made while ``active`` (inside a pipeline handler)."""

    def __init__(self) -> None:
        self.active = False
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        if self.active:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def install(self) -> None:
        for service in ("ec2", "dynamodb"):
            botocore.handlers.BUILTIN_HANDLERS.append((f"before-call.{service}", self))
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION.events.register(f"before-call.{service}", self)


def run(servers: int, idle_runs: int) -> int:
    counter = CallCounter()
    monkeypatch = pytest.MonkeyPatch()
    with mock_aws():
        counter.install()
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        staging = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        launch = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="replication", Description="r", VpcId=vpc)["GroupId"]
        topic = boto3.client("sns").create_topic(Name="notifications")["TopicArn"]
        for key, value in {
            "AUDIT_TABLE_NAME": "audit",
            "NOTIFICATION_TOPIC_ARN": topic,
            "STAGING_SUBNET_ID": staging,
            "REPLICATION_SECURITY_GROUP_IDS": sg,
            "ALLOWED_LAUNCH_SUBNET_IDS": launch,
            "LAUNCH_QUEUE_TABLE_NAME": QUEUE_TABLE,
            "HEALTH_REPORTS_TABLE_NAME": HEALTH_TABLE,
            "TEST_PORT_PROBE_TIMEOUT_SECONDS": "0.5",
        }.items():
            monkeypatch.setenv(key, value)
        clock = SimClock()
        emu = MgnEmulator(
            clock,
            staging_subnet_id=staging,
            launch_subnet_id=launch,
            timings=Timings(initiating_seconds=60, initial_sync_seconds=600),
        )
        with emu.installed():
            dynamodb = boto3.client("dynamodb")
            _create_tables(dynamodb)
            create_launch_tables(dynamodb)
            write_health(dynamodb, clock.now())
            account = Account(clock, emu, dynamodb, boto3.client("mgn"), ec2, staging, launch, sg, "")
            prober = LoopbackProber()
            wire_test_launches(monkeypatch, prober, None, clock.now)
            delivery = Deliverer(account.load_handler, FakeLambdaContext())
            emu.subscribe(delivery.collect)
            batcher = account.load_handler("launch_batcher").lambda_handler

            def pipeline(fn: Callable[[], Any]) -> Any:
                counter.active = True
                try:
                    return fn()
                finally:
                    counter.active = False

            pipeline(
                lambda: account.load_handler("reconciler").lambda_handler(
                    {"source": "aws.cloudformation"}, FakeLambdaContext()
                )
            )
            ids = [emu.register_agent(f"app-{i:03d}", {PORTS_TAG: "443,1521"}) for i in range(servers)]
            clock.run_until_idle(max_seconds=3600)
            assert {emu.server(s).lifecycle for s in ids} == {"READY_FOR_TEST"}  # noqa: S101
            mgn_before = len(emu.calls)
            counter.calls.clear()

            # ---- the test phase: ready -> queued -> batched -> launched -> verified -> cleaned up
            pipeline(lambda: delivery.deliver(delivery.take()))
            launch_reports = [pipeline(lambda: batcher({}, FakeLambdaContext()))]
            clock.run_until_idle(max_seconds=3600)
            pipeline(lambda: delivery.deliver(delivery.take()))
            launch_reports.append(pipeline(lambda: batcher({}, FakeLambdaContext())))  # cleanups
            clock.run_until_idle(max_seconds=3600)
            mgn_calls = Counter(name for name, _ in emu.calls[mgn_before:])
            other_calls = Counter(counter.calls)
            passed = sum(1 for s in ids if emu.server(s).lifecycle == "READY_FOR_CUTOVER")

            # ---- nothing changes: the batcher runs on its schedule
            mgn_idle_before = len(emu.calls)
            counter.calls.clear()
            for _ in range(idle_runs):
                pipeline(lambda: batcher({}, FakeLambdaContext()))
            idle_mgn = Counter(name for name, _ in emu.calls[mgn_idle_before:])
            idle_other = Counter(counter.calls)
            prober.close()

    launch_jobs = [j for r in launch_reports for j in r["launchJobs"]]
    cleanup_jobs = [j for r in launch_reports for j in r["cleanupJobs"]]
    print(f"servers: {servers}; verified and READY_FOR_CUTOVER: {passed}")
    print(
        f"MGN jobs: {len(launch_jobs)} start_test (fewest the quotas allow: {-(-servers // 200)}), {len(cleanup_jobs)} terminate"
    )
    print(f"{'calls in the test phase':44} {'total':>7} {'per server':>11}")
    for name, count in sorted({**{f"mgn:{k}": v for k, v in mgn_calls.items()}, **other_calls}.items()):
        print(f"  {name:42} {count:7d} {count / servers:11.2f}")
    print(
        f"{idle_runs} batcher runs with nothing due: MGN calls {sum(idle_mgn.values())}, others {dict(idle_other)}"
    )
    ok = passed == servers and sum(idle_mgn.values()) == 0 and set(idle_other) == {"dynamodb:Query"}
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--idle-runs", type=int, default=10)
    args = parser.parse_args()
    return run(args.servers, args.idle_runs)


if __name__ == "__main__":
    sys.exit(main())
