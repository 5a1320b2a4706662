"""The 90-day replication clock kept by the real reconciler on the emulated account: servers left
replicating for months are told once at 60 days and once more at 80 (a fresh handler each
reconcile, as a new container would be), a disconnected server never, each message audited, no
MGN call added, and ``mgn-migrate status`` shows the days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline_ops.status.builder import StatusSources, StatusTables, collect_status
from mgn_pipeline_ops.status.render import render_table
from tests.conftest import FakeLambdaContext
from tests.integration.conftest import Account

pytestmark = [pytest.mark.integration]

OPERATOR = "arn:aws:sts::111122223333:assumed-role/MigrationOperator/jdoe"
DAY = 86_400


def reconcile(account: Account) -> dict[str, Any]:
    result: dict[str, Any] = account.load_handler("reconciler").lambda_handler({}, FakeLambdaContext())
    return result


def clock_notices(account: Account) -> list[dict[str, Any]]:
    return [n for n in account.notices() if n["MessageAttributes"]["kind"]["Value"] == "replication-clock"]


def days_replicating(account: Account, server_id: str) -> float:
    server = account.mgn.server(server_id)
    assert server.first_byte_at is not None
    return (account.clock.now() - server.first_byte_at).total_seconds() / DAY


def advance_to_day(account: Account, server_id: str, day: float) -> None:
    """Simulated time in steps of at most 10 days (replication keeps running), then a reconcile."""
    while (left := day - days_replicating(account, server_id)) > 0:
        account.clock.advance(min(left, 10) * DAY)
    reconcile(account)


def test_servers_left_replicating_are_told_once_at_60_days_and_once_at_80(account: Account) -> None:
    ids = [account.mgn.register_agent(f"erp-{n}", {"wave": "w-slipped"}) for n in range(3)]
    parked = account.mgn.register_agent("old-fax", {"wave": "w-slipped"})
    for _ in range(4):
        account.clock.advance(300)
        reconcile(account)
    assert {account.mgn.server(sid).lifecycle for sid in ids} == {"READY_FOR_TEST"}
    # Someone stops replicating a server that will not migrate: it is off the clock.
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.disconnect_from_service(sourceServerID=parked)
    first = ids[0]

    advance_to_day(account, first, 59.7)
    account.clock.advance(0.1 * DAY)  # day 59.8; settings rechecks are due after each jump
    before = len(account.mgn.calls)
    reconcile(account)
    quiet_calls = len(account.mgn.calls) - before
    assert clock_notices(account) == []

    account.clock.advance(0.3 * DAY)  # day 60.1
    before = len(account.mgn.calls)
    reconcile(account)
    assert len(account.mgn.calls) - before == quiet_calls  # telling adds no MGN call
    told = clock_notices(account)
    assert len(told) == 3
    assert all("has replicated 60 of its 90 free days" in n["Subject"] for n in told)
    assert all(n["Subject"].endswith("[w-slipped]") for n in told)
    first_byte = account.mgn.server(first).first_byte_at
    assert first_byte is not None
    ends = first_byte + timedelta(days=90)
    message = next(n["Message"] for n in told if "erp-0" in n["Subject"])
    assert "has been replicating for 60 days" in message
    assert f"Its free replication period ends on {ends:%Y-%m-%d}" in message and "in 29 days" in message
    assert "Cut the server over" in message and "Disconnect from service" in message
    assert "does nothing to the server by itself" in message and "once more at 80 days" in message

    # Many reconciles later, and fresh containers each time: nothing again until 80 days.
    for _ in range(3):
        account.clock.advance(300)
        reconcile(account)
    advance_to_day(account, first, 79.5)
    assert clock_notices(account) == []

    advance_to_day(account, first, 80.2)
    urgent = clock_notices(account)
    assert len(urgent) == 3
    assert all("has replicated 80 days: its free period is nearly over" in n["Subject"] for n in urgent)
    report = reconcile(account)
    assert clock_notices(account) == []
    assert report["fleet"]["replicationClock"] == {
        "warnDays": 60,
        "urgentDays": 80,
        "pastWarning": 3,
        "pastUrgent": 3,
        "maxDays": pytest.approx(80.2, abs=0.05),
    }
    # Nothing was done to the servers: still replicating, nobody archived or disconnected.
    assert {account.mgn.server(sid).lifecycle for sid in ids} == {"READY_FOR_TEST"}
    assert account.call_count("DisconnectFromService") == 1  # the operator's own
    assert account.call_count("MarkAsArchived") == 0

    trail = AuditTrail(account.dynamodb, "audit")
    for sid in ids:
        records = [r for r in trail.history(sid) if r["action"] == "replication-clock-told"]
        assert [r["details"]["thresholdDays"] for r in records] == [60, 80]
        assert all(r["actor"] == "pipeline" for r in records)
    assert not [r for r in trail.history(parked) if r["action"] == "replication-clock-told"]

    sources = StatusSources(
        account.mgn_client, account.dynamodb, StatusTables(servers="servers", audit="audit")
    )
    status = collect_status(sources, account.clock.now())
    clocks = {s.server_id: s.replication_clock for s in status.servers}
    assert clocks[parked] is None
    assert all(
        c is not None and c["level"] == "URGENT" and 9 < c["daysLeft"] < 10
        for sid, c in clocks.items()
        if sid != parked
    )
    [wave] = status.waves
    assert wave.replication_clock is not None
    assert (wave.replication_clock["pastWarning"], wave.replication_clock["pastUrgent"]) == (3, 3)
    text = render_table(status, account.clock.now())
    assert "3 replicating past 60 days (3 past 80)" in text
    assert text.count("replicating 80 days: 9 free days left") == 3
