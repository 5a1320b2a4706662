"""The dashboard's fleet gauges: pure counting of what a reconcile read, and the EMF they become."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mgn_pipeline.cutover.waiting_approvals import GateTableApprovals
from mgn_pipeline.pipeline.fleet_metrics import (
    FleetTally,
    approvals_waiting,
    emit_step_duration,
    publish_fleet_metrics,
    step_left,
    summarize_lags,
)
from mgn_pipeline.shared.aws.dynamodb import BatchReadIncomplete
from mgn_pipeline.shared.aws.server_registry import Observation, ServerRecord
from mgn_pipeline.shared.observability import metrics
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.steps import PipelineStep

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def server(
    n: int, lifecycle: str, replication: str | None = "CONTINUOUS", lag: str | None = "PT5S", **extra: Any
) -> SourceServer:
    item: dict[str, Any] = {
        "sourceServerID": f"s-{n:017x}",
        "arn": f"arn:aws:mgn:us-east-1:111122223333:source-server/s-{n:017x}",
        "lifeCycle": {"state": lifecycle},
        **extra,
    }
    if replication is not None:
        item["dataReplicationInfo"] = {"dataReplicationState": replication}
        if lag is not None:
            item["dataReplicationInfo"]["lagDuration"] = lag
    return SourceServer.from_api(item)


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def emitted(lines: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    """(metric name, dimensions) -> values, from EMF documents."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for doc in lines:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((key, str(doc[key])) for key in dimension_set))
                for metric in directive["Metrics"]:
                    value = doc[metric["Name"]]
                    found.setdefault((metric["Name"], dims), []).extend(
                        value if isinstance(value, list) else [value]
                    )
    return found


@pytest.fixture
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


# ---------------------------------------------------------------------- pure counting
def test_lag_summary_is_max_nearest_rank_p90_and_mean() -> None:
    assert summarize_lags([]) is None
    one = summarize_lags([7.0])
    assert one is not None and (one.servers, one.max_seconds, one.p90_seconds, one.mean_seconds) == (
        1,
        7.0,
        7.0,
        7.0,
    )
    ten = summarize_lags([float(v) for v in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)])
    assert ten is not None
    assert (ten.servers, ten.max_seconds, ten.p90_seconds, ten.mean_seconds) == (10, 10.0, 9.0, 5.5)
    eleven = summarize_lags([float(v) for v in range(1, 12)])
    assert eleven is not None and eleven.p90_seconds == 10.0


def test_tally_counts_every_step_and_state_with_zeros_and_lags_of_servers_with_work_ahead() -> None:
    fleet = [
        server(1, "PENDING_INSTALLATION", replication=None),
        server(2, "NOT_READY", "INITIAL_SYNC", lag=None),  # MGN reports no lag before the initial sync
        server(3, "READY_FOR_TEST", "CONTINUOUS", lag="PT2S"),
        server(4, "READY_FOR_TEST", "STALLED", lag="PT1H"),
        server(5, "TESTING", lag="PT30S"),
        server(6, "READY_FOR_CUTOVER", lag="PT1M"),
        server(7, "READY_FOR_CUTOVER", lag="garbage"),
        server(
            8,
            "CUTOVER",
            lag="PT3S",
            lifeCycle={"state": "CUTOVER", "lastCutover": {"finalized": {"apiCallDateTime": "x"}}},
        ),
        server(9, "DISCONNECTED", "DISCONNECTED", lag="PT9H"),
    ]
    tally = FleetTally()
    assert list(tally.observe(iter(fleet))) == fleet  # passes the reconciler's read through

    gauges = tally.gauges(approvals_waiting=2)

    assert set(gauges.servers_per_step) == {step.value for step in PipelineStep}
    assert set(gauges.servers_per_lifecycle) == {state.value for state in LifeCycleState}
    assert {k: v for k, v in gauges.servers_per_step.items() if v} == {
        "ENFORCE_REPLICATION_SETTINGS": 2,
        "START_TEST": 1,
        "REPAIR_REPLICATION": 1,
        "VERIFY_TEST": 1,
        "OPEN_CUTOVER_GATE": 2,
        "DONE": 1,
        "NONE": 1,
    }
    assert sum(gauges.servers_per_lifecycle.values()) == len(fleet)
    assert gauges.servers_per_lifecycle["READY_FOR_CUTOVER"] == 2
    assert gauges.servers_per_lifecycle["STOPPED"] == 0
    # Lags of servers with work ahead and a readable lagDuration: 2 s, 1 h, 30 s, 1 min.
    assert gauges.servers_replicating == 4
    assert gauges.lag is not None
    assert (gauges.lag.max_seconds, gauges.lag.p90_seconds) == (3600.0, 3600.0)
    assert gauges.lag.mean_seconds == pytest.approx((2 + 3600 + 30 + 60) / 4)
    assert tally.ready_for_cutover == {fleet[5].server_id, fleet[6].server_id}
    assert gauges.as_dict()["approvalsWaiting"] == 2
    assert gauges.as_dict()["serversPerStep"]["OPEN_CUTOVER_GATE"] == 2


