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
    timeline = text.split("=== Per-server timeline")[1]
    # The lost READY_FOR_TEST event is made good by the reconciler, which queues the test launch.
    erp_db = timeline.split("erp-db-01")[1].split("erp-app-01")[0]
    assert "AUDIT test-launch-queued (trigger reconciler" in erp_db
    # Four servers pass their test and wait at the cutover gate; the broken one asks for a person.
    assert timeline.count("AUDIT marked-ready-for-cutover") == 4
    assert timeline.count("MGN event: launch result TEST_LAUNCH_FAILED") == 3
    assert "Test launch of legacy-ftp-01 needs a person: 3 attempts failed" in text
    # Approved servers are cut over and finalized; the rejected one waits; the failed launch rolls back.
    assert "erp-db-01      cutover gate DONE" in text
    assert "erp-app-01     cutover gate DONE" in text
    assert "web-01         cutover gate REJECTED" in text
    assert "web-02         cutover gate ROLLED_BACK" in text
    assert "MGN event: launch result CUTOVER_LAUNCH_FAILED" in timeline
    assert "Dead letters: 0" in text


def test_bench_prints_its_table() -> None:
    result = run_wave(10)
    out = io.StringIO()
    print_table(result, out)
    assert result["dead_letters"] == 0
    # Settings are read once per state change (about five through the test phase), not at every reconcile.
    assert result["calls_per_server"]["mgn"]["GetReplicationConfiguration"] <= 6
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
        assert {registry[sid]["step"] for sid in ids} == {"OPEN_CUTOVER_GATE"}
        repairs = [r for r in cloud.audit() if r["subject"] == ids[0]]
        assert [r["action"] for r in repairs if r["action"].startswith("replication")] == [
            "replication-settings-repaired"
        ]
        assert cloud.stack.queue_messages("FunctionFailureDLQ") == []
        assert cloud.stack.queue_messages("EventDeliveryDLQ") == []
        assert cloud.bus.faults["dropped"] == 3
