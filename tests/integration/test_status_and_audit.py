"""Status, audit export and notifications for people, on one wave run through the local cloud.

One run (module-scoped: the integration gate's time matters) takes a wave of four servers and a
server of another wave from agent installed to their ends: one is cut over and finalized, one is
rejected by the change board, one fails its first test launch and then waits for approval, one
fails every test launch and is handed to a person. On the way a person flips a server to public
replication, and the closed network breaks and is repaired. Then ``mgn-migrate status`` is asked
about it, its audit trail is exported, and the people's inbox is read.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from localcloud.gate import CutoverCloud, cutover_cloud
from localcloud.mgn import Timings
from mgn_pipeline_ops.cli import status as status_cli
from mgn_pipeline_ops.status.audit_export import CSV_COLUMNS
from mgn_pipeline_ops.status.fixes import NEUTRAL, PROBLEMS, PROGRESS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WAVE = "wave-1"
CUT_OVER = "db-01"  # approved: cut over and finalized
REJECTED = "web-01"  # the change board rejects it
RETRIED = "app-01"  # first test launch fails, the retry passes; its approval is left waiting
BROKEN = "ftp-01"  # every test launch fails: handed to a person
OTHER_WAVE = "mail-01"  # wave-2: left waiting for approval
HOSTNAMES = (CUT_OVER, REJECTED, RETRIED, BROKEN)
BOOT_FAILURE = "Failed to launch test instance: the boot volume cannot be converted"


@dataclass
class WaveRun:
    gate: CutoverCloud
    ids: dict[str, str]  # hostname -> server id
    notices: list[dict[str, Any]] = field(default_factory=list)  # what people received, with kind
    tables: dict[str, str] = field(default_factory=dict)

    def cli(self, *argv: str, **kwargs: Any) -> tuple[int, str]:
        out = io.StringIO()
        flags = [
            "--servers-table",
            self.tables["ServersTable"],
            "--audit-table",
            self.tables["AuditTable"],
            "--gate-table",
            self.tables["CutoverGateTable"],
            "--queue-table",
            self.tables["LaunchQueueTable"],
        ]
        with self.gate.cloud.calls.not_counting():
            code = status_cli.main(
                [*argv, *flags], mgn=boto3.client("mgn"), dynamodb=boto3.client("dynamodb"), out=out, **kwargs
            )
        return code, out.getvalue()


def advance(gate: CutoverCloud, seconds: float, every: float = 60.0) -> None:
    """Simulated time on the stack's schedules, letting the gate's executions settle in between."""
    clock = gate.cloud.clock
    end = clock.now().timestamp() + seconds
    while clock.now().timestamp() < end:
        gate.settle()
        clock.advance(min(every, end - clock.now().timestamp()))
    gate.settle()


def keep_failing(gate: CutoverCloud, server_id: str) -> None:
    """Every launch of the server fails, as a broken boot volume would."""
    gate.mgn.fail_next_launch(server_id, BOOT_FAILURE)

    def rearm(event: dict[str, Any]) -> None:
        detail = event.get("detail")
        failed = isinstance(detail, dict) and detail.get("state") == "TEST_LAUNCH_FAILED"
        if failed and server_id in str(event.get("resources")):
            gate.mgn.fail_next_launch(server_id, BOOT_FAILURE)

    gate.mgn.subscribe(rearm)


def inbox(gate: CutoverCloud) -> list[dict[str, Any]]:
    """Every message people received: subject, body, and ``kind`` (the approval topic's have none:
    Systems Manager writes them)."""
    cloud = gate.cloud
    sqs = boto3.client("sqs")
    approvals = cloud.stack.refs["AutomationApprovalTopic"]
    received = []
    with cloud.calls.not_counting():
        while batch := sqs.receive_message(QueueUrl=cloud.inbox_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                body = json.loads(message["Body"])
                kind = (body.get("MessageAttributes") or {}).get("kind", {}).get("Value")
                if body.get("TopicArn") == approvals:
                    kind = "approval-waiting"
                received.append({"subject": body.get("Subject"), "body": body["Message"], "kind": kind})
                sqs.delete_message(QueueUrl=cloud.inbox_url, ReceiptHandle=message["ReceiptHandle"])
    return received


@pytest.fixture(scope="module")
def run() -> Iterator[WaveRun]:
    timings = Timings(initiating_seconds=60, initial_sync_seconds=600)
    with cutover_cloud(timings=timings, schedules=True, parameters={"TestLaunchMaxAttempts": "2"}) as gate:
        cloud = gate.cloud
        cloud.deployed()
        advance(gate, 60)
        # The closed network breaks (TCP 1500 to the staging subnet) and is repaired.
        ec2 = boto3.client("ec2")
        with cloud.calls.not_counting():
            cloud.vpc.remove_replication_ingress_1500(ec2)
        cloud.stack.functions.invoke("NetworkHealthFunction", {"requestedBy": "operator"})
        with cloud.calls.not_counting():
            cloud.vpc.restore_replication_ingress_1500(ec2)
        cloud.stack.functions.invoke("NetworkHealthFunction", {"requestedBy": "operator"})

        ids = {name: cloud.mgn.register_agent(name, tags={"wave": WAVE}) for name in HOSTNAMES}
        ids[OTHER_WAVE] = cloud.mgn.register_agent(OTHER_WAVE, tags={"wave": "wave-2"})
        advance(gate, 120)
        # A person switches a server to public replication: the pipeline puts it back.
        cloud.mgn_as_operator().update_replication_configuration(
            sourceServerID=ids[CUT_OVER], dataPlaneRouting="PUBLIC_IP", createPublicIP=True
        )
        gate.mgn.fail_next_launch(ids[RETRIED], BOOT_FAILURE)
        keep_failing(gate, ids[BROKEN])
        advance(gate, 1080)

        gate.decide(ids[CUT_OVER], "Approve", comment="CAB-2290 approved")
        gate.decide(ids[REJECTED], "Reject", comment="CAB-2291 postponed to the next window")
        advance(gate, 300)
        yield WaveRun(gate, ids, inbox(gate), dict(cloud.stack.refs))


# ====================================================================== status


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {server["hostname"]: server for server in report["servers"]}


def test_status_json_shows_step_wait_and_last_error_with_its_fix(run: WaveRun) -> None:
    code, text = run.cli("status", "--json")
    assert code == 0
    report = json.loads(text)
    servers = by_host(report)
    assert set(servers) == {*HOSTNAMES, OTHER_WAVE}
    registry = run.gate.cloud.registry()
    for name, server in servers.items():
        assert server["serverId"] == run.ids[name]
        assert server["wave"] == ("wave-2" if name == OTHER_WAVE else WAVE)
        assert server["step"] == registry[run.ids[name]]["step"]
        assert server["stepSince"] == registry[run.ids[name]]["stepSince"]

    done = servers[CUT_OVER]
    assert (done["lifecycle"], done["step"], done["done"]) == ("CUTOVER", "DONE", True)
    assert done["waitingFor"] is None and done["needsPerson"] is False
    assert done["lastError"] is None or done["lastError"]["current"] is False
    assert done["gate"]["status"] == "DONE" and done["gate"]["cutoverJobId"].startswith("mgnjob-")

    waiting = servers[RETRIED]
    automation = run.gate.gate(run.ids[RETRIED])["automationExecutionId"]
    assert (waiting["lifecycle"], waiting["replication"]) == ("READY_FOR_CUTOVER", "CONTINUOUS")
    assert waiting["lagSeconds"] is not None and waiting["lagDuration"].startswith("P")
    assert waiting["step"] == "OPEN_CUTOVER_GATE"
    assert waiting["waitingFor"] == f"approval by a person (SSM Automation {automation})"
    assert waiting["needsPerson"] is True
    # Its first test launch failed, the retry passed: the error is history, not current.
    assert waiting["lastError"]["action"] == "test-launch-failed"
    assert waiting["lastError"]["current"] is False

    rejected = servers[REJECTED]
    assert rejected["gate"]["status"] == "REJECTED" and rejected["needsPerson"] is True
    assert rejected["waitingFor"].startswith("a person: cutover not approved (REJECTED")
    error = rejected["lastError"]
    assert (error["action"], error["current"], error["needsPerson"]) == ("cutover-rejected", True, True)
    assert error["reason"] == "CAB-2291 postponed to the next window"  # the approver's comment
    assert error["fix"] == PROBLEMS["cutover-rejected"].fix and "READY_FOR_TEST" in error["fix"]
    assert error["actor"].endswith("MigrationApprover/alice")

    broken = servers[BROKEN]
    assert (broken["lifecycle"], broken["step"]) == ("READY_FOR_TEST", "START_TEST")
    assert broken["testLaunch"]["status"] == "FAILED" and broken["testLaunch"]["attempt"] == 2
    assert broken["needsPerson"] is True and "the test launch failed 2 time(s)" in broken["waitingFor"]
    error = broken["lastError"]
    assert (error["action"], error["current"]) == ("test-launch-failed", True)
    assert "boot volume cannot be converted" in error["reason"]
    assert error["fix"] == PROBLEMS["test-launch-failed"].fix
    assert error["jobId"] == broken["testLaunch"]["jobId"]

    [wave_1] = [w for w in report["waves"] if w["wave"] == WAVE]
    assert (wave_1["total"], wave_1["done"], wave_1["percentDone"], wave_1["finished"]) == (4, 1, 25, False)
    assert wave_1["byStep"] == {"DONE": 1, "OPEN_CUTOVER_GATE": 2, "START_TEST": 1}
    assert set(wave_1["needsPerson"]) == {run.ids[REJECTED], run.ids[RETRIED], run.ids[BROKEN]}
    assert wave_1["stuck"] == {}


def test_status_table_renders_and_filters_by_wave_and_server(run: WaveRun) -> None:
    code, table = run.cli("status", "--wave", WAVE)
    assert code == 0
    assert "Wave wave-1: 1/4 done (25%), 3 need a person" in table
    assert "HOSTNAME" in table and "STEP SINCE" in table
    for name in HOSTNAMES:
        assert f"\n{name} " in table
    assert OTHER_WAVE not in table and "wave-2" not in table
    assert "waits for: approval by a person (SSM Automation" in table
    assert "last error: the approver rejected the cutover" in table
    assert "fix: Nothing was cut over; the server keeps replicating." in table

    code, text = run.cli("status", "--wave", "wave-2", "--json")
    assert code == 0 and [s["hostname"] for s in json.loads(text)["servers"]] == [OTHER_WAVE]
    code, text = run.cli("status", "--server", run.ids[BROKEN], "--json")
    assert code == 0 and [s["hostname"] for s in json.loads(text)["servers"]] == [BROKEN]
    code, _ = run.cli("status", "--wave", "wave-404")
    assert code == status_cli.NOTHING_MATCHED


def test_progress_view_prints_counts_and_refreshes(run: WaveRun) -> None:
    slept: list[float] = []
    code, text = run.cli("status", "--wave", WAVE, "--watch", "30", max_iterations=2, sleep=slept.append)
    assert code == 0 and slept == [30.0]
    assert text.count("Wave wave-1: 1/4 done (25%), 3 need a person") == 2
    assert "steps: DONE 1, OPEN_CUTOVER_GATE 2, START_TEST 1" in text
    assert "needs a person: 3" in text and f"    {BROKEN}: a person: the test launch failed" in text
    assert "stuck: 0" in text

    code, text = run.cli("status", "--wave", WAVE, "--watch", "30", "--json", max_iterations=1)
    [line] = text.splitlines()
    assert json.loads(line)["waves"][0]["byStep"]["START_TEST"] == 1

    # A finished wave (here: the one server asked about is cut over) ends the watch by itself.
    code, text = run.cli("status", "--server", run.ids[CUT_OVER], "--watch", "30", sleep=slept.append)
    assert (
        code == 0 and slept == [30.0] and text.endswith("Done: every server is cut over (or left alone).\n")
    )


# ====================================================================== audit trail


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as csv_file:
        reader = csv.DictReader(csv_file)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_every_audit_record_carries_its_wave_and_job(run: WaveRun) -> None:
    records = run.gate.cloud.audit()
    assert records and all({"wave", "jobId"} <= set(r) for r in records)
    waves = {r["subject"]: r["wave"] for r in records}
    assert {waves[run.ids[name]] for name in HOSTNAMES} == {WAVE}
    assert waves[run.ids[OTHER_WAVE]] == "wave-2"
    assert waves["network-health"] == "account-wide"
    with_jobs = {"test-launch-started", "test-launch-failed", "test-verification-passed", "cutover-started"}
    assert all(r["jobId"].startswith("mgnjob-") for r in records if r["action"] in with_jobs)
    # Network health changes are audited (the failing set changed twice: broken, then repaired).
    health = [r for r in records if r["subject"] == "network-health"]
    assert [(r["action"], r["after"]) for r in health] == [
        ("network-health-failed", '["sg.replication-1500"]'),
        ("network-health-passed", "[]"),
    ]
    assert health[0]["reason"] == "failing: sg.replication-1500"
    assert all(
        action in PROBLEMS or action in PROGRESS or action in NEUTRAL
        for action in {r["action"] for r in records}
    )


def test_audit_export_is_one_row_per_record_in_time_order(run: WaveRun, tmp_path: Path) -> None:
    out = tmp_path / "wave-1-audit.csv"
    code, _ = run.cli("audit-export", "--wave", WAVE, "--output", str(out))
    assert code == 0
    assert b"\r\n" in out.read_bytes()  # RFC 4180 line breaks
    rows = read_csv(out)
    records = [r for r in run.gate.cloud.audit() if r["wave"] in {WAVE, "account-wide"}]
    assert len(rows) == len(records)
    key = ("at", "server_id", "action", "reason")
    assert sorted(tuple(row[k] for k in key) for row in rows) == sorted(
        (r["at"], r["subject"], r["action"], r["reason"]) for r in records
    )
    assert [row["at"] for row in rows] == sorted(row["at"] for row in rows)
    names = {sid: name for name, sid in run.ids.items()}
    per_server: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["wave"] == "account-wide":
            assert row["server_id"] in {"network-health"} or row["server_id"].startswith("template/")
            continue
        assert row["wave"] == WAVE and row["hostname"] == names[row["server_id"]]
        per_server.setdefault(row["hostname"], []).append(row)
        if row["action"] in {
            "test-launch-started",
            "test-launch-failed",
            "cutover-started",
            "cutover-finalized",
        }:
            assert row["job_id"].startswith("mgnjob-"), row

    def actions(name: str) -> list[str]:
        return [row["action"] for row in per_server[name]]

    def in_order(name: str, *expected: str) -> None:
        seen = actions(name)
        positions = [seen.index(action) for action in expected]
        assert positions == sorted(positions), (name, seen)

    in_order(
        CUT_OVER,
        "replication-settings-repaired",
        "test-launch-queued",
        "test-launch-started",
        "test-verification-passed",
        "marked-ready-for-cutover",
        "cutover-gate-opened",
        "cutover-approval-requested",
        "cutover-approved",
        "cutover-started",
        "cutover-verification-passed",
        "cutover-finalized",
    )
    in_order(
        REJECTED,
        "test-verification-passed",
        "cutover-approval-requested",
        "cutover-rejected",
        "cutover-gate-closed",
    )
    in_order(
        RETRIED,
        "test-launch-failed",
        "test-outcome",
        "test-verification-passed",
        "cutover-approval-requested",
    )
    assert actions(BROKEN).count("test-launch-failed") == 2 and "marked-ready-for-cutover" not in actions(
        BROKEN
    )
    assert "cutover-approved" not in actions(RETRIED) and "cutover-started" not in actions(REJECTED)
    repair = next(row for row in per_server[CUT_OVER] if row["action"] == "replication-settings-repaired")
    assert repair["actor"].endswith("MigrationOperator/operator")
    assert json.loads(repair["before"]) == {"createPublicIP": True, "dataPlaneRouting": "PUBLIC_IP"}
    approved = next(row for row in per_server[CUT_OVER] if row["action"] == "cutover-approved")
    assert approved["actor"].endswith("MigrationApprover/alice") and approved["reason"] == "CAB-2290 approved"
    # Commas in a reason stay in their cell.
    assert any(", one of " in row["reason"] for row in per_server[CUT_OVER])


def test_audit_export_filters_by_time_and_leaves_account_records_out_on_request(run: WaveRun) -> None:
    approved = next(
        r
        for r in run.gate.cloud.audit()
        if r["action"] == "cutover-approved" and r["subject"] == run.ids[CUT_OVER]
    )
    code, text = run.cli("audit-export", "--wave", WAVE, "--since", approved["at"], "--servers-only")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(row["at"] >= approved["at"] and row["wave"] == WAVE for row in rows)
    assert rows[0]["action"] == "cutover-approved"
    code, text = run.cli("audit-export", "--wave", "wave-2", "--until", "2000-01-01")
    assert code == status_cli.NOTHING_MATCHED and text.splitlines() == [",".join(CSV_COLUMNS)]


# ====================================================================== notifications


def test_people_are_told_only_what_needs_them(run: WaveRun) -> None:
    kinds = sorted(str(n["kind"]) for n in run.notices)
    assert kinds == sorted(
        [
            "network-health",  # the network broke: test launches and cutovers wait
            "network-health",  # ... and was repaired (closes what the first one opened)
            "drift-repaired",  # a person's change to db-01 was put back
            *["approval-waiting"] * 4,  # Systems Manager asks the approvers (4 servers reached the gate)
            "test-needs-person",  # ftp-01: every attempt failed
            "cutover-not-approved",  # web-01
            "cutover-done",  # db-01
        ]
    )
    # Nobody is told about what the pipeline does by itself: a retried test, a wait for readiness.
    assert all(n["subject"] and len(n["subject"]) <= 100 and n["body"].strip() for n in run.notices)

    def only(kind: str) -> dict[str, Any]:
        [notice] = [n for n in run.notices if n["kind"] == kind]
        return notice

    drift = only("drift-repaired")
    assert drift["subject"] == f"Replication settings drift repaired on {CUT_OVER} [{WAVE}]"
    assert f"Server {CUT_OVER} ({run.ids[CUT_OVER]}), wave {WAVE}" in drift["body"]
    assert "dataPlaneRouting: 'PUBLIC_IP' -> 'PRIVATE_IP'" in drift["body"]
    assert "MigrationOperator/operator" in drift["body"]
    assert "What happened:" in drift["body"] and "What to do:" in drift["body"]

    failed = only("test-needs-person")
    assert failed["subject"] == f"Test launch of {BROKEN} needs a person: 2 attempts failed [{WAVE}]"
    assert "boot volume cannot be converted" in failed["body"] and "What to do:" in failed["body"]
    assert run.ids[BROKEN] in failed["body"]

    broken, repaired = (n for n in run.notices if n["kind"] == "network-health")
    assert broken["subject"] == "MGN network health FAIL (1): sg.replication-1500"
    assert "Fix:" in broken["body"] and "What to do:" in broken["body"]
    assert "pass again" in repaired["subject"]

    approvals = [n for n in run.notices if n["kind"] == "approval-waiting"]
    for name in (CUT_OVER, REJECTED, RETRIED, OTHER_WAVE):
        assert any(name in n["body"] for n in approvals), name
    rejected = only("cutover-not-approved")
    assert rejected["subject"] == f"Cutover of {REJECTED} not approved (rejected) [{WAVE}]"
    assert run.ids[REJECTED] in rejected["body"] and "What to do:" in rejected["body"]
    done = only("cutover-done")
    assert done["subject"] == f"Cutover done: {CUT_OVER} [{WAVE}]"
    assert run.ids[CUT_OVER] in done["body"] and "retire the source server" in done["body"]
