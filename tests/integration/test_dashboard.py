"""The template's CloudWatch dashboard against what the pipeline really emits on the local cloud.

One small wave (five servers) runs once for the module: four pass their tests (one after a failed
launch) and their gates ask for approval, one fails its verification twice and is handed to a
person; a person rejects one of the four, so three wait for approval. The functions' EMF lines (``print`` to stdout, JSON with an ``_aws`` key)
are captured while it runs. Then: every widget has a title and something to show, every metric of
the pipeline's namespace the dashboard shows was emitted with that name and those dimensions, the
AWS metrics name the stack's own resources, and the fleet gauges of a final reconcile are right.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import pytest

from localcloud.gate import CutoverCloud, cutover_cloud
from localcloud.mgn import Timings
from localcloud.template import Template, resolve
from mgn_pipeline.jobs.probe import SocketProber
from mgn_pipeline.shared.server import LifeCycleState
from mgn_pipeline.shared.steps import PipelineStep

pytestmark = [pytest.mark.integration]

CLOSED_PORT = 9999  # declared by the server whose verification fails; nobody answers on it
LAGS = {"app-a": 2.0, "app-b": 5.0, "app-c": 30.0, "app-d": 60.0, "app-e": 120.0}
Dimensions = frozenset[tuple[str, str]]
SERVICE: Dimensions = frozenset({("service", "mgn-pipeline")})


class EmfSink:
    """Stands in for ``sys.stdout``: keeps the EMF lines (whole lines, per thread: Step Functions
    runs the cutover tasks in threads) and drops the rest."""

    encoding = "utf-8"

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self._partial = threading.local()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        *complete, rest = (getattr(self._partial, "text", "") + text).split("\n")
        self._partial.text = rest
        documents = [json.loads(line) for line in complete if line.startswith("{") and '"_aws"' in line]
        with self._lock:
            self.lines.extend(documents)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextmanager
def stdout_to(sink: EmfSink) -> Iterator[None]:
    saved: TextIO = sys.stdout
    sys.stdout = sink  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved


def emitted(documents: list[dict[str, Any]]) -> dict[tuple[str, str, Dimensions], list[float]]:
    """(namespace, metric, dimensions) -> every value emitted."""
    found: dict[tuple[str, str, Dimensions], list[float]] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((key, str(doc[key])) for key in dimension_set)
                for metric in directive["Metrics"]:
                    value = doc[metric["Name"]]
                    key = (directive["Namespace"], metric["Name"], dims)
                    found.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return found


@dataclass
class Wave:
    env: CutoverCloud
    ids: dict[str, str]  # hostname -> server id
    emf: list[dict[str, Any]]  # every EMF document the functions printed
    final: list[dict[str, Any]]  # those of the last reconcile alone
    final_report: dict[str, Any]


def run(env: CutoverCloud, seconds: float, step: float = 60.0) -> None:
    """Simulated time with the template's schedules, letting the gate's executions park in between."""
    end = env.clock.now().timestamp() + seconds
    while (left := end - env.clock.now().timestamp()) > 0:
        env.settle()
        env.clock.advance(min(step, left))
    env.settle()


def run_until(env: CutoverCloud, done: Callable[[], bool], limit_s: float, chunk_s: float = 120.0) -> None:
    waited = 0.0
    while not done():
        assert waited < limit_s, f"not done within {limit_s} simulated seconds"
        run(env, chunk_s)
        waited += chunk_s


@pytest.fixture(scope="module")
def wave() -> Iterator[Wave]:
    sink = EmfSink()
    timings = Timings(initiating_seconds=60, initial_sync_seconds=600)
    with (
        pytest.MonkeyPatch.context() as patch,
        stdout_to(sink),
        cutover_cloud(
            timings=timings,
            parameters={"TestLaunchMaxAttempts": "2", "LinkBudgetMbps": "700"},
            schedules=True,
        ) as env,
    ):
        # Test instances answer on every port but the one app-e declares (no real sockets here).
        patch.setattr(SocketProber, "is_open", lambda _self, _host, port, _timeout: port != CLOSED_PORT)
        env.cloud.deployed()
        run(env, 60)
        ids = {
            name: env.mgn.register_agent(
                name,
                tags={
                    # The link budget's per-wave ETA on the dashboard needs a window to measure against.
                    "mgn-pipeline:cutover-window": "2027-01-15T22:00:00Z",
                    **({"mgn-pipeline:app-ports": str(CLOSED_PORT)} if name == "app-e" else {}),
                },
                replication_lag_seconds=lag,
            )
            for name, lag in LAGS.items()
        }
        env.mgn.fail_next_launch(ids["app-d"], "Failed to launch test instance: InsufficientInstanceCapacity")
        run(env, 660, step=330)  # agents install and replicate: no execution to wait for yet

        def tested() -> bool:  # app-a..d wait for approval, app-e failed both attempts
            asking = [n for n, sid in ids.items() if env.gate(sid).get("status") == "WAITING_APPROVAL"]
            failed = emitted(sink.lines).get(("MgnPipeline", "TestVerificationsFailed", SERVICE), [])
            return sorted(asking) == ["app-a", "app-b", "app-c", "app-d"] and sum(failed) == 2

        run_until(env, tested, limit_s=40 * 60)
        # The change board postpones app-a: READY_FOR_CUTOVER still, but no longer waiting for anyone.
        env.decide(ids["app-a"], "Reject", comment="CAB-1 postponed")
        run_until(env, lambda: env.gate(ids["app-a"]).get("status") == "REJECTED", limit_s=10 * 60)

        mark = len(sink.lines)
        report = env.cloud.stack.functions.invoke(
            "ReconcilerFunction", {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        )
        env.settle()
        yield Wave(env, ids, list(sink.lines), list(sink.lines[mark:]), report)


# ---------------------------------------------------------------------- the template's dashboard
def dashboard(refs: dict[str, Any]) -> dict[str, Any]:
    [(_, resource)] = Template.load().resources_of_type("AWS::CloudWatch::Dashboard").items()
    body = resolve(resource["Properties"]["DashboardBody"], refs)
    assert isinstance(body, str)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def metric_rows(widget: dict[str, Any]) -> list[list[Any]]:
    return list(widget["properties"].get("metrics", []))


_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"([^\"]+)\"'")


def shown_metrics(body: dict[str, Any]) -> list[tuple[str, str, Dimensions | frozenset[str]]]:
    """(namespace, metric, dimensions) for each plain row (dimensions as pairs) and each SEARCH
    (dimension names only); rows may use "." for "same as the row above"."""
    shown: list[tuple[str, str, Dimensions | frozenset[str]]] = []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for row in metric_rows(widget):
            fields = [f for f in row if not isinstance(f, dict)]
            if fields:
                fields = [p if f == "." else f for f, p in zip(fields, [*previous, *fields], strict=False)]
                previous = fields
                namespace, name, *dims = fields
                shown.append((namespace, name, frozenset(zip(dims[::2], dims[1::2], strict=True))))
            for options in (f for f in row if isinstance(f, dict)):
                for match in _SEARCH.finditer(options.get("expression", "")):
                    namespace, *names = (part.strip() for part in match.group(1).split(","))
                    shown.append((namespace, match.group(2), frozenset(names)))
    return shown


def test_every_widget_has_a_title_and_something_to_show(wave: Wave) -> None:
    refs = wave.env.cloud.stack.refs
    body = dashboard(refs)
    widgets = body["widgets"]
    assert len(widgets) >= 12
    titles = [w["properties"]["title"] for w in widgets]
    assert all(titles) and len(set(titles)) == len(titles)
    for widget in widgets:
        props = widget["properties"]
        if widget["type"] == "alarm":
            assert props["alarms"], widget
            assert all(arn.startswith("arn:aws:cloudwatch:") for arn in props["alarms"])
        else:
            assert widget["type"] == "metric" and props["metrics"], widget
            assert props["region"] == refs["AWS::Region"]
        # Within the 24-column grid, no two widgets on the same cells.
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
    cells = [
        (x, y)
        for w in widgets
        for x in range(w["x"], w["x"] + w["width"])
        for y in range(w["y"], w["y"] + w["height"])
    ]
    assert len(cells) == len(set(cells))
    text = json.dumps(body).lower()
    for subject in ("step", "lifecycle", "lag", "pass rate", "health", "dead-letter", "approvals", "lambda"):
        assert subject in text, subject


def test_aws_metrics_name_the_stacks_own_resources(wave: Wave) -> None:
    refs = wave.env.cloud.stack.refs
    shown = shown_metrics(dashboard(refs))
    functions = {refs[key] for key in wave.env.cloud.stack.template.functions()}
    lambda_dims = {dict(d)["FunctionName"] for ns, _, d in shown if ns == "AWS/Lambda"}
    assert lambda_dims == functions
    assert {name for ns, name, _ in shown if ns == "AWS/Lambda"} == {"Errors", "Throttles"}
    queues = {dict(d)["QueueName"] for ns, _, d in shown if ns == "AWS/SQS"}
    assert queues == {refs["EventDeliveryDLQ.QueueName"], refs["FunctionFailureDLQ.QueueName"]}
    machines = {dict(d)["StateMachineArn"] for ns, _, d in shown if ns == "AWS/States"}
    assert machines == {wave.env.state_machine_arn}
    assert {name for ns, name, _ in shown if ns == "AWS/States"} >= {"ExecutionsFailed"}


def test_every_pipeline_metric_on_the_dashboard_is_emitted_with_its_name_and_dimensions(wave: Wave) -> None:
    globals_env = Template.load().globals_function()["Environment"]["Variables"]
    namespace = globals_env["POWERTOOLS_METRICS_NAMESPACE"]
    service = globals_env["POWERTOOLS_SERVICE_NAME"]
    shown = [s for s in shown_metrics(dashboard(wave.env.cloud.stack.refs)) if not s[0].startswith("AWS/")]
    assert {ns for ns, _, _ in shown} == {namespace}
    found = emitted(wave.emf)
    emitted_names = {(name, frozenset(k for k, _ in dims)) for ns, name, dims in found if ns == namespace}
    missing = []
    for _, name, dims in shown:
        if all(isinstance(d, str) for d in dims):  # a SEARCH: the dimension names must match exactly
            if (name, dims) not in emitted_names:
                missing.append((name, sorted(dims)))
        else:
            assert ("service", service) in dims, (name, dims)
            if (namespace, name, dims) not in found:
                missing.append((name, sorted(dims)))
    assert missing == []
    shown_names = {name for _, name, _ in shown}
    assert {
        "ServersInStep",
        "ServersInLifeCycle",
        "ReplicationLagMaxSeconds",
        "StepDurationSeconds",
        "TestVerificationsPassed",
        "TestVerificationsFailed",
        "TestLaunchesFailed",
        "HealthChecksFailed",
        "ApprovalsWaiting",
        "ServersPastReplicationWarning",
        "ServersPastReplicationUrgent",
        "ReplicationDaysMax",
    } <= shown_names


# ---------------------------------------------------------------------- the gauges' values
def test_the_last_reconcile_gauges_the_wave_as_it_is(wave: Wave) -> None:
    found = emitted(wave.final)
    service = ("service", "mgn-pipeline")

    def gauge(name: str, *dims: tuple[str, str]) -> list[float]:
        return found[("MgnPipeline", name, frozenset({service, *dims}))]

    per_step = {step.value: gauge("ServersInStep", ("Step", step.value)) for step in PipelineStep}
    assert {k: v for k, v in per_step.items() if v != [0.0]} == {
        "OPEN_CUTOVER_GATE": [4.0],  # app-a (rejected), app-b, app-c, app-d
        "START_TEST": [1.0],  # app-e: two failed tests, needs a person
    }
    per_state = {s.value: gauge("ServersInLifeCycle", ("LifeCycle", s.value)) for s in LifeCycleState}
    assert {k: v for k, v in per_state.items() if v != [0.0]} == {
        "READY_FOR_CUTOVER": [4.0],
        "READY_FOR_TEST": [1.0],
    }
    # Four READY_FOR_CUTOVER, three of them waiting for a person: app-a's gate was rejected.
    assert gauge("ApprovalsWaiting") == [3.0]
    lags = list(LAGS.values())
    assert gauge("ServersReplicating") == [5.0]
    assert gauge("ReplicationLagMaxSeconds") == [max(lags)]
    assert gauge("ReplicationLagP90Seconds") == [max(lags)]
    assert gauge("ReplicationLagMeanSeconds") == [pytest.approx(sum(lags) / len(lags))]
    assert wave.final_report["fleet"]["approvalsWaiting"] == 3
    # An hour into replication: nobody near the 90 free days, the longest a fraction of a day.
    assert gauge("ServersPastReplicationWarning") == [0.0]
    assert gauge("ServersPastReplicationUrgent") == [0.0]
    [longest] = gauge("ReplicationDaysMax")
    assert 0 < longest < 1


def test_test_outcomes_and_step_durations_over_the_wave(wave: Wave) -> None:
    found = emitted(wave.emf)

    def total(name: str) -> float:
        return sum(found.get(("MgnPipeline", name, SERVICE), []))

    assert total("TestVerificationsPassed") == 4  # app-a..d
    assert total("TestVerificationsFailed") == 2  # app-e, both attempts
    assert total("TestLaunchesFailed") == 1  # app-d's first launch
    durations = {
        dict(dims)["Step"]: values
        for (_, name, dims), values in found.items()
        if name == "StepDurationSeconds"
    }
    # Each server left ENFORCE_REPLICATION_SETTINGS once, within its initiation and initial sync.
    assert len(durations["ENFORCE_REPLICATION_SETTINGS"]) == 5
    assert all(0 < d <= 660 + 60 for d in durations["ENFORCE_REPLICATION_SETTINGS"])
    # Four servers left START_TEST and VERIFY_TEST on their way to the gate (app-d and app-e twice).
    assert len(durations["START_TEST"]) >= 4 and len(durations["VERIFY_TEST"]) >= 4
    assert all(d >= 0 for values in durations.values() for d in values)
