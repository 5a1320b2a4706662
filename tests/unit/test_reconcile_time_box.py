"""A reconcile stops before its Lambda timeout and leaves the rest to the next run, which gets
further: a paced first sight of a thousand servers takes longer than one run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from mgn_pipeline.pipeline.advance import Advance, Pipeline
from mgn_pipeline.pipeline.reconcile import STOP_WITH_SECONDS_LEFT, reconcile
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline.shared.trigger import RECONCILER, Trigger


def _server(n: int) -> SourceServer:
    return SourceServer.from_api(
        {
            "sourceServerID": f"s-{n:017x}",
            "arn": f"arn:aws:mgn:us-east-1:111122223333:source-server/s-{n:017x}",
            "lifeCycle": {"state": "READY_FOR_TEST"},
        }
    )


class FakeGateway:
    def __init__(self, count: int, page_size: int) -> None:
        self.servers = [_server(n) for n in range(count)]
        self.page_size = page_size

    def active_server_pages(self, page_size: int = 200) -> Iterator[list[SourceServer]]:
        for start in range(0, len(self.servers), self.page_size):
            yield self.servers[start : start + self.page_size]


class FakeClock:
    """The run's time left: each server seen for the first time costs ``first_sight_s``."""

    def __init__(self, timeout_s: float, first_sight_s: float) -> None:
        self.left = timeout_s
        self.first_sight_s = first_sight_s

    def seconds_left(self) -> float:
        return self.left


class FakePipeline:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seen: set[str] = set()
        self.advanced: list[str] = []
        self.passes_finished = 0

    def check_account(self, trigger: Trigger) -> list[str]:
        return []

    def read_ahead(self, server_ids: list[str]) -> None:
        pass

    def advance(self, server: SourceServer, trigger: Trigger) -> Advance:
        if server.server_id not in self.seen:
            self.clock.left -= self.clock.first_sight_s
            self.seen.add(server.server_id)
        self.advanced.append(server.server_id)
        return Advance(server.server_id, PipelineStep.START_TEST, True, "recorded")

    def finish_pass(self, trigger: Trigger, servers: Sequence[SourceServer]) -> list[str]:
        self.passes_finished += 1
        return ["asked wave w1"]


def _run(gateway: FakeGateway, pipeline: FakePipeline, clock: FakeClock) -> dict[str, Any]:
    report = reconcile(
        cast(MgnGateway, gateway),
        cast(Pipeline, pipeline),
        trigger=RECONCILER,
        seconds_left=clock.seconds_left,
    )
    return report.as_dict()


def test_a_run_stops_with_time_to_spare_and_the_next_runs_finish_the_fleet() -> None:
    gateway = FakeGateway(count=1_000, page_size=200)
    runs = []
    pipeline = None
    for _ in range(10):
        clock = FakeClock(timeout_s=300, first_sight_s=0.7)  # two paced MGN reads a new server
        pipeline = FakePipeline(clock) if pipeline is None else pipeline
        pipeline.clock = clock
        runs.append(_run(gateway, pipeline, clock))
        assert clock.left >= STOP_WITH_SECONDS_LEFT - clock.first_sight_s  # never near the timeout
        if not runs[-1]["cutShort"]:
            break
    assert pipeline is not None
    assert [run["cutShort"] for run in runs] == [True, True, False]  # 386 new a run, then the rest
    assert runs[0]["serversSeen"] == 386  # (300 - 30) / 0.7, rounded up: the one that crossed the line
    assert len(pipeline.seen) == 1_000
    # The approvals per wave and the fleet gauges need every server: only the complete pass has them.
    assert pipeline.passes_finished == 1
    assert [bool(run["fleet"]) for run in runs] == [False, False, True]
    assert runs[-1]["account"] == ["asked wave w1"]


def test_without_a_deadline_the_pass_is_whole() -> None:
    gateway = FakeGateway(count=450, page_size=200)
    clock = FakeClock(timeout_s=300, first_sight_s=0.7)
    pipeline = FakePipeline(clock)
    report = reconcile(cast(MgnGateway, gateway), cast(Pipeline, pipeline))
    assert report.servers_seen == 450 and not report.cut_short
    assert pipeline.passes_finished == 1
