"""Waves: which wave a server is in, and when a wave's approval is asked (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mgn_pipeline.cutover.store import ParkedGate
from mgn_pipeline.cutover.waves import gather, is_wave_request, request_digest, request_id
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.wave import UNASSIGNED, wave_name, wave_of

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _server(tags: dict[str, str] | None = None, application_id: str | None = None) -> SourceServer:
    return SourceServer(
        server_id="s-1234567890abcdef0",
        arn="arn:aws:mgn:eu-west-1:111122223333:source-server/s-1234567890abcdef0",
        lifecycle=LifeCycleState.READY_FOR_TEST,
        replication=ReplicationState.CONTINUOUS,
        is_archived=False,
        tags=tags or {},
        application_id=application_id,
    )


def test_the_tag_wins_over_mgn_s_own_wave() -> None:
    server = _server({"wave": "2026-12-payments"}, application_id="app-1")
    assert wave_of(server, "wave", {"app-1": "mgn-wave"}) == "2026-12-payments"


def test_mgn_s_wave_is_the_fallback_and_neither_is_unassigned() -> None:
    assert wave_of(_server(application_id="app-1"), "wave", {"app-1": "Wave 3"}) == "Wave-3"
    assert wave_of(_server(application_id="app-9"), "wave", {"app-1": "Wave 3"}) == UNASSIGNED
    assert wave_of(_server(), "wave") == UNASSIGNED
    assert wave_of(_server({"wave": "   "}), "wave") == UNASSIGNED


def test_wave_names_are_fit_for_keys_and_runbook_parameters() -> None:
    assert wave_name("Payments / Dec #2") == "Payments---Dec--2"
    assert len(wave_name("x" * 300)) == 128


def _parked(sid: str, minutes_ago: int) -> ParkedGate:
    return ParkedGate(sid, 1, "w1", (NOW - timedelta(minutes=minutes_ago)).isoformat())


def test_a_wave_is_asked_when_nobody_else_is_on_the_way() -> None:
    verdict = gather([_parked("s-a", 1), _parked("s-b", 0)], [], NOW, timedelta(minutes=120))
    assert verdict.ask


def test_a_wave_waits_for_its_servers_until_the_gather_limit() -> None:
    waiting = gather([_parked("s-a", 30)], ["s-c"], NOW, timedelta(minutes=120))
    assert not waiting.ask and "1 more" in waiting.why
    due = gather([_parked("s-a", 120)], ["s-c"], NOW, timedelta(minutes=120))
    assert due.ask and "still on their way" in due.why


def test_nothing_parked_asks_nothing() -> None:
    assert not gather([], ["s-c"], NOW, timedelta(0)).ask


@pytest.mark.parametrize("order", [[("s-a", 1), ("s-b", 2)], [("s-b", 2), ("s-a", 1)]])
def test_a_request_is_named_by_its_wave_and_exact_members(order: list[tuple[str, int]]) -> None:
    digest = request_digest("w1", order)
    assert digest == request_digest("w1", [("s-a", 1), ("s-b", 2)])
    assert digest != request_digest("w1", [("s-a", 1), ("s-b", 3)])
    assert digest != request_digest("w2", order)
    ref = request_id("w1", digest)
    assert is_wave_request(ref) and not is_wave_request("gate#s-a#1")
