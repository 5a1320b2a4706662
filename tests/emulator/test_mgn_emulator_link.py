"""The private link in the MGN emulator: initial syncs share its capacity, each capped by its
throttle, and the replication progress fields say what MGN's say (bytes copied, an ETA)."""

from __future__ import annotations

from datetime import datetime

from localcloud import SimClock
from localcloud.mgn import MgnEmulator
from localcloud.mgn.link import MBPS, water_fill
from tests.emulator.mgn_test_support import FAST, mgn_client

GB = 1_000_000_000


def _info(client: object, server_id: str) -> dict[str, object]:
    [server] = client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"]  # type: ignore[attr-defined]
    return server["dataReplicationInfo"]  # type: ignore[no-any-return]


def _copied(info: dict[str, object]) -> int:
    return sum(d["replicatedStorageBytes"] for d in info["replicatedDisks"])  # type: ignore[attr-defined,index]


def test_water_fill_keeps_caps_below_the_fair_share_and_splits_the_rest() -> None:
    assert water_fill({"a": 0, "b": 0}, 100) == {"a": 50, "b": 50}
    assert water_fill({"a": 20, "b": 0}, 100) == {"a": 20, "b": 80}
    assert water_fill({"a": 20, "b": 30, "c": 0}, 100) == {"a": 20, "b": 30, "c": 50}
    assert water_fill({"a": 80, "b": 80}, 100) == {"a": 50, "b": 50}
    assert water_fill({}, 100) == {}


def test_two_servers_share_the_link_and_a_throttle_moves_the_rest_to_the_other(
    emu: MgnEmulator, clock: SimClock
) -> None:
    link = emu.connect_link(capacity_mbps=100)
    client = mgn_client()
    disks = [{"deviceName": "/dev/sda", "bytes": 10 * GB}]
    a = emu.register_agent("a", disks=disks)
    b = emu.register_agent("b", disks=disks)
    clock.advance(FAST.initiating_seconds + 1)
    assert _info(client, a)["dataReplicationState"] == "INITIAL_SYNC"
    # 50 Mbps each: 10 GB takes 1,600 s; after 400 s a quarter is copied, and MGN's ETA says when.
    clock.advance(400)
    info = _info(client, a)
    assert abs(_copied(info) - 2.5 * GB) < 0.01 * GB
    eta = datetime.fromisoformat(str(info["etaDateTime"]).replace("Z", "+00:00"))
    assert abs((eta - clock.now()).total_seconds() - 1200) < 5

    # A person throttles a to 20 Mbps: b gets the 80 left.
    client.update_replication_configuration(sourceServerID=a, bandwidthThrottling=20)
    assert link.rates_bps[a] == 20 * MBPS and link.rates_bps[b] == 80 * MBPS
    clock.advance(600)
    assert abs(_copied(_info(client, b)) - (2.5 * GB + 80 * MBPS * 600)) < 0.01 * GB
    # b finishes (7.5 GB left at 80 Mbps: 750 s after the throttle), then a has the link alone
    # but its cap: it stays at 20 Mbps.
    clock.advance(200)
    assert _info(client, b)["dataReplicationState"] == "CONTINUOUS"
    assert emu.server(b).lifecycle == "READY_FOR_TEST"
    assert link.rates_bps == {a: 20 * MBPS}
    client.update_replication_configuration(sourceServerID=a, bandwidthThrottling=0)
    assert link.rates_bps == {a: 100 * MBPS}
    # Never more than the link at any moment.
    assert max(sample.used_mbps for sample in link.samples) <= 100 + 1e-6


def test_a_stalled_server_frees_its_share_and_resumes_where_it_was(emu: MgnEmulator, clock: SimClock) -> None:
    link = emu.connect_link(capacity_mbps=100)
    client = mgn_client()
    disks = [{"deviceName": "/dev/sda", "bytes": 10 * GB}]
    a = emu.register_agent("a", disks=disks)
    b = emu.register_agent("b", disks=disks)
    clock.advance(FAST.initiating_seconds + 401)
    before = _copied(_info(client, a))
    # Routing a over public IPs: it reconnects, cannot, and stalls; b gets the whole link.
    client.update_replication_configuration(
        sourceServerID=a, dataPlaneRouting="PUBLIC_IP", createPublicIP=True
    )
    clock.advance(FAST.initiating_seconds + 1)
    assert _info(client, a)["dataReplicationState"] == "STALLED"
    assert link.rates_bps == {b: 100 * MBPS}
    assert abs(_copied(_info(client, a)) - before) < 0.001 * GB
    client.update_replication_configuration(
        sourceServerID=a, dataPlaneRouting="PRIVATE_IP", createPublicIP=False
    )
    clock.advance(FAST.initiating_seconds + 1)
    assert _info(client, a)["dataReplicationState"] == "INITIAL_SYNC"
    assert abs(_copied(_info(client, a)) - before) < 0.01 * GB  # picked up where it was
