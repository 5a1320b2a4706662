"""The status view's rules, the audit trail's wave and job id, the CSV export and message texts: no AWS."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mgn_pipeline.cutover.model import GateStatus
from mgn_pipeline.cutover.store import GateRecord
from mgn_pipeline.launches.model import LaunchStatus, QueueItem
from mgn_pipeline.shared.aws.audit import ACCOUNT_WIDE, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.notifier import SUBJECT_LIMIT, message_body, one_line, subject_line
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline_ops.status.audit_export import CSV_COLUMNS, audit_rows, parse_time, write_csv
from mgn_pipeline_ops.status.builder import server_status, wave_progress
from mgn_pipeline_ops.status.fixes import NEUTRAL, PROBLEMS, PROGRESS, last_error
from mgn_pipeline_ops.status.waits import waiting_for

LAYER = Path(__file__).resolve().parents[2] / "layers" / "pipeline" / "mgn_pipeline"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SID = "s-0123456789abcdef0"

# How call sites name the action of an audit record.
_ACTION_PATTERNS = [
    re.compile(r'action\s*=\s*(?:[A-Za-z_.]+\s*,\s*)?"([a-z][a-z-]+)"'),
    re.compile(r'action\s*=\s*"[a-z-]+"\s+if\s+[^"\n]+\s+else\s+"([a-z][a-z-]+)"'),
    # a tuple whose last item is the action (call arguments nest two deep at most)
    re.compile(r'action\s*=\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*?"([a-z][a-z-]+)"\s*,?\s*\)'),
    re.compile(r'(?:_record(?:_repair)?|notices\.record)\(\s*[^,()]+,\s*"([a-z][a-z-]+)"'),
    # the cutover gate's verdict on a decision: (status, action, task result)
    re.compile(r'return GateStatus\.[A-Z_]+, "([a-z][a-z-]+)"'),
]


def audit_actions_in_code() -> set[str]:
    found: set[str] = set()
    for path in LAYER.rglob("*.py"):
        text = path.read_text()
        if not any(call in text for call in ("AuditRecord(", "_record(", "notices.record(")):
            continue
        for pattern in _ACTION_PATTERNS:
            found.update(pattern.findall(text))
    return found


def test_every_audit_action_in_the_code_has_its_place_in_the_catalogue() -> None:
    actions = audit_actions_in_code()
    # The patterns see each way call sites name an action (kwarg, tuple, conditional, _record()).
    assert {
        "test-launch-started",
        "test-launch-queued",
        "test-launch-failed",
        "replication-template-created",
        "cutover-approved",
        "cutover-approval-refused",
        "cutover-approval-timed-out",
        "network-health-passed",
        "cutover-gate-opened",
        "cutover-rolled-back",
    } <= actions
    catalogued = set(PROBLEMS) | PROGRESS | NEUTRAL
    assert actions - catalogued == set(), "add these actions to mgn_pipeline_ops/status/fixes.py"
    assert catalogued - actions == set(), "the catalogue names actions the code no longer writes"
    assert not set(PROBLEMS) & PROGRESS and not set(PROBLEMS) & NEUTRAL and not PROGRESS & NEUTRAL


# ---------------------------------------------------------------------- last error


def rec(action: str, reason: str = "why", at: str = "2026-03-02T10:00:00+00:00") -> dict[str, Any]:
    return {"action": action, "reason": reason, "at": at, "jobId": "", "actor": "unknown"}


def test_last_error_is_current_until_the_server_moves_on() -> None:
    failed = rec("test-launch-failed", "boot volume")
    error = last_error([rec("test-outcome"), failed, rec("test-launch-started")])
    assert error is not None and (error.action, error.current, error.reason) == (
        "test-launch-failed",
        True,
        "boot volume",
    )
    assert error.fix == PROBLEMS["test-launch-failed"].fix
    moved_on = last_error([rec("test-launch-started"), rec("test-outcome"), failed])
    assert moved_on is not None and moved_on.current is False
    assert last_error([rec("test-launch-queued"), rec("cutover-finalized")]) is None


def test_a_follow_up_gives_way_to_the_problem_it_follows() -> None:
    newest_first = [
        rec("cutover-gate-closed", "not approved: rejected"),
        rec("cutover-rejected", "CAB-9 later"),
    ]
    error = last_error(newest_first)
    assert error is not None and (error.action, error.reason) == ("cutover-rejected", "CAB-9 later")
    alone = last_error(
        [rec("cutover-gate-closed", "not approved: no decision"), rec("cutover-approval-requested")]
    )
    assert alone is not None and (alone.action, alone.current) == ("cutover-gate-closed", True)


# ---------------------------------------------------------------------- waits


def server(
    lifecycle: LifeCycleState = LifeCycleState.READY_FOR_CUTOVER,
    replication: ReplicationState = ReplicationState.CONTINUOUS,
    **kwargs: Any,
) -> SourceServer:
    return SourceServer(SID, f"arn:{SID}", lifecycle, replication, False, "erp-01", {"wave": "w1"}, **kwargs)


def gate(status: GateStatus, **kwargs: Any) -> GateRecord:
    return GateRecord(SID, 1, status, updated_at="2026-03-02T11:00:00+00:00", **kwargs)


@pytest.mark.parametrize(
    ("record", "expected", "on_person"),
    [
        (
            gate(GateStatus.WAITING_APPROVAL, automation_execution_id="a-1"),
            "approval by a person (SSM Automation a-1)",
            True,
        ),
        (gate(GateStatus.WAITING_APPROVAL, wave="w1"), "its wave's approval request (wave w1", False),
        (
            gate(GateStatus.WAITING_READY, reason="replication lag 900 s"),
            "readiness before approval is asked: replication lag 900 s",
            False,
        ),
        (
            gate(GateStatus.WAITING_REPLICATION, reason="STALLED"),
            "readiness before the approved cutover: STALLED",
            False,
        ),
        (
            gate(GateStatus.CUTTING_OVER, cutover_job_id="mgnjob-1"),
            "the cutover launch (job mgnjob-1)",
            False,
        ),
        (
            gate(GateStatus.REJECTED, reason="rejected by alice"),
            "a person: cutover not approved (REJECTED: rejected by alice)",
            True,
        ),
        (gate(GateStatus.ROLLED_BACK, reason="capacity"), "a person: cutover rolled back (capacity)", True),
        (None, "the cutover gate to open", False),
    ],
)
def test_gate_waits(record: GateRecord | None, expected: str, on_person: bool) -> None:
    wait = waiting_for(server(), PipelineStep.OPEN_CUTOVER_GATE, "2026-03-02T09:00:00+00:00", None, record)
    assert wait is not None and wait.what.startswith(expected) and wait.on_person is on_person
    assert wait.since == (record.updated_at if record else "2026-03-02T09:00:00+00:00")


@pytest.mark.parametrize(
    ("item", "expected", "on_person"),
    [
        (
            QueueItem(SID, LaunchStatus.QUEUED, 2, reasons=("waiting for MGN capacity",)),
            "a test launch slot (launch queue, attempt 2): waiting for MGN capacity",
            False,
        ),
        (
            QueueItem(SID, LaunchStatus.BLOCKED, 1, reasons=("network health FAIL: dns.mgn",)),
            "test-launch preconditions: network health FAIL: dns.mgn",
            False,
        ),
        (
            QueueItem(SID, LaunchStatus.LAUNCHING, 1, job_id="mgnjob-7"),
            "the test launch job mgnjob-7 (attempt 1)",
            False,
        ),
        (
            QueueItem(SID, LaunchStatus.FAILED, 3, reasons=("boot",)),
            "a person: the test launch failed 3 time(s): boot",
            True,
        ),
    ],
)
def test_test_launch_waits(item: QueueItem, expected: str, on_person: bool) -> None:
    wait = waiting_for(server(LifeCycleState.READY_FOR_TEST), PipelineStep.START_TEST, None, item, None)
    assert wait is not None and wait.what.startswith(expected) and wait.on_person is on_person


def test_replication_waits_and_errors() -> None:
    stalled = server(
        LifeCycleState.READY_FOR_TEST, ReplicationState.STALLED, replication_error="UNSTABLE_NETWORK"
    )
    wait = waiting_for(stalled, PipelineStep.REPAIR_REPLICATION, None, None, None)
    assert wait is not None and wait.on_person and "UNSTABLE_NETWORK" in wait.what
    status = server_status(
        stalled, {"step": "REPAIR_REPLICATION"}, "w1", None, None, [rec("test-launch-failed")], NOW
    )
    assert status.last_error is not None and status.last_error.source == "mgn"
    assert "TCP 1500" in status.last_error.fix
    unseen = waiting_for(server(LifeCycleState.NOT_READY), None, None, None, None)
    assert unseen is not None and "first look" in unseen.what


# ---------------------------------------------------------------------- server and wave


def test_stuck_done_and_left_alone_make_the_wave_progress() -> None:
    since = (NOW - timedelta(hours=6)).isoformat()
    slow = server_status(
        server(LifeCycleState.READY_FOR_TEST),
        {"step": "START_TEST", "stepSince": since},
        "w1",
        QueueItem(SID, LaunchStatus.QUEUED, 1, updated_at=since),
        None,
        [],
        NOW,
    )
    assert slow.stuck and not slow.needs_person
    done = server_status(
        SourceServer(
            "s-1",
            "arn",
            LifeCycleState.CUTOVER,
            ReplicationState.DISCONNECTED,
            True,
            "a",
            cutover_finalized=True,
        ),
        {"step": "DONE"},
        "w1",
        None,
        None,
        [],
        NOW,
    )
    assert done.done and done.wait is None and not done.left_alone
    gone = server_status(
        SourceServer("s-2", "arn", LifeCycleState.DISCONNECTED, ReplicationState.DISCONNECTED, False, "b"),
        {"step": "START_TEST"},
        "w1",
        None,
        None,
        [],
        NOW,
    )
    assert gone.left_alone and gone.wait is None and not gone.done
    [progress] = wave_progress([slow, done, gone])
    assert (progress.total, progress.done, progress.left_alone, progress.finished) == (3, 1, 1, False)
    assert progress.by_step == {"DONE": 1, "START_TEST": 2} and list(progress.stuck) == [SID]
    [finished] = wave_progress([done, gone])
    assert finished.finished and finished.percent_done == 50


# ---------------------------------------------------------------------- audit trail


class FakeDynamo:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str) -> None:  # noqa: N803
        assert ConditionExpression == "attribute_not_exists(recordId)"  # append-only
        self.items.append(Item)


def test_records_carry_wave_and_job_id_with_one_lookup_per_server() -> None:
    asked: list[str] = []

    def wave_of(server_id: str) -> str:
        asked.append(server_id)
        return "wave-7"

    client = FakeDynamo()
    trail = AuditTrail(client, "audit", wave_of=wave_of)
    trail.append(
        AuditRecord(SID, "cutover-started", "t", "r", details={"jobId": "mgnjob-c", "testJobId": "mgnjob-t"}),
        NOW,
    )
    trail.append(AuditRecord(SID, "cutover-gate-opened", "t", "r", details={"testJobId": "mgnjob-t"}), NOW)
    trail.append(AuditRecord(SID, "cutover-approved", "t", "r", details={"attempt": 1}), NOW)
    trail.append(AuditRecord("template/rct-1", "replication-template-repaired", "t", "r"), NOW)
    trail.append(AuditRecord("wave/wave-9", "wave-approval-requested", "t", "r"), NOW)
    trail.append(AuditRecord(SID, "x", "t", "r", job_id="mgnjob-given", wave="given"), NOW)
    assert [(i["wave"]["S"], i["jobId"]["S"]) for i in client.items] == [
        ("wave-7", "mgnjob-c"),
        ("wave-7", "mgnjob-t"),
        ("wave-7", ""),
        (ACCOUNT_WIDE, ""),
        ("wave-9", ""),
        ("given", "mgnjob-given"),
    ]
    assert asked == [SID]


def test_a_failed_wave_lookup_never_loses_the_record() -> None:
    def broken(server_id: str) -> str:
        raise RuntimeError("AccessDenied")

    client = FakeDynamo()
    AuditTrail(client, "audit", wave_of=broken).append(AuditRecord(SID, "test-launch-queued", "t", "r"), NOW)
    assert client.items[0]["wave"]["S"] == "unassigned"


# ---------------------------------------------------------------------- CSV export


def test_csv_rows_in_time_order_with_quoting_and_waves() -> None:
    records = [
        {
            "subject": SID,
            "recordId": "b",
            "at": "2026-03-02T10:00:01+00:00",
            "action": "test-launch-failed",
            "actor": "unknown",
            "trigger": "event",
            "reason": 'a "quoted", multi\nline reason',
            "wave": "w1",
            "jobId": "mgnjob-1",
            "before": None,
            "after": {"k": [1, 2]},
        },
        {
            "subject": SID,
            "recordId": "a",
            "at": "2026-03-02T10:00:00.5+00:00",
            "action": "test-launch-started",
            "actor": "unknown",
            "trigger": "launch-batcher",
            "reason": "attempt 1, one of 2",
            "details": {"jobId": "mgnjob-1"},
        },
        {
            "subject": "network-health",
            "recordId": "c",
            "at": "2026-03-02T09:00:00+00:00",
            "action": "network-health-failed",
            "actor": "fn",
            "trigger": "schedule",
            "reason": "failing: dns.mgn",
            "wave": ACCOUNT_WIDE,
        },
        {
            "subject": "s-other",
            "recordId": "d",
            "at": "2026-03-02T09:30:00+00:00",
            "action": "test-launch-queued",
            "actor": "unknown",
            "trigger": "reconciler",
            "reason": "ok",
            "wave": "w2",
        },
    ]
    rows = audit_rows(records, hostnames={SID: "erp-01"}, current_waves={SID: "w1"}, wave="w1")
    assert [r["action"] for r in rows] == [
        "network-health-failed",
        "test-launch-started",
        "test-launch-failed",
    ]
    assert (
        rows[1]["wave"] == "w1" and rows[1]["job_id"] == "mgnjob-1"
    )  # a record from before both were stored
    assert rows[2]["hostname"] == "erp-01" and rows[2]["before"] == "" and rows[2]["after"] == '{"k":[1,2]}'
    servers_only = audit_rows(records, hostnames={}, current_waves={SID: "w1"}, wave="w1", servers_only=True)
    assert [r["action"] for r in servers_only] == ["test-launch-started", "test-launch-failed"]

    out = io.StringIO()
    assert write_csv(rows, out) == 3
    assert out.getvalue().startswith(",".join(CSV_COLUMNS) + "\r\n")
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert parsed == rows


def test_times_from_people_are_utc() -> None:
    assert parse_time("2026-03-02") == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_time("2026-03-02T14:00Z") == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert parse_time("2026-03-02T14:00+02:00") == datetime(2026, 3, 2, 12, tzinfo=UTC)


# ---------------------------------------------------------------------- messages


def test_subjects_name_the_wave_and_stay_within_sns_limit() -> None:
    assert (
        subject_line("Launch template repaired for erp-01", "wave-3")
        == "Launch template repaired for erp-01 [wave-3]"
    )
    assert (
        subject_line("Launch template repaired for erp-01", "unassigned")
        == "Launch template repaired for erp-01"
    )
    long = subject_line("Test launch of " + "x" * 120 + " needs a person", "wave-3")
    assert len(long) == SUBJECT_LIMIT and long.endswith("... [wave-3]")
    body = message_body(
        about="Server a (s-1), wave w", happened=["it broke"], why=["because"], what_to_do=["fix it"]
    )
    assert body.splitlines() == [
        "Server a (s-1), wave w",
        "",
        "What happened:",
        "  it broke",
        "",
        "Why:",
        "  because",
        "",
        "What to do:",
        "  fix it",
    ]


# ---------------------------------------------------------------------- hostile strings in the export

_FORMULA_CELLS = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda start, rest: start + rest,
        st.sampled_from(["=", "+", "-", "@", "\t", "\r"]),
        st.text(max_size=40),
    ),
    st.sampled_from(
        ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"]
    ),
)


@given(hostname=_FORMULA_CELLS, reason=_FORMULA_CELLS, actor=_FORMULA_CELLS)
def test_no_exported_cell_reads_as_a_spreadsheet_formula(hostname: str, reason: str, actor: str) -> None:
    """A hostname, reason or actor is whatever a tag, an agent or a person wrote: the change board's
    spreadsheet must show it, never evaluate it (CSV injection)."""
    record = {"subject": SID, "recordId": "a", "at": "2026-03-02T08:00:00+00:00", "action": "x"}
    rows = audit_rows(
        [{**record, "reason": reason, "actor": actor}], hostnames={SID: hostname}, current_waves={SID: "w1"}
    )
    out = io.StringIO()
    write_csv(rows, out)
    [parsed] = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    for column, original in (("hostname", hostname), ("reason", reason), ("actor", actor)):
        cell = parsed[column]
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), column
        assert cell in {original, "'" + original}, column  # nothing else changes: the record stays readable


@given(hostname=st.text(max_size=60), tag=st.text(max_size=60))
def test_a_message_has_one_line_per_field_whatever_a_tag_or_hostname_holds(hostname: str, tag: str) -> None:
    """Anyone who can tag a server or name a host can put a line break in it: it must not forge
    a line ("What to do: approve") in the approver's message."""
    body = message_body(about=f"Server {hostname}", happened=[f"wave tag {tag}"], what_to_do=["nothing"])
    lines = body.split("\n")
    assert lines[0] == f"Server {one_line(hostname)}"
    assert lines[1:4] == ["", "What happened:", f"  wave tag {one_line(tag)}"]
    assert lines[4:] == ["", "What to do:", "  nothing"]
    assert "\r" not in body and "\u2028" not in body and "\x85" not in body
    assert len(subject_line(f"Test launch of {hostname}", tag).splitlines()) <= 1
