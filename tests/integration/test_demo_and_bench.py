"""The README's demo and the wave benchmark run end to end on the local cloud."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.bench import (
    failed_checks,
    growth_table,
    print_growth,
    print_table,
    raise_replication_quota,
    run_wave,
)
from localcloud.calls import CallCounter
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


def test_bench_takes_a_small_wave_the_whole_way_within_the_call_budget() -> None:
    servers = 20
    result = run_wave(servers)
    out = io.StringIO()
    print_table(result, out)
    text = out.getvalue()
    assert result["ok"], result["problems"]
    checks = result["checks"]
    # Nothing lost, nothing done twice: one cutover job and one finalize per server, one test each.
    assert checks["finalized"] == servers
    assert checks["done_twice"] == {}
    assert checks["test_launches_per_server"] == {"1": servers}
    assert checks["executions"] == {"SUCCEEDED": servers}
    assert result["calls"]["mgn"]["FinalizeCutover"] == servers
    assert result["approvals"] == servers
    # MGN's quotas held at every sample (the approver paces approvals to the free job slots).
    quotas = checks["quotas"]
    assert quotas["samples"] > 100
    assert quotas["violations"] == []
    assert quotas["max_active_jobs"] <= 20
    assert quotas["max_servers_in_active_jobs"] <= 200
    assert quotas["max_active_jobs_per_server"] == 1
    assert checks["dead_letters"] == {"FunctionFailureDLQ": 0, "EventDeliveryDLQ": 0}
    assert checks["function_failures"] == {}
    assert checks["on_failure_records"] == 0
    # The call budget (issue #14): at most 8 MGN calls per migrated server, reads and writes.
    mgn = result["calls_per_server"]["mgn"]
    assert result["calls_per_server_total"]["mgn"] <= 8
    # Replication settings and the launch configuration are read on first sight (the recheck
    # interval is longer than this wave), not at every event, step or reconcile; verifying a test
    # or a cutover reads neither; a batch of events, a reconcile page or a wave's approval reads
    # its servers together.
    assert mgn["GetReplicationConfiguration"] <= 1
    assert mgn["GetLaunchConfiguration"] <= 1
    assert mgn["DescribeSourceServers"] <= 2
    assert mgn["DescribeJobs"] <= 0.5
    # DynamoDB has no budget met yet: this ratchet keeps what a 20-server wave costs from growing.
    assert result["calls_per_server_total"]["dynamodb"] <= 65
    # MGN's request rate: the emulator limits the account to 10 calls a second. The functions'
    # paced shares add up to 8 (test_template.py), so nothing is throttled and the peak stays there.
    rate = result["mgn_request_rate"]
    assert rate["limit_per_second"] == 10 and rate["peak_per_second"] <= 8
    assert sum(rate["throttled"].values()) == 0
    assert "MGN request rate" in text and "throttled calls" in text
    # Reserved concurrency bounds the containers (the gate tasks waited for one, they were not run
    # in more); no invocation ran past its Timeout.
    lambdas = result["lambda"]
    assert lambdas["CutoverTasksFunction"]["containers"] <= 3
    assert lambdas["MgnEventFunction"]["containers"] <= 2
    assert checks["over_timeout"] == {}
    # Every call is in one phase of the table, so a regression shows where it is.
    phases = result["calls_per_server_by_phase"]
    for service, total in result["calls_per_server_total"].items():
        assert sum(by_service.get(service, 0) for by_service in phases.values()) == pytest.approx(
            total, abs=0.01
        )
    assert result["step_functions"]["billable_transitions"] >= 8 * servers  # states entered, per gate
    # Cost per migrated server: each service, and their total.
    cost = result["cost"]
    per = cost["per_server_usd"]
    assert set(per) == {"lambda_requests", "lambda_duration", "step_functions", "eventbridge", "total"}
    assert per["total"] == pytest.approx(sum(v for k, v in per.items() if k != "total"))
    assert per["lambda_requests"] > 0
    assert per["lambda_duration"] > 0
    assert per["step_functions"] > 0
    assert per["eventbridge"] == 0  # AWS service events only: the pipeline puts no custom event
    assert cost["memory_mb"]["MgnEventFunction"] == 512
    assert all(fn["billed_ms"] >= fn["invocations"] for fn in result["lambda"].values())
    for phrase in ("wall per server", "MgnEventFunction", "max active MGN jobs", "cost per migrated server"):
        assert phrase in text
    assert "free tier" in text
    assert "result                         OK" in text


def test_growth_table_shows_per_server_figures_against_the_smallest_wave() -> None:
    small = _fake_result(10, wall=20.0, calls=100.0, transitions=9.0, cost=0.0003)
    large = _fake_result(1000, wall=900.0, calls=150.0, transitions=9.0, cost=0.0006)
    growth = growth_table([small, large])
    rows = growth["rows"]
    assert [row["servers"] for row in rows] == [10, 1000]
    assert rows[0]["ratio_to_smallest"]["wall_s"] == 1.0
    assert rows[1]["ratio_to_smallest"]["wall_s"] == pytest.approx(0.45)  # 0.9 s vs 2 s per server
    assert rows[1]["ratio_to_smallest"]["calls"] == pytest.approx(1.5)
    assert rows[1]["ratio_to_smallest"]["transitions"] == 1.0
    out = io.StringIO()
    print_growth(growth, out)
    text = out.getvalue()
    assert "growth vs the smallest wave" in text
    assert "x  1.50" in text


def test_a_broken_check_fails_the_bench() -> None:
    checks = _fake_result(3, wall=1.0, calls=1.0, transitions=1.0, cost=0.0)["checks"]
    assert failed_checks(checks, 3) == []
    checks["finalized"] = 2
    checks["quotas"]["violations"] = ["08:00:00 21 active jobs (quota 20)"]
    checks["function_failures"] = {"MgnEventFunction error:KeyError": 1}
    checks["start_cutover_refused"] = 2
    problems = failed_checks(checks, 3)
    assert len(problems) == 4
    assert problems[0].startswith("lost: 1 of 3")


def test_the_wave_gets_a_replication_quota_increase_unless_the_default_is_kept() -> None:
    with LocalCloud.start(timings=Timings(initiating_seconds=60, initial_sync_seconds=600)) as cloud:
        quota, note = raise_replication_quota(cloud, 400, keep_default=True)
        assert quota == 150 and "kept" in note
        assert cloud.mgn.backend.quotas.max_replicating_servers == 150
        quota, note = raise_replication_quota(cloud, 400)
        assert quota == 400 and "raised 150 -> 400" in note
        assert cloud.mgn.backend.quotas.max_replicating_servers == 400


def test_the_call_counter_counts_custom_events_per_entry() -> None:
    counter = CallCounter()
    with mock_aws(), counter.installed():
        events = boto3.client("events", region_name="us-east-1")
        events.put_events(
            Entries=[
                {"Source": "acme.pipeline", "DetailType": "x", "Detail": "{}"},
                {"Source": "acme.pipeline", "DetailType": "y", "Detail": "{}"},
            ]
        )
    assert counter.calls[("events", "PutEvents")] == 1
    assert counter.put_events_entries == {"acme.pipeline": 2}


def _fake_result(
    servers: int, *, wall: float, calls: float, transitions: float, cost: float
) -> dict[str, Any]:
    return {
        "servers": servers,
        "wall_seconds": wall,
        "wall_seconds_per_server": wall / servers,
        "simulated_hours": 1.0,
        "calls_per_server_total": {"mgn": calls / 2, "dynamodb": calls / 2},
        "step_functions_transitions_per_server": transitions,
        "lambda_invocations_per_server": {"MgnEventFunction": 6.0},
        "cost": {"per_server_usd": {"total": cost}},
        "ok": True,
        "checks": {
            "finalized": servers,
            "done_twice": {},
            "start_cutover_refused": 0,
            "test_launches_per_server": {"1": servers},
            "executions": {"SUCCEEDED": servers},
            "quotas": {"violations": []},
            "dead_letters": {"FunctionFailureDLQ": 0, "EventDeliveryDLQ": 0},
            "function_failures": {},
            "on_failure_records": 0,
        },
    }


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
