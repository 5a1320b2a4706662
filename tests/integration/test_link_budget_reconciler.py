"""The link budget kept by the real reconciler and event handlers (``LINK_BUDGET_MBPS``) on the
emulated link: the throttles it writes, their audit, a person's edit put back by the guard that
CloudTrail's event wakes, an exception's throttle respected and counted, the late-wave message,
and the ETAs in ``mgn-migrate status``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from localcloud.mgn.link import ReplicationLink
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline_ops.status.builder import StatusSources, StatusTables, collect_status
from mgn_pipeline_ops.status.render import render_table
from tests.conftest import FakeLambdaContext
from tests.integration.conftest import Account

pytestmark = [pytest.mark.integration]

OPERATOR = "arn:aws:sts::111122223333:assumed-role/MigrationOperator/jdoe"
WINDOW_TAG = "mgn-pipeline:cutover-window"
EXCEPTION_TAG = "mgn-pipeline:bandwidth-exception"
GB = 1_000_000_000
BUDGET = 70
LINK = 100


def reconcile(account: Account, event: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = account.load_handler("reconciler").lambda_handler(
        event or {}, FakeLambdaContext()
    )
    return result


def deliver(account: Account, event: dict[str, Any]) -> None:
    account.load_handler("mgn_events").lambda_handler(event, FakeLambdaContext())


def last_api_call(account: Account, name: str) -> dict[str, Any]:
    return next(e for e in reversed(account.mgn.events) if e["detail"].get("eventName") == name)


def throttle(account: Account, server_id: str) -> int:
    return int(account.mgn.server(server_id).replication.get("bandwidthThrottling") or 0)


def window_in(account: Account, hours: float) -> str:
    return (account.clock.now() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def link(account: Account, monkeypatch: pytest.MonkeyPatch) -> ReplicationLink:
    """The stack deployed with a budget of 70 Mbps on a 100 Mbps link."""
    monkeypatch.setenv("LINK_BUDGET_MBPS", str(BUDGET))
    connected: ReplicationLink = account.mgn.connect_link(LINK)
    reconcile(account, {"source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change"})
    return connected


def register(account: Account, name: str, wave: str, window_h: float, gb: float, **tags: str) -> str:
    return account.mgn.register_agent(
        name,
        {"wave": wave, WINDOW_TAG: window_in(account, window_h), **tags},
        disks=[{"deviceName": "/dev/sda", "bytes": int(gb * GB)}],
    )


def copying(account: Account, ids: list[str]) -> list[str]:
    return [sid for sid in ids if account.mgn.server(sid).repl_state in ("INITIATING", "INITIAL_SYNC")]


def in_force(account: Account, ids: list[str]) -> int:
    """The throttles of the servers on the link, an unthrottled one counting as the whole link."""
    return sum(throttle(account, sid) or LINK for sid in ids if account.mgn.server(sid).replicating)


def test_the_reconciler_spreads_the_budget_nearest_window_first_and_puts_a_hand_edit_back(
    account: Account, link: ReplicationLink
) -> None:
    template = account.mgn_client.describe_replication_configuration_templates()["items"][0]
    assert template["bandwidthThrottling"] == 1  # no new server starts unthrottled
    first = [register(account, f"pay-{n}", "w1", 10, 40) for n in range(3)]
    second = [register(account, f"crm-{n}", "w2", 30, 40) for n in range(3)]
    ids = first + second
    ready_at: dict[str, float] = {}
    hand_edited: str | None = None
    for minute in range(5, 24 * 60, 5):
        account.clock.advance(300)
        reconcile(account)
        assert in_force(account, ids) <= BUDGET, f"over the budget at minute {minute}"
        assert link.used_mbps <= BUDGET + 1e-6
        for sid in ids:
            if sid not in ready_at and account.mgn.server(sid).lifecycle == "READY_FOR_TEST":
                ready_at[sid] = minute / 60
        if hand_edited is None and minute >= 60 and copying(account, second):
            hand_edited = copying(account, second)[0]
            planned = throttle(account, hand_edited)
            with account.mgn.acting_as(OPERATOR):
                account.mgn_client.update_replication_configuration(
                    sourceServerID=hand_edited, bandwidthThrottling=500
                )
            deliver(account, last_api_call(account, "UpdateReplicationConfiguration"))
            assert throttle(account, hand_edited) == planned  # put back by the guard, at once
        if len(ready_at) == len(ids):
            break
    assert len(ready_at) == len(ids)
    assert max(ready_at[sid] for sid in first) < min(ready_at[sid] for sid in second)
    assert max(ready_at[sid] for sid in first) <= 10 - 4  # ready by its window's margin

    trail = AuditTrail(account.dynamodb, "audit")
    written = [r for sid in ids for r in trail.history(sid) if r["action"] == "replication-throttle-set"]
    assert written and all(r["actor"] == "pipeline" for r in written)
    assert hand_edited is not None
    repair = [r for r in trail.history(hand_edited) if r["action"] == "replication-settings-repaired"]
    assert len(repair) == 1 and repair[0]["actor"] == OPERATOR
    assert repair[0]["before"]["bandwidthThrottling"] == 500

    # Every server steady at its 1 Mbps: an hour of reconciles writes nothing.
    writes = account.call_count("UpdateReplicationConfiguration")
    for _ in range(12):
        account.clock.advance(300)
        reconcile(account)
    assert account.call_count("UpdateReplicationConfiguration") == writes
    assert {throttle(account, sid) for sid in ids} == {1}


@pytest.mark.usefixtures("link")
def test_an_exception_keeps_its_throttle_and_the_others_share_the_rest(account: Account) -> None:
    special = register(account, "mainframe-gw", "w1", 20, 60, **{EXCEPTION_TAG: "true"})
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration(sourceServerID=special, bandwidthThrottling=30)
    others = [register(account, f"app-{n}", "w1", 20, 60) for n in range(3)]
    for _ in range(24):
        account.clock.advance(300)
        reconcile(account)
        assert throttle(account, special) == 30
        assert sum(throttle(account, sid) for sid in others) <= BUDGET - 30
    # A person raises it again: noted (counted), never put back.
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration(sourceServerID=special, bandwidthThrottling=50)
    deliver(account, last_api_call(account, "UpdateReplicationConfiguration"))
    account.clock.advance(300)
    reconcile(account)
    assert throttle(account, special) == 50
    assert sum(throttle(account, sid) for sid in others) <= BUDGET - 50
    actions = {r["action"] for r in AuditTrail(account.dynamodb, "audit").history(special)}
    assert "replication-throttle-set" not in actions and "replication-settings-repaired" not in actions


@pytest.mark.usefixtures("link")
def test_a_wave_that_cannot_make_its_window_is_told_once_with_the_throughput_it_needs(
    account: Account,
) -> None:
    late = [register(account, f"dw-{n}", "w1", 3, 100) for n in range(2)]  # 200 GB at 70 Mbps: 6.3 h
    on_time = register(account, "web-1", "w2", 48, 20)
    for _ in range(24):
        account.clock.advance(300)
        reconcile(account)
    told = [n for n in account.notices() if "will not be ready" in n["Subject"]]
    assert len(told) == 1
    assert "w1" in told[0]["Subject"]
    assert "it would need" in told[0]["Message"] and "Mbps from now on" in told[0]["Message"]

    sources = StatusSources(
        account.mgn_client, account.dynamodb, StatusTables(servers="servers", audit="audit")
    )
    report = collect_status(sources, account.clock.now())
    waves = {w.wave: w.replication_etas for w in report.waves}
    [w1] = waves["w1"]
    [w2] = waves["w2"]
    assert w1["late"] is True and w1["needMbps"] > BUDGET
    assert w2["late"] is False
    servers = {s.server_id: s.link for s in report.servers}
    assert all(servers[sid] and servers[sid]["readyEta"] for sid in late)
    assert servers[on_time] is not None
    text = render_table(report, account.clock.now())
    assert "replication ready:" in text and "[LATE: needs" in text and "GB left at" in text


def test_each_data_centres_link_keeps_its_own_budget(
    account: Account, link: ReplicationLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Munich's servers (10.30.0.0/16) replicate over their own 50 Mbps link, 30 Mbps of it theirs.
    monkeypatch.setenv("LINK_BUDGETS", '{"munich": {"budgetMbps": 30, "sourceCidrs": ["10.30.0.0/16"]}}')
    munich_link = account.mgn.connect_link(50, source_cidr="10.30.0.0/16")
    here = [register(account, f"fra-{n}", "w1", 20, 30) for n in range(3)]
    munich = [
        account.mgn.register_agent(
            f"muc-{n}",
            {"wave": "w1", WINDOW_TAG: window_in(account, 20)},
            disks=[{"deviceName": "/dev/sda", "bytes": 20 * GB}],
            ip_address=f"10.30.1.{n + 10}",
        )
        for n in range(2)
    ]
    for minute in range(5, 12 * 60, 5):
        account.clock.advance(300)
        reconcile(account)
        assert in_force(account, here) <= BUDGET, f"default link over its budget at minute {minute}"
        assert in_force(account, munich) <= 30, f"munich over its budget at minute {minute}"
        assert link.used_mbps <= BUDGET + 1e-6 and munich_link.used_mbps <= 30 + 1e-6
        if all(account.mgn.server(sid).lifecycle == "READY_FOR_TEST" for sid in here + munich):
            break
    assert all(account.mgn.server(sid).lifecycle == "READY_FOR_TEST" for sid in here + munich)
    sources = StatusSources(
        account.mgn_client, account.dynamodb, StatusTables(servers="servers", audit="audit")
    )
    assert {state.link for state in sources.links()} == {"default", "munich"}
    views = {s.server_id: s.link for s in collect_status(sources, account.clock.now()).servers}
    assert {views[sid]["link"] for sid in munich if views[sid]} == {"munich"}
