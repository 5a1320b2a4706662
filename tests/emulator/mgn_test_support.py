"""Helpers shared by the localcloud tests (imported by conftest and the test modules)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config

from localcloud import SimClock
from localcloud.mgn import MgnEmulator, Timings

REGION = "us-east-1"
ACCOUNT = "111122223333"
# Short simulated durations keep the timelines in the tests easy to follow.
FAST = Timings(
    initiating_seconds=60,
    initial_sync_seconds=600,
    job_pending_seconds=10,
    snapshot_seconds=20,
    conversion_seconds=60,
    boot_seconds=30,
    terminate_seconds=20,
)
SYNCED_AFTER = FAST.initiating_seconds + FAST.initial_sync_seconds
JOB_DONE_AFTER = FAST.job_pending_seconds + FAST.snapshot_seconds + FAST.conversion_seconds


def make_emulator(clock: SimClock, network: SimpleNamespace, **kwargs: Any) -> MgnEmulator:
    return MgnEmulator(
        clock,
        staging_subnet_id=network.staging_subnet_id,
        launch_subnet_id=network.launch_subnet_id,
        timings=FAST,
        ec2_client=network.ec2,
        **kwargs,
    )


def mgn_client(**config: Any) -> Any:
    # No retries: a throttled call must surface at once, and botocore's backoff would really sleep.
    return boto3.client("mgn", region_name=REGION, config=Config(retries={"total_max_attempts": 1}, **config))


def ready_servers(emu: MgnEmulator, count: int, **options: Any) -> list[str]:
    """Register ``count`` agents and let them finish initial sync (lifecycle READY_FOR_TEST)."""
    ids = [emu.register_agent(f"host{i:03d}", {"wave": "1"}, **options) for i in range(count)]
    emu.clock.advance(SYNCED_AFTER + 1)
    return ids


def send_raw_body(client: Any, operation: str, body: dict[str, Any], **api_params: Any) -> Any:
    """Call ``operation`` but put ``body`` on the wire, bypassing botocore's serializer and validator.

    This is how a hand-written or non-botocore client could reach MGN with unknown keys.
    """
    event = f"before-call.mgn.{operation}"

    def replace(params: dict[str, Any], **_: Any) -> None:
        params["body"] = json.dumps(body).encode()

    client.meta.events.register_first(event, replace)
    try:
        return getattr(client, xform_name(operation))(**api_params)
    finally:
        client.meta.events.unregister(event, replace)
