"""The 90-day replication clock: reading MGN's elapsed replication, the rule's thresholds and edges,
the servers that do not count, the fleet's gauges, the status view, and the keeper's once-only
telling on moto's DynamoDB (a second run, a restart, a message that could not be sent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mgn_pipeline.composition.settings import ReconcilerSettings, load_settings
from mgn_pipeline.pipeline.fleet_metrics import FleetTally
from mgn_pipeline.replication.clock_keeper import ReplicationClockKeeper
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.replication_clock import (
    ClockLevel,
    ClockThresholds,
    on_the_clock,
    read_clock,
    threshold_to_tell,
)
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import next_step
from mgn_pipeline.shared.trigger import RECONCILER
from mgn_pipeline_ops.status.builder import server_status, wave_progress
from mgn_pipeline_ops.status.model import StatusReport
from mgn_pipeline_ops.status.render import render_table
from tests.unit.fakes import FakeAudit, FakeNotifier
from tests.unit.tables import create_table
from tests.unit.test_settings import BASE

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT = ClockThresholds()
DAY = timedelta(days=1)


def replicating(
    days: float | None,
    *,
    n: int = 1,
    lifecycle: str = "READY_FOR_TEST",
    replication: str = "CONTINUOUS",
    elapsed: str | None = None,
    **extra: Any,
) -> SourceServer:
    """A server whose first byte was ``days`` ago (None: never); ``elapsed`` MGN's own duration."""
    life_cycle: dict[str, Any] = {"state": lifecycle}
    if days is not None:
        life_cycle["firstByteDateTime"] = (NOW - days * DAY).isoformat()
    if elapsed is not None:
        life_cycle["elapsedReplicationDuration"] = elapsed
    return SourceServer.from_api(
        {
            "sourceServerID": f"s-{n:017x}",
            "lifeCycle": life_cycle,
            "dataReplicationInfo": {"dataReplicationState": replication},
            "sourceProperties": {"identificationHints": {"hostname": f"host-{n}"}},
            **extra,
        }
    )


# ---------------------------------------------------------------------- reading MGN
def test_elapsed_replication_is_mgns_duration_first_then_the_time_since_the_first_byte() -> None:
    # MGN's duration wins (it is what the free period counts), even against the first byte.
    both = replicating(70, elapsed="P61DT12H")
    assert both.replicated_for(NOW) == timedelta(days=61, hours=12)
    assert replicating(45.5).replicated_for(NOW) == timedelta(days=45.5)
    unreadable = replicating(10, elapsed="about a month")  # not ISO 8601: the first byte decides
    assert unreadable.replicated_for(NOW) == timedelta(days=10)
    assert replicating(None).replicated_for(NOW) is None
    z = SourceServer.from_api(
        {
            "sourceServerID": "s-1",
            "lifeCycle": {"state": "NOT_READY", "firstByteDateTime": "2026-05-31T12:00:00Z"},
        }
    )
    assert z.first_byte_at == NOW - DAY
    assert (
        SourceServer.from_api({"sourceServerID": "s-2", "lifeCycle": {"firstByteDateTime": 7}}).first_byte_at
        is None
    )


# ---------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("days", "level", "threshold", "days_left"),
    [
        (0.0, ClockLevel.OK, None, 90.0),
        (59.99, ClockLevel.OK, None, 30.01),
        (60.0, ClockLevel.WARNING, 60, 30.0),  # at the threshold: past it
        (79.5, ClockLevel.WARNING, 60, 10.5),
        (80.0, ClockLevel.URGENT, 80, 10.0),
        (90.0, ClockLevel.URGENT, 80, 0.0),
        (120.0, ClockLevel.URGENT, 80, -30.0),  # past the free period: still urgent, days left negative
    ],
)
def test_where_a_server_stands(
    days: float, level: ClockLevel, threshold: int | None, days_left: float
) -> None:
    reading = read_clock(replicating(days), NOW, DEFAULT)
    assert reading is not None
    assert (reading.level, reading.threshold_days) == (level, threshold)
    assert reading.days_replicating == pytest.approx(days)
    assert reading.days_left == pytest.approx(days_left)
    assert reading.free_period_ends == NOW + days_left * DAY
    assert reading.past_warning is (level is not ClockLevel.OK)
    assert reading.past_urgent is (level is ClockLevel.URGENT)


def test_thresholds_are_configurable_and_must_be_in_order() -> None:
    early = ClockThresholds(warn_days=30, urgent_days=45)
    reading = read_clock(replicating(40), NOW, early)
    assert reading is not None and (reading.level, reading.threshold_days) == (ClockLevel.WARNING, 30)
    for warn, urgent in [(0, 80), (80, 80), (81, 80), (60, 91)]:
        with pytest.raises(ValueError, match="thresholds"):
            ClockThresholds(warn_days=warn, urgent_days=urgent)