def test_no_replicating_server_gives_no_lag() -> None:
    tally = FleetTally()
    tally.add(server(1, "NOT_READY", "INITIAL_SYNC", lag=None))
    gauges = tally.gauges(None)
    assert (gauges.servers_replicating, gauges.lag) == (0, None)
    assert gauges.as_dict()["replicationLag"] is None


# ---------------------------------------------------------------------- approvals waiting
class FakeApprovals:
    def __init__(self, waiting: set[str], error: Exception | None = None) -> None:
        self._waiting = waiting
        self._error = error
        self.asked: list[set[str]] = []

    def waiting(self, server_ids: Collection[str]) -> set[str]:
        self.asked.append(set(server_ids))
        if self._error is not None:
            raise self._error
        return self._waiting & set(server_ids)


def test_approvals_waiting_reads_only_when_a_server_is_ready_for_cutover() -> None:
    tally = FleetTally()
    tally.add(server(1, "TESTING"))
    approvals = FakeApprovals({"s-anything"})
    assert approvals_waiting(tally, approvals) == 0
    assert approvals.asked == []  # no read: nobody is at the gate
    assert approvals_waiting(tally, None) is None  # no gate table: not counted


def test_approvals_waiting_counts_ready_servers_whose_gate_waits() -> None:
    tally = FleetTally()
    ready = [server(n, "READY_FOR_CUTOVER") for n in range(1, 5)]
    for s in [*ready, server(9, "TESTING")]:
        tally.add(s)
    # Gate 4 waits for approval but is not among the servers read (a stale or foreign item).
    approvals = FakeApprovals({ready[0].server_id, ready[2].server_id, "s-gone", "wave#w1#abc"})
    assert approvals_waiting(tally, approvals) == 2
    assert approvals.asked == [{s.server_id for s in ready}]


def test_a_failed_read_skips_the_gauge_and_never_fails_the_reconcile() -> None:
    tally = FleetTally()
    tally.add(server(1, "READY_FOR_CUTOVER"))
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchGetItem")
    assert approvals_waiting(tally, FakeApprovals(set(), denied)) is None
    assert approvals_waiting(tally, FakeApprovals(set(), BatchReadIncomplete("throttled"))) is None


class FakeDynamoDb:
    """BatchGetItem over a dict of gate items; answers the first ``unprocessed`` keys later."""

    def __init__(self, statuses: dict[str, str], unprocessed: int = 0) -> None:
        self.statuses = statuses
        self.unprocessed = unprocessed
        self.calls: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(RequestItems)
        [(table, request)] = RequestItems.items()
        names = request["ExpressionAttributeNames"]
        projected = {
            names.get(part.strip(), part.strip()) for part in request["ProjectionExpression"].split(",")
        }
        assert projected == {"serverId", "status"}  # never the task token
        keys = request["Keys"]
        assert len(keys) <= 100
        held, keys = keys[: self.unprocessed], keys[self.unprocessed :]
        self.unprocessed = max(0, self.unprocessed - len(held))
        items = [
            {"serverId": k["serverId"], "status": {"S": self.statuses[k["serverId"]["S"]]}}
            for k in keys
            if k["serverId"]["S"] in self.statuses
        ]
        response: dict[str, Any] = {"Responses": {table: items}}
        if held:
            response["UnprocessedKeys"] = {table: {**request, "Keys": held}}
        return response


def test_gate_table_reads_the_asked_items_in_batches_of_100() -> None:
    ids = [f"s-{n:017x}" for n in range(250)]
    statuses = {sid: "WAITING_APPROVAL" if n % 5 == 0 else "CUTTING_OVER" for n, sid in enumerate(ids)}
    statuses.pop(ids[10])  # READY_FOR_CUTOVER without a gate yet
    client = FakeDynamoDb(statuses, unprocessed=3)

    waiting = GateTableApprovals(client, "gates").waiting(ids)

    assert waiting == {sid for n, sid in enumerate(ids) if n % 5 == 0 and n != 10}
    assert [len(call["gates"]["Keys"]) for call in client.calls] == [100, 3, 100, 50]


