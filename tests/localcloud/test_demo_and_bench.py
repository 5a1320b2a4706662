"""The README's demo and the wave benchmark run end to end on the local cloud."""

from __future__ import annotations

import io

from localcloud.bench import print_table, run_wave
from localcloud.cloud import LocalCloud
from localcloud.demo import run_demo
from localcloud.mgn import Timings


def test_demo_runs_the_wave_and_tells_the_story() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "NOTIFICATION  Replication settings drift repaired on web-02" in text
    assert "web-02 is back on dataPlaneRouting=PRIVATE_IP, createPublicIP=False" in text
    assert "drift repaired" in text.split("A person switches the replication template")[1]
    # The lost READY_FOR_TEST event is made good by the reconciler.
    assert "erp-db-01      READY_FOR_TEST     CONTINUOUS    step START_TEST" in text
    assert "MGN event: launch result TEST_LAUNCH_FAILED" in text
    assert text.count("MGN event: launch result TEST_LAUNCH_SUCCEEDED") == 4
    assert "Dead letters: 0" in text


def test_bench_prints_its_table() -> None:
    result = run_wave(10)
    out = io.StringIO()
    print_table(result, out)
    assert result["dead_letters"] == 0
    assert result["calls_per_server"]["mgn"]["GetReplicationConfiguration"] <= 3
    assert "servers per second" in out.getvalue()
    assert "MgnEventFunction" in out.getvalue()


def test_a_wave_survives_duplicated_dropped_and_reordered_events() -> None:
    with LocalCloud.start(timings=Timings(initiating_seconds=60, initial_sync_seconds=600)) as cloud:
        cloud.deployed()
        cloud.clock.advance(60)
        cloud.bus.duplicate_next(10)
        cloud.bus.reorder(window_seconds=30)
        cloud.bus.drop_next(3, detail_type="MGN Source Server Lifecycle State Change")
        ids = [cloud.mgn.register_agent(f"srv-{n}") for n in range(8)]
        operator = cloud.mgn_as_operator()
        operator.update_replication_configuration(sourceServerID=ids[0], dataPlaneRouting="PUBLIC_IP")
        cloud.clock.advance(2 * 3600)

        registry = cloud.registry()
        assert {registry[sid]["step"] for sid in ids} == {"START_TEST"}
        repairs = [r for r in cloud.audit() if r["subject"] == ids[0]]
        assert [r["action"] for r in repairs] == ["replication-settings-repaired"]
        assert cloud.stack.queue_messages("FunctionFailureDLQ") == []
        assert cloud.stack.queue_messages("EventDeliveryDLQ") == []
        assert cloud.bus.faults["dropped"] == 3