@pytest.mark.parametrize(
    "server",
    [
        replicating(85, lifecycle="CUTOVER", replication="DISCONNECTED"),
        replicating(85, lifecycle="CUTOVER", replication="CONTINUOUS"),  # cut over, not yet finalized
        replicating(85, lifecycle="DISCONNECTED", replication="DISCONNECTED"),
        replicating(85, lifecycle="STOPPED", replication="STOPPED"),
        replicating(85, replication="STOPPED"),
        replicating(85, isArchived=True),
        replicating(None),  # never sent a byte
    ],
    ids=["finalized", "cut-over", "disconnected", "stopped", "replication-stopped", "archived", "no-byte"],
)
def test_servers_not_replicating_are_off_the_clock(server: SourceServer) -> None:
    assert read_clock(server, NOW, DEFAULT) is None


def test_servers_still_replicating_count_whatever_their_step() -> None:
    for lifecycle, replication in [
        ("NOT_READY", "INITIAL_SYNC"),
        ("READY_FOR_TEST", "CONTINUOUS"),
        ("TESTING", "CONTINUOUS"),
        ("READY_FOR_CUTOVER", "PAUSED"),  # paused keeps its staging disks and its clock
        ("READY_FOR_CUTOVER", "STALLED"),
        ("CUTTING_OVER", "CONTINUOUS"),
    ]:
        server = replicating(61, lifecycle=lifecycle, replication=replication)
        assert on_the_clock(server), (lifecycle, replication, next_step(server))


def test_each_threshold_is_told_once_and_a_late_first_look_tells_the_higher_only() -> None:
    at = {days: read_clock(replicating(days), NOW, DEFAULT) for days in (30, 61, 81)}
    assert threshold_to_tell(at[30], 0) is None
    assert threshold_to_tell(at[61], 0) == 60
    assert threshold_to_tell(at[61], 60) is None
    assert threshold_to_tell(at[81], 60) == 80
    assert threshold_to_tell(at[81], 0) == 80  # first seen at 81 days: one message, not two
    assert threshold_to_tell(at[81], 80) is None
    assert threshold_to_tell(None, 0) is None


def test_settings_give_the_thresholds_and_refuse_them_out_of_order() -> None:
    assert load_settings(ReconcilerSettings, BASE).replication_clock() == DEFAULT
    custom = {**BASE, "REPLICATION_CLOCK_WARN_DAYS": "45", "REPLICATION_CLOCK_URGENT_DAYS": "70"}
    assert load_settings(ReconcilerSettings, custom).replication_clock() == ClockThresholds(45, 70)
    for name, value in [("REPLICATION_CLOCK_WARN_DAYS", "85"), ("REPLICATION_CLOCK_URGENT_DAYS", "91")]:
        with pytest.raises(SettingsError, match="REPLICATION_CLOCK"):
            load_settings(ReconcilerSettings, {**BASE, name: value})


# ---------------------------------------------------------------------- gauges and status
def test_the_fleet_gauges_count_servers_past_each_threshold() -> None:
    tally = FleetTally(now=NOW)
    for server in [
        replicating(10, n=1),
        replicating(65, n=2),
        replicating(70, n=3),
        replicating(85, n=4),
        replicating(95, n=5, lifecycle="CUTOVER", replication="DISCONNECTED"),  # done: not counted
    ]:
        tally.add(server)
    clock = tally.gauges(approvals_waiting=None).clock
    assert clock is not None
    assert (clock.past_warning, clock.past_urgent) == (3, 1)
    assert clock.max_days == pytest.approx(85)
    assert FleetTally(now=NOW).gauges(None).as_dict()["replicationClock"] == {
        "warnDays": 60,
        "urgentDays": 80,
        "pastWarning": 0,
        "pastUrgent": 0,
        "maxDays": None,
    }


def test_status_shows_the_days_past_the_first_threshold_and_counts_per_wave() -> None:
    statuses = [
        server_status(replicating(days, n=n), {"step": "START_TEST"}, "w1", None, None, [], NOW)
        for n, days in [(1, 12), (2, 62.4), (3, 83)]
    ]
    young, warned, urgent = statuses
    assert young.replication_clock is not None and young.replication_clock["level"] == "OK"
    assert urgent.replication_clock is not None and urgent.replication_clock["level"] == "URGENT"
    assert warned.as_dict()["replicationClock"] == {
        "daysReplicating": 62.4,
        "daysLeft": 27.6,
        "freePeriodEnds": (NOW + 27.6 * DAY).isoformat(),
        "level": "WARNING",
        "thresholdDays": 60,
    }
    [progress] = wave_progress(statuses)
    assert progress.as_dict()["replicationClock"] == {
        "warnDays": 60,
        "urgentDays": 80,
        "pastWarning": 2,
        "pastUrgent": 1,
    }
    text = render_table(StatusReport(NOW.isoformat(), tuple(statuses), (progress,)), NOW)
    assert "2 replicating past 60 days (1 past 80)" in text
    assert "replicating 62 days: 27 free days left (until 2026-06-29)" in text
    assert "replicating 83 days: 7 free days left" in text
    assert "replicating 12 days" not in text  # before the first threshold: no line
    done = server_status(
        replicating(95, lifecycle="CUTOVER", replication="DISCONNECTED"),
        {"step": "DONE"},
        "w1",
        None,
        None,
        [],
        NOW,
    )
    assert done.replication_clock is None