def test_gate_table_gives_up_after_a_few_rounds_of_unprocessed_keys() -> None:
    client = FakeDynamoDb({"s-1": "WAITING_APPROVAL"}, unprocessed=1_000)
    with pytest.raises(BatchReadIncomplete):
        GateTableApprovals(client, "gates").waiting(["s-1"])
    assert len(client.calls) == 3


# ---------------------------------------------------------------------- time in a step
def record(step: PipelineStep, since: str) -> ServerRecord:
    return ServerRecord("s-1", step, since, "TESTING", "CONTINUOUS", "reconciler", 3)


def test_step_left_is_the_previous_step_and_its_time_only_on_a_written_change() -> None:
    since = (NOW - timedelta(hours=2, seconds=5)).isoformat()
    previous = record(PipelineStep.VERIFY_TEST, since)
    assert step_left(Observation(previous, written=True), PipelineStep.OPEN_CUTOVER_GATE, NOW) == (
        PipelineStep.VERIFY_TEST,
        7205.0,
    )
    # Same step (lifecycle or replication changed): nothing left.
    assert step_left(Observation(previous, written=True), PipelineStep.VERIFY_TEST, NOW) is None
    # Lost the conditional write to a racing invocation: the winner reports it.
    assert step_left(Observation(previous, written=False), PipelineStep.OPEN_CUTOVER_GATE, NOW) is None
    # A server seen for the first time left nothing.
    assert step_left(Observation(None, written=True), PipelineStep.START_TEST, NOW) is None
    unreadable = record(PipelineStep.VERIFY_TEST, "yesterday")
    assert step_left(Observation(unreadable, written=True), PipelineStep.DONE, NOW) is None


def test_step_duration_is_one_emf_document_with_the_step_left(
    capsys: pytest.CaptureFixture[str], fresh_metrics: None
) -> None:
    since = (NOW - timedelta(minutes=30)).isoformat()
    emit_step_duration(
        Observation(record(PipelineStep.START_TEST, since), True), PipelineStep.VERIFY_TEST, NOW
    )
    emit_step_duration(
        Observation(record(PipelineStep.START_TEST, since), False), PipelineStep.VERIFY_TEST, NOW
    )

    found = emitted(emf_lines(capsys.readouterr().out))

    assert found == {("StepDurationSeconds", (("Step", "START_TEST"), ("service", "mgn-pipeline"))): [1800.0]}


# ---------------------------------------------------------------------- the EMF a reconcile emits
def test_published_gauges_have_bounded_dimensions_and_the_service(
    capsys: pytest.CaptureFixture[str], fresh_metrics: None
) -> None:
    tally = FleetTally()
    for s in [server(1, "READY_FOR_CUTOVER", lag="PT10S"), server(2, "READY_FOR_CUTOVER", lag="PT20S")]:
        tally.add(s)
    gauges = publish_fleet_metrics(tally, FakeApprovals({server(1, "READY_FOR_CUTOVER").server_id}))
    metrics.flush_metrics()

    lines = emf_lines(capsys.readouterr().out)
    found = emitted(lines)

    assert {doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] for doc in lines} == {"MgnPipeline"}
    service = ("service", "mgn-pipeline")
    per_step = {dict(dims)["Step"]: v for (name, dims), v in found.items() if name == "ServersInStep"}
    assert per_step == {step.value: [0.0] for step in PipelineStep} | {"OPEN_CUTOVER_GATE": [2.0]}
    per_state = {
        dict(dims)["LifeCycle"]: v for (name, dims), v in found.items() if name == "ServersInLifeCycle"
    }
    assert per_state == {state.value: [0.0] for state in LifeCycleState} | {"READY_FOR_CUTOVER": [2.0]}
    assert found[("ApprovalsWaiting", (service,))] == [1.0]
    assert found[("ServersReplicating", (service,))] == [2.0]
    assert found[("ReplicationLagMaxSeconds", (service,))] == [20.0]
    assert found[("ReplicationLagP90Seconds", (service,))] == [20.0]
    assert found[("ReplicationLagMeanSeconds", (service,))] == [15.0]
    for (_, dims), _values in found.items():
        assert service in dims and len(dims) <= 2
    assert gauges.approvals_waiting == 1
