"""MGN emulator: the source-server quotas (non-archived servers, replicating servers, servers per application)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from mgn_test_support import FAST, JOB_DONE_AFTER, SYNCED_AFTER, make_emulator, mgn_client

from localcloud import SimClock
from localcloud.mgn import MgnEmulator, QuotaExceededError, Quotas

EmulatorFactory = Callable[..., AbstractContextManager[MgnEmulator]]


@pytest.fixture
def emulator_with(clock: SimClock, network: SimpleNamespace) -> EmulatorFactory:
    """An installed emulator with the given quotas (``emulator_with(max_replicating_servers=2)``)."""

    @contextmanager
    def start(**limits: int) -> Iterator[MgnEmulator]:
        emu = make_emulator(clock, network, quotas=Quotas(**limits))
        with emu.installed():
            yield emu

    return start


def _replication(mgn: Any, sid: str) -> tuple[str, str, dict[str, Any]]:
    server = mgn.describe_source_servers(filters={"sourceServerIDs": [sid]})["items"][0]
    info = server["dataReplicationInfo"]
    return server["lifeCycle"]["state"], info["dataReplicationState"], info


def _cut_over(emu: MgnEmulator, mgn: Any, sid: str) -> None:
    """Test, then launch the cutover of a ready server (lifecycle CUTTING_OVER, launch succeeded)."""
    mgn.start_test(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    mgn.start_cutover(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)


# ---- configuration -----------------------------------------------------------------------------------


def test_defaults_are_mgns_quotas(emu: MgnEmulator) -> None:
    assert emu.quotas == Quotas(
        max_source_servers=4000, max_replicating_servers=150, max_servers_per_application=200
    )


def test_quotas_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_replicating_servers"):
        Quotas(max_replicating_servers=0)


# ---- non-archived source servers ---------------------------------------------------------------------


def test_one_server_past_the_quota_is_refused_until_one_is_archived(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_source_servers=3) as emu:
        mgn = mgn_client()
        ids = [emu.register_agent(f"host{n}") for n in range(3)]

        with pytest.raises(QuotaExceededError) as exc:
            emu.register_agent("host3")
        assert exc.value.code == "ServiceQuotaExceededException"
        assert exc.value.fields["quotaValue"] == 3 and exc.value.fields["resourceType"] == "SOURCE_SERVER"
        assert "3 non-archived source servers" in exc.value.message
        assert len(mgn.describe_source_servers()["items"]) == 3  # nothing half-added

        mgn.disconnect_from_service(sourceServerID=ids[0])
        with pytest.raises(QuotaExceededError):  # disconnected still counts: it is not archived
            emu.register_agent("host3")
        mgn.mark_as_archived(sourceServerID=ids[0])
        added = emu.register_agent("host3")
        assert len(mgn.describe_source_servers(filters={"isArchived": False})["items"]) == 3
        assert added in {s["sourceServerID"] for s in mgn.describe_source_servers()["items"]}


def test_deleting_a_server_frees_its_place(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_source_servers=1) as emu:
        mgn = mgn_client()
        sid = emu.register_agent("host0")
        mgn.disconnect_from_service(sourceServerID=sid)
        mgn.delete_source_server(sourceServerID=sid)
        emu.register_agent("host1")


# ---- actively replicating servers --------------------------------------------------------------------


def test_full_replicating_quota_keeps_the_next_server_initiating(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=2) as emu:
        mgn = mgn_client()
        first, second, third = (emu.register_agent(f"host{n}") for n in range(3))
        assert emu.replicating_servers == 2
        assert emu.server(third).awaiting_replication_slot

        emu.clock.advance(SYNCED_AFTER * 5)
        assert _replication(mgn, first)[:2] == ("READY_FOR_TEST", "CONTINUOUS")
        lifecycle, state, info = _replication(mgn, third)
        # Waits at the initiation step WAIT, without an error: queued, not broken.
        assert (lifecycle, state) == ("NOT_READY", "INITIATING")
        assert "dataReplicationError" not in info
        steps = {s["name"]: s["status"] for s in info["dataReplicationInitiation"]["steps"]}
        assert steps["WAIT"] == "IN_PROGRESS"
        assert set(steps.values()) == {"IN_PROGRESS", "NOT_STARTED"}
        assert all(d["replicatedStorageBytes"] == 0 for d in info["replicatedDisks"])

        # Disconnecting a replicating server frees its slot: the waiting server starts now.
        mgn.disconnect_from_service(sourceServerID=second)
        assert emu.replicating_servers == 2 and not emu.server(third).awaiting_replication_slot
        emu.clock.advance(SYNCED_AFTER + 1)
        assert _replication(mgn, third)[:2] == ("READY_FOR_TEST", "CONTINUOUS")


def test_waiting_servers_start_in_the_order_they_were_added(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=1) as emu:
        mgn = mgn_client()
        ids = [emu.register_agent(f"host{n}") for n in range(4)]
        assert [emu.server(s).awaiting_replication_slot for s in ids] == [False, True, True, True]

        mgn.disconnect_from_service(sourceServerID=ids[2])  # a waiting server leaves the queue
        assert not emu.server(ids[2]).awaiting_replication_slot
        mgn.disconnect_from_service(sourceServerID=ids[0])
        assert [emu.server(s).awaiting_replication_slot for s in ids] == [False, False, False, True]
        assert emu.replicating_servers == 1
        emu.clock.advance(SYNCED_AFTER + 1)
        assert _replication(mgn, ids[1])[0] == "READY_FOR_TEST"
        assert _replication(mgn, ids[3])[:2] == ("NOT_READY", "INITIATING")


def test_finalized_cutover_frees_a_slot(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=1) as emu:
        mgn = mgn_client()
        migrated, waiting = emu.register_agent("host0"), emu.register_agent("host1")
        emu.clock.advance(SYNCED_AFTER + 1)
        _cut_over(emu, mgn, migrated)
        assert emu.server(waiting).awaiting_replication_slot  # cutting over still replicates

        mgn.finalize_cutover(sourceServerID=migrated)

        assert emu.replicating_servers == 1 and not emu.server(waiting).awaiting_replication_slot
        emu.clock.advance(SYNCED_AFTER + 1)
        assert _replication(mgn, waiting)[0] == "READY_FOR_TEST"


def test_archiving_a_cut_over_server_frees_its_slot(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=1) as emu:
        mgn = mgn_client()
        migrated, waiting = emu.register_agent("host0"), emu.register_agent("host1")
        emu.clock.advance(SYNCED_AFTER + 1)
        _cut_over(emu, mgn, migrated)
        # Marked CUTOVER without finalizing: still replicating until it is archived.
        mgn.change_server_life_cycle_state(sourceServerID=migrated, lifeCycle={"state": "CUTOVER"})
        assert emu.server(waiting).awaiting_replication_slot

        mgn.mark_as_archived(sourceServerID=migrated)

        assert not emu.server(waiting).awaiting_replication_slot
        emu.clock.advance(SYNCED_AFTER + 1)
        assert _replication(mgn, waiting)[0] == "READY_FOR_TEST"


def test_raising_the_adjustable_quota_starts_waiting_servers(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=2) as emu:
        mgn = mgn_client()
        ids = [emu.register_agent(f"host{n}") for n in range(5)]
        assert emu.replicating_servers == 2

        quotas = emu.adjust_quotas(max_replicating_servers=4)  # an approved increase request

        assert quotas.max_replicating_servers == 4 and emu.quotas is quotas
        assert [emu.server(s).awaiting_replication_slot for s in ids] == [False] * 4 + [True]
        emu.clock.advance(SYNCED_AFTER + 1)
        assert [_replication(mgn, s)[0] for s in ids] == ["READY_FOR_TEST"] * 4 + ["NOT_READY"]

        emu.adjust_quotas(max_replicating_servers=1)  # lowering it stops nobody
        assert emu.replicating_servers == 4 and emu.server(ids[4]).awaiting_replication_slot


def test_settings_change_does_not_start_a_waiting_server(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_replicating_servers=1) as emu:
        mgn = mgn_client()
        emu.register_agent("host0")
        waiting = emu.register_agent("host1")

        mgn.update_replication_configuration(sourceServerID=waiting, stagingAreaSubnetId="subnet-12345678")
        emu.clock.advance(SYNCED_AFTER + FAST.initiating_seconds)

        assert _replication(mgn, waiting)[:2] == ("NOT_READY", "INITIATING")
        assert emu.replicating_servers == 1


# ---- servers per application -------------------------------------------------------------------------


def test_application_past_its_server_quota_is_refused(emulator_with: EmulatorFactory) -> None:
    with emulator_with(max_servers_per_application=2) as emu:
        mgn = mgn_client()
        ids = [emu.register_agent(f"host{n}") for n in range(3)]
        app_id = mgn.create_application(name="erp")["applicationID"]
        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=ids[:2])

        with pytest.raises(mgn.exceptions.ServiceQuotaExceededException) as exc:
            mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=ids[1:])
        err = exc.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 402
        assert (err["quotaValue"], err["resourceType"], err["serviceCode"]) == (2, "APPLICATION", "mgn")
        assert emu.server(ids[2]).application_id is None

        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=ids[:2])  # members again: fine