# ---------------------------------------------------------------------- the keeper, on moto
@pytest.fixture
def servers_table(dynamodb: Any) -> Any:
    create_table(dynamodb, "ServersTable", "servers")
    return dynamodb


class FailingNotifier(FakeNotifier):
    def tell(self, kind: str, subject: str, **parts: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")


def keeper(
    dynamodb: Any,
    notifier: FakeNotifier,
    audit: FakeAudit,
    registry: ServerRegistry | None = None,
    now: datetime = NOW,
) -> ReplicationClockKeeper:
    """A keeper as one reconcile builds it: its own registry (a new invocation) unless given one."""
    return ReplicationClockKeeper(
        registry=registry or ServerRegistry(dynamodb, "servers"),
        thresholds=DEFAULT,
        scope=Scope(),
        audit=audit,  # type: ignore[arg-type]
        notifier=lambda: notifier,  # type: ignore[arg-type,return-value]
        now=lambda: now,
    )


def recorded(dynamodb: Any, *servers: SourceServer) -> None:
    registry = ServerRegistry(dynamodb, "servers")
    for server in servers:
        registry.record(server, next_step(server), "reconciler", NOW)


def test_the_keeper_tells_each_threshold_once_across_runs_and_a_racing_twin(servers_table: Any) -> None:
    dynamodb = servers_table
    server = replicating(61)
    recorded(dynamodb, server)
    notifier, audit = FakeNotifier(), FakeAudit()
    # Two runs that read the record before either claimed: only one tells.
    registries = [ServerRegistry(dynamodb, "servers") for _ in range(2)]
    for registry in registries:
        registry.read_many([server.server_id])
    first, twin = (keeper(dynamodb, notifier, audit, registry) for registry in registries)
    assert first.keep(RECONCILER, [server]) == [f"{server.server_id}: told of 60 days replicating"]
    assert twin.keep(RECONCILER, [server]) == []
    assert len(notifier.told) == 1 and audit.actions(server.server_id) == ["replication-clock-told"]
    # A state change written later keeps what was told (the full put carries it).
    moved = replicating(62, lifecycle="TESTING")
    recorded(dynamodb, moved)
    assert keeper(dynamodb, notifier, audit).keep(RECONCILER, [moved]) == []
    # Twenty days on, at 81 days: once more; then never again.
    later = NOW + 20 * DAY
    assert len(keeper(dynamodb, notifier, audit, now=later).keep(RECONCILER, [moved])) == 1
    assert keeper(dynamodb, notifier, audit, now=later).keep(RECONCILER, [moved]) == []
    assert len(notifier.told) == 2
    assert audit.actions(server.server_id) == ["replication-clock-told"] * 2


def test_a_server_replicating_again_from_the_start_is_told_again_of_its_new_period(
    servers_table: Any,
) -> None:
    dynamodb = servers_table
    notifier, audit = FakeNotifier(), FakeAudit()
    first = replicating(81)
    recorded(dynamodb, first)
    assert len(keeper(dynamodb, notifier, audit).keep(RECONCILER, [first])) == 1  # of 80 days
    # Disconnected, the agent installed again months later: replication starts over (first byte
    # 59 days after NOW). Its new free period passes 60 days at NOW + 120 days, and that is told, once.
    season = NOW + 120 * DAY
    restarted = replicating(-59)
    recorded(dynamodb, restarted)
    twin = ServerRegistry(dynamodb, "servers")
    twin.read_many([restarted.server_id])  # a second run that read the record before the claim
    assert keeper(dynamodb, notifier, audit, now=season).keep(RECONCILER, [restarted]) == [
        f"{restarted.server_id}: told of 60 days replicating"
    ]
    assert keeper(dynamodb, notifier, audit, twin, now=season).keep(RECONCILER, [restarted]) == []
    assert keeper(dynamodb, notifier, audit, now=season).keep(RECONCILER, [restarted]) == []
    assert [kind for kind, _ in notifier.told] == ["replication-clock", "replication-clock"]


def test_a_message_that_could_not_be_sent_is_tried_again(servers_table: Any) -> None:
    dynamodb = servers_table
    server = replicating(65)
    recorded(dynamodb, server)
    audit = FakeAudit()
    assert keeper(dynamodb, FailingNotifier(), audit).keep(RECONCILER, [server]) == []
    assert audit.actions(server.server_id) == []
    notifier = FakeNotifier()
    assert len(keeper(dynamodb, notifier, audit).keep(RECONCILER, [server])) == 1
    assert len(notifier.told) == 1


def test_the_status_command_refuses_thresholds_out_of_order(capsys: pytest.CaptureFixture[str]) -> None:
    from mgn_pipeline_ops.cli.status import main

    argv = ["status", "--servers-table", "srv", "--warn-days", "80", "--urgent-days", "60"]
    with pytest.raises(SystemExit) as exit_:
        main(argv, mgn=object(), dynamodb=object())
    assert exit_.value.code == 2
    assert "thresholds must satisfy" in capsys.readouterr().err
