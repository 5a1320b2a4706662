"""The link budget's record and keeper on moto's in-memory DynamoDB, with MGN as a small fake:
the record survives a concurrent note, an exception's throttle is noted instead of repaired, a
window tag nobody can read is refused with the fix, and a refused write stops the raises after it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from mgn_pipeline.replication.bandwidth import LinkBudget
from mgn_pipeline.replication.link_keeper import LinkKeeper, LinkTags
from mgn_pipeline.replication.link_store import LinkState, LinkStore
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.errors import MgnRequestRejectedError
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.trigger import RECONCILER
from tests.unit.tables import create_table

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GB = 1_000_000_000


class FakeMgn:
    """Throttles per server; ``refuse`` names servers whose update MGN rejects."""

    def __init__(self, throttles: dict[str, int] | None = None, refuse: frozenset[str] = frozenset()) -> None:
        self.throttles = dict(throttles or {})
        self.refuse = refuse
        self.writes: list[tuple[str, int]] = []

    def get_replication_configuration(self, server_id: str) -> dict[str, Any]:
        return {"bandwidthThrottling": self.throttles.get(server_id, 0)}

    def update_replication_configuration(self, server_id: str, fields: dict[str, Any]) -> None:
        if server_id in self.refuse:
            raise MgnRequestRejectedError(f"UpdateReplicationConfiguration: ValidationException: {server_id}")
        self.throttles[server_id] = int(fields["bandwidthThrottling"])
        self.writes.append((server_id, int(fields["bandwidthThrottling"])))


class FakeNotifier:
    def __init__(self) -> None:
        self.told: list[str] = []

    def tell(self, kind: str, subject: str, **_: Any) -> None:
        self.told.append(subject)


def server(
    n: int, *, copying: bool = True, tags: dict[str, str] | None = None, gb: int = 100
) -> SourceServer:
    return SourceServer(
        server_id=f"s-{n:017x}",
        arn="",
        lifecycle=LifeCycleState.NOT_READY if copying else LifeCycleState.READY_FOR_TEST,
        replication=ReplicationState.INITIAL_SYNC if copying else ReplicationState.CONTINUOUS,
        is_archived=False,
        tags={"wave": "w1", **(tags or {})},
        total_bytes=gb * GB,
        replicated_bytes=0 if copying else gb * GB,
    )


@pytest.fixture
def store(dynamodb: Any) -> LinkStore:
    create_table(dynamodb, "ServersTable", "servers")
    create_table(dynamodb, "AuditTable", "audit")
    return LinkStore(dynamodb, "servers")


def keeper(dynamodb: Any, store: LinkStore, mgn: FakeMgn, notifier: FakeNotifier | None = None) -> LinkKeeper:
    told = notifier or FakeNotifier()
    return LinkKeeper(
        gateway=cast(MgnGateway, mgn),
        store=store,
        budget=LinkBudget(budget_mbps=100),
        tags=LinkTags(),
        scope=Scope(),
        audit=AuditTrail(dynamodb, "audit", wave_of=lambda _sid: "w1"),
        notifier=lambda: cast(Notifier, told),
        wave_of=lambda s: s.tags["wave"],
        now=lambda: NOW,
    )


def test_a_note_written_between_read_and_write_is_kept(store: LinkStore) -> None:
    state = store.load()
    state.throttles = {"s-1": 10}
    store.save(state)
    stale = store.load()
    store.note_throttle("s-2", 30)  # a guard, meanwhile
    stale.throttles["s-1"] = 12

    def merged(current: LinkState) -> LinkState:
        current.throttles["s-1"] = 12
        return current

    store.save(stale, merge=merged)
    assert store.load().throttles == {"s-1": 12, "s-2": 30}


def test_an_exception_is_noted_never_repaired_and_counts_against_the_budget(
    dynamodb: Any, store: LinkStore
) -> None:
    special = server(1, tags={"mgn-pipeline:bandwidth-exception": "true"})
    plain = server(2)
    mgn = FakeMgn({special.server_id: 40})
    keep = keeper(dynamodb, store, mgn)
    keep.run_pass(RECONCILER, [special, plain])
    assert mgn.throttles[special.server_id] == 40 and mgn.throttles[plain.server_id] == 60
    assert keep.desired_throttle(special, 70) is None  # a person raised it: noted, not put back
    assert store.load().throttles[special.server_id] == 70
    assert keep.desired_throttle(plain, 500) == 60  # a plain server's edit is put back by the guard
    done = keeper(dynamodb, store, mgn).run_pass(RECONCILER, [special, plain])
    assert done.writes == [(plain.server_id, 30)]


def test_a_window_tag_nobody_can_read_is_refused_with_the_fix(
    dynamodb: Any, store: LinkStore, caplog: pytest.LogCaptureFixture
) -> None:
    odd = server(1, tags={"mgn-pipeline:cutover-window": "next friday"})
    naive = server(2, tags={"mgn-pipeline:cutover-window": "2026-12-12T22:00"})
    mgn = FakeMgn()
    with caplog.at_level(logging.ERROR):
        done = keeper(dynamodb, store, mgn).run_pass(RECONCILER, [odd, naive])
    refused = [r for r in caplog.records if "cutover window tag not understood" in r.getMessage()]
    assert len(refused) == 2
    assert "ISO 8601 time with its zone" in str(refused[0].__dict__.get("fix"))
    assert {sid for sid, _ in done.writes} == {odd.server_id, naive.server_id}  # planned without a window


def test_a_refused_write_stops_the_writes_after_it(dynamodb: Any, store: LinkStore) -> None:
    first = [server(n) for n in range(1, 4)]
    mgn = FakeMgn()
    keeper(dynamodb, store, mgn).run_pass(RECONCILER, first)  # 33/33/34 Mbps
    late = server(9)
    mgn.refuse = frozenset({first[0].server_id})
    done = keeper(dynamodb, store, mgn).run_pass(RECONCILER, [*first, late])
    # The first lowering is refused: nothing after it is written, so nothing can exceed the budget.
    assert done.writes == []
    assert sum(mgn.throttles.values()) <= 100
    assert store.load().throttles[first[0].server_id] == mgn.throttles[first[0].server_id]


def test_a_steady_wave_is_not_rewritten(dynamodb: Any, store: LinkStore) -> None:
    steady = [server(n, copying=False) for n in range(1, 6)]
    mgn = FakeMgn()
    assert len(keeper(dynamodb, store, mgn).run_pass(RECONCILER, steady).writes) == 5
    assert keeper(dynamodb, store, mgn).run_pass(RECONCILER, steady).writes == []
    assert set(mgn.throttles.values()) == {1}


def test_a_server_goes_to_its_networks_link_its_tag_wins_and_an_unknown_tag_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ipaddress import IPv4Network

    from mgn_pipeline.replication.links import Link, LinkRouter

    router = LinkRouter(
        [
            Link("default", LinkBudget(budget_mbps=700)),
            Link("munich", LinkBudget(budget_mbps=300), (IPv4Network("10.30.0.0/16"),)),
        ]
    )

    def at(ip: str, **tags: str) -> SourceServer:
        return SourceServer(
            "s-00000000000000001",
            "",
            LifeCycleState.NOT_READY,
            ReplicationState.INITIAL_SYNC,
            False,
            tags=tags,
            ip_addresses=(ip,),
        )

    assert router.link_of(at("10.30.4.5")) == "munich"
    assert router.link_of(at("10.20.4.5")) == "default"
    assert router.link_of(at("10.20.4.5", **{"mgn-pipeline:link": "munich"})) == "munich"
    with caplog.at_level(logging.ERROR):
        assert router.link_of(at("10.30.4.5", **{"mgn-pipeline:link": "hamburg"})) is None
    assert "link tag names no link" in caplog.text
    assert (
        LinkRouter([Link("munich", LinkBudget(budget_mbps=300), (IPv4Network("10.30.0.0/16"),))]).link_of(
            at("10.20.4.5")
        )
        is None
    )  # no default link: a server outside every network keeps its throttle
