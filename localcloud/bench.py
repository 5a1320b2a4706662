"""A wave of N servers the whole way through the pipeline on the local cloud, what it cost, how it grows.

    python -m localcloud.bench --servers 200             # one wave: its table, reports/bench.json
    python -m localcloud.bench --sizes 10,100,1000       # a fresh local cloud per size: growth table,
                                                         # reports/bench-scale.json (make bench-scale)

A wave goes: agent installed -> settings enforced -> replicated -> test launched and verified ->
approval requested -> approved by an allowed approver in Systems Manager (SendAutomationSignal to the
SSM Automation emulator, as the console does for a person) -> cut over -> verified -> finalized.

The run fails (exit 1) unless:

- nothing is lost: every server is finalized (MGN lifecycle CUTOVER, finalized, replication
  stopped) and its one gate execution SUCCEEDED;
- nothing is done twice: exactly one cutover job and one FinalizeCutover per server, and no
  StartCutover refused; test launches per server are counted (no test fails here, so one each);
- MGN's quotas held: the emulator's jobs are sampled at every clock step and at every job start
  (at most 20 active jobs, 200 servers across active jobs, one active job per server), and the
  servers holding a replication slot never exceed the actively-replicating-servers quota;
- the dead-letter queues are empty;
- no function failed: no event or schedule invocation raised, no OnFailure record; errors a state
  machine's Retry handled are reported apart (their execution must still have SUCCEEDED).

The approver approves every request waiting in the console each time it looks (every 10 s, never
on the minute, when the launch batcher runs), however many: the pipeline's gate queues each approved
cutover and the launch batcher starts the queued ones in as few MGN jobs as the quotas allow (20 jobs,
200 servers in jobs per Region), after any test cleanup job of the same server. So no StartCutover
is refused and the quotas hold without the approver counting anything.

Costs per migrated server at list prices (us-east-1) for Lambda, Step Functions and EventBridge are
computed from what the run measured: the constants below name their source pages.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import boto3

from localcloud.cloud import ACCOUNT_ID, REGION, ROOT, LocalCloud
from localcloud.gate import APPROVER_SESSION
from localcloud.mgn import Timings
from tools.cfn_yaml import load_template

REPORT = Path("reports/bench.json")
SCALE_REPORT = Path("reports/bench-scale.json")
TIMINGS = Timings(initiating_seconds=120, initial_sync_seconds=1800)
PHASE = (
    "agent installed -> settings enforced -> replicated -> test launched and verified -> approval "
    "requested -> approved (SSM) -> cut over -> verified -> finalized"
)
SERVICES = ("mgn", "ec2", "dynamodb", "sns", "stepfunctions", "ssm", "sqs", "events")

# ---------------------------------------------------------------- MGN quotas (per Region)
# AWS General Reference, "Application Migration Service endpoints and quotas": concurrent jobs 20,
# source servers in all active jobs 200, one active job per source server (not adjustable); actively
# replicating source servers 150 (adjustable: the 1,000-server wave raises it, as an approved
# increase request would).
MAX_ACTIVE_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 200
MAX_JOBS_PER_SERVER = 1
_IN_PROGRESS = ("PENDING", "IN_PROGRESS")  # a server's launchStatus while its part of a job runs

# ---------------------------------------------------------------- list prices, us-east-1
# Checked on 2026-11-25 against the text of these pages (found with the search tool):
PRICES_CHECKED = "2026-11-25"
# "AWS Lambda Pricing" (aws.amazon.com/lambda/pricing): requests $0.20 per 1M; duration billed per
# 1 ms, rounded up. Arm price, first tier (first 7.5 billion GB-seconds / month): $0.0000133334 per
# GB-second ("AWS Lambda Pricing Breakdown: Ultimate Guide 2024", cloudchipr.com, which quotes the
# official tier table; the official page renders its Arm table in a script).
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_ARM_GB_SECOND_USD = 0.0000133334
LAMBDA_FREE_REQUESTS = 1_000_000  # per month, free tier (same page)
LAMBDA_FREE_GB_SECONDS = 400_000  # per month, free tier, x86 and Arm together (same page)
# "AWS Step Functions Pricing" (aws.amazon.com/step-functions/pricing): Standard Workflows, US East
# (N. Virginia) $0.025 per 1,000 state transitions, retries counted as transitions; 4,000 free
# state transitions per month, not expiring.
SFN_TRANSITION_USD = 0.025 / 1000
SFN_FREE_TRANSITIONS = 4_000
# "Amazon EventBridge Pricing" (aws.amazon.com/eventbridge/pricing): AWS management events (aws.mgn
# service events, CloudTrail "AWS API Call" events, aws.ssm status changes) are ingested by the
# default bus for free; custom events (PutEvents) $1.00 per 1M, each 64 KB chunk one event. The
# template's schedules are EventBridge rules with a schedule expression (SAM Type: Schedule), not
# EventBridge Scheduler: no charge.
EVENTBRIDGE_CUSTOM_EVENT_USD = 1.00 / 1_000_000


# ================================================================ quotas: jobs and replication slots


class QuotaWatch:
    """Samples the MGN emulator's jobs at every clock step and at every job start.

    The set of active jobs only grows when a job starts (``MgnBackend.new_job``, wrapped here on the
    instance) and only shrinks on a clock step, so sampling at both sees every maximum. Jobs may start
    from a Step Functions worker thread (StartCutover): a lock keeps the bookkeeping consistent.
    """

    def __init__(self, cloud: LocalCloud, replicating_quota: int) -> None:
        self.cloud = cloud
        self.replicating_quota = replicating_quota
        self.jobs: list[Any] = []  # every job started, in order (JobRecord)
        self.samples = 0
        self.max_jobs = 0
        self.max_servers_in_jobs = 0
        self.max_jobs_per_server = 0
        self.max_replicating = 0
        self.violations: list[str] = []
        self._open: list[Any] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        backend = self.cloud.mgn.backend
        new_job = backend.new_job

        def watched_new_job(*args: Any, **kwargs: Any) -> Any:
            job = new_job(*args, **kwargs)
            with self._lock:
                self.jobs.append(job)
                # A server is in a job until its own part of it ends (the emulator frees each server of a
                # TERMINATE job as its cleanup ends, a moment before the job is COMPLETED).
                busy = {
                    sid: other
                    for other in self._open
                    if other.active
                    for sid in other.server_ids
                    if other.launch_status.get(sid) in _IN_PROGRESS
                }
                clash = [(sid, busy[sid]) for sid in job.server_ids if sid in busy]
                self.max_jobs_per_server = max(self.max_jobs_per_server, 2 if clash else 1)
                for sid, other in clash[:3]:
                    self._violation(
                        f"{job.initiated_by} job {job.job_id} takes {sid}, already in {other.initiated_by} job "
                        f"{other.job_id} ({other.status})"
                    )
                self._open.append(job)
            self.sample()
            return job

        backend.new_job = watched_new_job  # type: ignore[method-assign]
        clock = self.cloud.clock
        call_at = clock.call_at

        def sampled_call_at(when: datetime, fn: Callable[[], object]) -> None:
            def step() -> object:
                try:
                    return fn()
                finally:
                    self.sample()

            call_at(when, step)

        clock.call_at = sampled_call_at  # type: ignore[method-assign]

    def sample(self) -> None:
        with self._lock:
            self._open = [job for job in self._open if job.active]
            jobs = len(self._open)
            servers = sum(len(job.server_ids) for job in self._open)
            self.samples += 1
            self.max_jobs = max(self.max_jobs, jobs)
            self.max_servers_in_jobs = max(self.max_servers_in_jobs, servers)
            if jobs > MAX_ACTIVE_JOBS:
                self._violation(f"{jobs} active jobs (quota {MAX_ACTIVE_JOBS})")
            if servers > MAX_SERVERS_IN_ACTIVE_JOBS:
                self._violation(f"{servers} servers in active jobs (quota {MAX_SERVERS_IN_ACTIVE_JOBS})")
            replicating = int(getattr(self.cloud.mgn, "replicating_servers", 0))
            self.max_replicating = max(self.max_replicating, replicating)
            if replicating > self.replicating_quota:
                self._violation(f"{replicating} servers replicating (quota {self.replicating_quota})")

    def _violation(self, what: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"{self.cloud.clock.now():%H:%M:%S} {what}")

    def per_server(self, initiated_by: str) -> Counter[str]:
        return Counter(sid for job in self.jobs if job.initiated_by == initiated_by for sid in job.server_ids)


def raise_replication_quota(
    cloud: LocalCloud, servers: int, *, keep_default: bool = False
) -> tuple[int, str]:
    """Raise the emulator's actively-replicating-servers quota to the wave, as an approved increase would
    (unless ``keep_default``: then the wave replicates in turns, as finalized servers free their slots)."""
    adjust = getattr(cloud.mgn, "adjust_quotas", None)
    quotas = getattr(cloud.mgn.backend, "quotas", None)
    current = getattr(quotas, "max_replicating_servers", None)
    if adjust is None or current is None:
        return (
            servers,
            "the MGN emulator has no actively-replicating-servers quota (150 by default in MGN) yet: "
            "the wave replicates all at once",
        )
    if keep_default and servers > current:
        return int(current), (
            f"actively replicating servers quota {current} kept (MGN's default): the rest of the wave "
            "waits to replicate until finalized servers free their slots"
        )
    if servers <= current:
        return int(current), f"actively replicating servers quota {current}: enough for {servers}, not raised"
    adjust(max_replicating_servers=servers)
    return servers, (
        f"actively replicating servers quota raised {current} -> {servers} "
        "(MgnEmulator.adjust_quotas, as an approved quota increase request)"
    )


# A launch subnet for the wave. The closed VPC's launch subnet is a /24 (localcloud/vpc.py): about 250
# instances, so it cannot hold the cutover instances of a wave of more than ~250 servers (in AWS either).
# A landing zone for such a wave has a bigger one: the bench adds a /19 (8,187 addresses) to the VPC, on
# the launch subnet's route table and default network ACL, and hands it to MGN's launch templates and to
# the stack's AllowedLaunchSubnetIds, for every size so that sizes compare.
WAVE_LAUNCH_SUBNET_CIDR = "10.0.32.0/19"


def wave_launch_subnet(cloud: LocalCloud) -> str:
    ec2 = boto3.client("ec2")
    with cloud.calls.not_counting():
        subnet = str(
            ec2.create_subnet(
                VpcId=cloud.vpc.vpc_id,
                CidrBlock=WAVE_LAUNCH_SUBNET_CIDR,
                AvailabilityZone=cloud.vpc.availability_zones[-1],
                TagSpecifications=[
                    {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "closed-mgn-launch-wave"}]}
                ],
            )["Subnet"]["SubnetId"]
        )
        ec2.associate_route_table(RouteTableId=cloud.vpc.launch_route_table_id, SubnetId=subnet)
    cloud.mgn.backend.ec2.launch_subnet_id = subnet  # launch templates of servers installed from now on
    for refs in (cloud.stack.refs, cloud.stack.functions.refs):  # function environments resolve per call
        refs["AllowedLaunchSubnetIds"] = [subnet]
    return subnet


# ================================================================ Step Functions executions (moto)


class Executions:
    """The gate's executions as moto runs them (worker threads, real time), read without copies.

    ``settle`` waits until every running execution is parked on a task token nobody completed yet.
    It reads moto's objects directly: ``get_execution_history`` deep-copies the whole history on
    every call, which made a settle cost O(executions x history) in API calls.
    """

    def __init__(self, cloud: LocalCloud, retry_waits: RetryWaits) -> None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        self.retry_waits = retry_waits
        self._backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        self._arns = set(cloud.state_machines.values())
        self._seen: dict[str, int] = {}
        self._running: list[Any] = []

    def all(self) -> list[Any]:
        return [
            execution
            for machine in list(self._backend.state_machines)
            if machine.arn in self._arns
            for execution in list(machine.executions)
        ]

    def running(self) -> list[Any]:
        """Executions not finished yet; new ones are picked up from moto's lists, finished ones dropped."""
        for machine in list(self._backend.state_machines):
            if machine.arn in self._arns:
                seen = self._seen.get(machine.arn, 0)
                fresh = machine.executions[seen:]
                self._seen[machine.arn] = seen + len(fresh)
                self._running.extend(fresh)
        self._running = [
            execution
            for execution in self._running
            if getattr(execution.exec_status, "value", execution.exec_status) in (None, "RUNNING")
        ]
        return self._running

    @staticmethod
    def history(execution: Any) -> list[dict[str, Any]]:
        worker = execution.exec_worker
        env = worker.env if worker is not None else None
        return list(env.event_manager._history_event_list) if env is not None else []

    @staticmethod
    def _busy(execution: Any) -> bool:
        worker = execution.exec_worker
        env = worker.env if worker is not None else None
        if env is None:
            return True
        events = env.event_manager._history_event_list
        if not events:
            return True
        last = events[-1]
        if str(getattr(last["type"], "value", last["type"])) != "TaskSubmitted":
            return True
        if "waitForTaskToken" not in last.get("taskSubmittedEventDetails", {}).get("resource", ""):
            return True
        pool = env.callback_pool_manager._pool
        if not pool:
            return True
        # Parked unless its token was completed and the worker has not picked the outcome up yet.
        return next(reversed(pool.values())).get_outcome() is not None

    def settle(self, timeout_s: float = 600.0) -> None:
        """Until each running execution waits on a task token or on a retry's simulated wait."""
        deadline = time.monotonic() + timeout_s
        pause = 0.0005
        while sum(1 for execution in self.running() if self._busy(execution)) > self.retry_waits.waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Step Functions executions did not settle within {timeout_s} s")
            # Back off: each look holds the GIL the executions' threads need.
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def statuses(self) -> Counter[str]:
        return Counter(str(getattr(e.exec_status, "value", e.exec_status)) for e in self.all())

    def billable_transitions(self) -> tuple[int, int]:
        """(states entered, retries) over every execution: Step Functions bills both as transitions."""
        entered = retries = 0
        for execution in self.all():
            types = Counter(str(getattr(e["type"], "value", e["type"])) for e in self.history(execution))
            entered += sum(n for kind, n in types.items() if kind.endswith("StateEntered"))
            retries += max(0, types["TaskScheduled"] - types["TaskStateEntered"])
        return entered, retries


class RetryWaits:
    """ASL ``Retry`` waits on the simulated clock, not in real time.

    ``LocalCloud`` scales moto's retry sleeps to 1 % of real time, and its settle waits keep the
    clock still while executions run: a retry waiting for MGN to finish something (a job, a
    lifecycle change) would then never see it end, where in AWS it waits 15 s, 30 s, 60 s ... of
    real time. Here a retry waits until the clock has moved by its
    interval; ``Executions.settle`` counts a waiting retry as parked.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.waiting = 0
        self.waits = 0
        self._lock = threading.Lock()
        self._events: set[threading.Event] = set()
        self._closed = False

    def sleep(self, seconds: float) -> None:
        done = threading.Event()
        with self._lock:
            if self._closed:
                return
            self.waiting += 1
            self.waits += 1
            self._events.add(done)
        self.clock.call_later(seconds, done.set)
        done.wait()
        with self._lock:
            self.waiting -= 1
            self._events.discard(done)

    @contextmanager
    def installed(self) -> Iterator[RetryWaits]:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        previous = retrier_decl.time
        retrier_decl.time = self  # type: ignore[assignment]  # the module's only use of time is time.sleep(interval)
        try:
            yield self
        finally:
            retrier_decl.time = previous
            with self._lock:
                self._closed = True
                for event in self._events:
                    event.set()


# ================================================================ emulation slow paths


@contextmanager
def faster_emulation() -> Iterator[None]:
    """Take moto's per-request and per-execution slow paths out of the way; what they answer is unchanged.

    - moto parses a state machine's ASL with the pure-Python ANTLR runtime again for every execution
      (``ExecutionWorker._get_evaluation_entrypoint``, about 0.5 s of CPU for the cutover gate): parse
      each definition once and share the program. Its components keep no evaluation state (that lives
      in each execution's ``Environment``; only Map/Parallel workers, which the gate has none of, do);
      each component's lazy ``heap_key`` is fixed before the program is shared between threads.
    - moto makes a new boto3 Lambda client for every Lambda task (``boto_client_for``): one per Region.
    - moto lists a response class's methods with ``inspect.getmembers`` on every request
      (``method_names_from_class``): once per class.
    - moto loads the Lambda service model and builds its URL router on first use, behind an unlocked
      ``functools.cache``: the first gate executions, in their own threads, all miss it together and
      each builds it (about 15 s of CPU at the start of a wave): built once here, before any execution.
    - moto parses each JSONPath (``$.serverId``, ``$$.Task.Token``, a ResultPath ...) again at every
      use, with a PLY parser (about 0.7 ms each, a few dozen per execution): once per path. The parsed
      expressions are not changed by ``find`` or ``update_or_create``.
    - moto's response serializer asks six alias providers, for every member of every response, which
      keys to try (``XFormedAttributePicker.get_possible_keys``): their answer depends on the object's
      class, the member and its shape only, so it is kept per (class, member, shape).
    - moto's DynamoDB ``UpdateItem`` parses its UpdateExpression twice per call with a hand-written
      recursive-descent parser (about 0.5 ms each): once per expression text. The request handler only
      reads the tree (which placeholders it names) and gets the shared tree; the backend's validator
      rewrites the tree it is given and gets a copy (cheaper than a parse). An expression that does not
      parse raises every time, as before.
    """
    from moto.core import responses, routing, serialize
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb import responses as dynamodb_responses
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    routing.get_service_router("lambda")  # Step Functions' Lambda tasks reach moto's Lambda through it
    lock = threading.Lock()
    programs: dict[str, Any] = {}
    clients: dict[tuple[str, str], Any] = {}
    methods: dict[type, list[str]] = {}
    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_client_for = lambda_eval_utils.boto_client_for
    original_methods = responses.method_names_from_class

    def entrypoint(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _fix_heap_keys(program, EvalComponent)
                programs[definition] = program
            return programs[definition]

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original_client_for(region, service, state_credentials)
            return clients[(region, service)]

    def method_names(clazz: Any) -> list[str]:
        if clazz not in methods:
            methods[clazz] = original_methods(clazz)
        return methods[clazz]

    picker = serialize.XFormedAttributePicker
    original_pick = picker.__call__
    original_keys = picker.get_possible_keys
    get_value = serialize.get_value
    missing = serialize.MISSING
    # (picker class, object class, key, shape) -> the keys moto's alias providers would try, in order.
    # What the providers decide depends on those alone (the object's Meta is its class's).
    candidates: dict[tuple[type, type, str, int], tuple[Any, list[str]]] = {}

    def pick(self: Any, context: Any) -> Any:
        obj, key, shape = context.obj, context.key, context.shape
        cache_key = (type(self), type(obj), key, id(shape))
        cached = candidates.get(cache_key)
        if cached is None or cached[0] is not shape:
            cached = (shape, list(original_keys(self, context)))
            candidates[cache_key] = cached
        for possible_key in cached[1]:
            value = get_value(obj, possible_key, missing)
            if value is not missing:
                break
        else:
            value = None
        if self.response_transformers:
            key_path = f"{context.key_path}.{key}"
            for transform_path, transform in self.response_transformers.items():
                if key_path.endswith(transform_path):
                    return transform(value)
        return value

    update_trees: dict[str, Any] = {}

    def shared_update_tree(expression: str) -> Any:
        tree = update_trees.get(expression)
        if tree is None:
            tree = update_trees[expression] = UpdateExpressionParser.make(expression)
        return tree

    # Each module sees the parser under its own name: swap the name, not the class both share.
    update_parsers = {
        dynamodb_responses: SimpleNamespace(make=shared_update_tree),
        dynamodb_models: SimpleNamespace(
            make=lambda expression: copy.deepcopy(shared_update_tree(expression))
        ),
    }
    for module, parser in update_parsers.items():
        module.UpdateExpressionParser = parser  # type: ignore[attr-defined]
    parsers = {module: module.parse for module in (json_path, result_path)}
    for module, parse in parsers.items():
        module.parse = functools.lru_cache(maxsize=4096)(parse)  # type: ignore[attr-defined]
    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]
    lambda_eval_utils.boto_client_for = client_for
    responses.method_names_from_class = method_names
    picker.__call__ = pick  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module, parse in parsers.items():
            module.parse = parse  # type: ignore[attr-defined]
        for module in update_parsers:
            module.UpdateExpressionParser = UpdateExpressionParser  # type: ignore[attr-defined]
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = original_client_for
        responses.method_names_from_class = original_methods
        picker.__call__ = original_pick  # type: ignore[method-assign]


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic GC runs far less often: a wave's heap (moto's state, histories, ~2 threads per gate
    execution) grows with the wave, and each full collection walks all of it."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()  # what exists now (modules, models) is never collected again
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def _fix_heap_keys(root: Any, component_type: type) -> None:
    """Touch every component's lazy ``heap_key`` so threads sharing the program all read the same key."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, component_type):
            _ = item.heap_key  # type: ignore[attr-defined]
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
            stack.extend(vars(item).values())


# ================================================================ the approver


class Approver:
    """A person approving cutovers in the Systems Manager console as they come.

    Every approval request waiting in the console is approved at each look, however many: the
    pipeline queues approved cutovers and its launch batcher starts them within MGN's job quotas.
    """

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.approved: dict[str, str] = {}  # server id -> automation execution id
        self.client = boto3.client("ssm")

    def approve(self) -> int:
        done = set(self.approved.values())
        waiting = sorted(
            (
                execution
                for execution in self.cloud.ssm.executions.values()
                if execution.status == "Waiting" and execution.execution_id not in done
            ),
            key=lambda execution: (execution.start, execution.execution_id),
        )
        for execution in waiting:
            server_id = execution.parameters["ServerId"][0]
            with self.cloud.ssm.acting_as(APPROVER_SESSION), self.cloud.calls.not_counting():
                self.client.send_automation_signal(
                    AutomationExecutionId=execution.execution_id,
                    SignalType="Approve",
                    Payload={"Comment": [f"CHG-{len(self.approved) + 1:05d} approved for the wave"]},
                )
            self.approved[server_id] = execution.execution_id
        return len(waiting)


# ================================================================ the wave


class WaveFailed(RuntimeError):
    pass


def run_wave(
    servers: int,
    *,
    max_simulated_hours: float | None = None,
    progress: TextIO | None = None,
    default_replication_quota: bool = False,
) -> dict[str, Any]:
    """Run one wave in a fresh local cloud; returns the measurements and the checks."""
    limit_s = 3600 * (max_simulated_hours or 4 + servers / 100)
    started = time.perf_counter()
    with (
        fewer_collections(),
        faster_emulation(),
        LocalCloud.start(timings=TIMINGS) as cloud,
        RetryWaits(cloud.clock).installed() as retry_waits,
    ):
        wave_launch_subnet(cloud)
        setup_s = time.perf_counter() - started
        replicating_quota, quota_note = raise_replication_quota(
            cloud, servers, keep_default=default_replication_quota
        )
        quotas = QuotaWatch(cloud, replicating_quota)
        quotas.install()
        executions = Executions(cloud, retry_waits)
        cloud.deployed()
        cloud.clock.advance(60)
        wave_started, sim_started = time.perf_counter(), cloud.clock.now()
        ids = [cloud.mgn.register_agent(f"app-{n:04d}", tags={"wave": "bench"}) for n in range(servers)]
        approver = Approver(cloud)
        next_report = 1800.0
        while True:
            _one_minute(cloud, executions, approver)
            simulated = (cloud.clock.now() - sim_started).total_seconds()
            finalized = sum(1 for sid in ids if _finalized(cloud, sid))
            if finalized == servers and not executions.running():
                break
            if progress is not None and simulated >= next_report:
                next_report += 1800
                print(
                    f"  [{servers} servers] {simulated / 3600:4.1f} h simulated, {finalized:>5} finalized, "
                    f"{len(approver.approved):>5} approved, wall {time.perf_counter() - started:7.1f} s",
                    file=progress,
                    flush=True,
                )
            # Every server approved and no gate running any more: what is not finalized now never will be.
            stuck = len(approver.approved) == servers and not executions.running()
            if stuck or simulated > limit_s:
                why = "nothing runs any more" if stuck else f"{limit_s / 3600:.1f} simulated hours passed"
                raise WaveFailed(
                    f"the wave did not finish ({why}): {finalized} of {servers} finalized, "
                    f"{len(approver.approved)} approved; {diagnose(cloud, ids, executions)}"
                )
        wave_s = time.perf_counter() - wave_started
        return _measure(cloud, ids, quotas, executions, approver, quota_note, setup_s, wave_s, simulated)


def diagnose(cloud: LocalCloud, ids: list[str], executions: Executions, limit: int = 3) -> str:
    """Where the servers that are not finalized stand: MGN, the gate record, the execution, failures."""
    failures = Counter(
        f"{record.function} {record.outcome}"
        for record in cloud.stack.functions.log
        if record.outcome != "ok"
    )
    by_name = {execution.name.rsplit("-", 1)[0]: execution for execution in executions.all()}
    lines = []
    for sid in [sid for sid in ids if not _finalized(cloud, sid)][:limit]:
        server = cloud.mgn.server(sid)
        with cloud.calls.not_counting():
            gate = (
                boto3.client("dynamodb")
                .get_item(TableName=cloud.stack.refs["CutoverGateTable"], Key={"serverId": {"S": sid}})
                .get("Item", {})
            )
        execution = by_name.get(sid)
        history = Executions.history(execution) if execution is not None else []
        last = [str(getattr(e["type"], "value", e["type"])) for e in history[-4:]]
        lines.append(
            f"{sid}: MGN {server.lifecycle}/{server.repl_state} job {server.active_job_id}, gate "
            f"{gate.get('status', {}).get('S')} ({gate.get('reason', {}).get('S', '')[:200]}), execution "
            f"{getattr(execution.exec_status, 'value', None) if execution else None} ...{last}"
        )
    return "; ".join(lines) + f"; failed invocations: {dict(failures) or 'none'}"


def _one_minute(cloud: LocalCloud, executions: Executions, approver: Approver) -> None:
    """One simulated minute. The launch batcher runs on the minute; the approver looks at the console
    every 10 s after it, and the gates it approved start their cutovers before time moves on."""
    executions.settle()
    cloud.clock.advance(10)
    for _ in range(5):
        executions.settle()
        if approver.approve():
            cloud.clock.advance(1)  # the approval's status event reaches the bridge (0.5 s delivery)
            executions.settle()
            cloud.clock.advance(9)
        else:
            cloud.clock.advance(10)
    executions.settle()


def _finalized(cloud: LocalCloud, server_id: str) -> bool:
    server = cloud.mgn.server(server_id)
    return server.lifecycle == "CUTOVER" and "finalized" in server.last_cutover and not server.replicating


def _measure(
    cloud: LocalCloud,
    ids: list[str],
    quotas: QuotaWatch,
    executions: Executions,
    approver: Approver,
    quota_note: str,
    setup_s: float,
    wave_s: float,
    simulated_s: float,
) -> dict[str, Any]:
    n = len(ids)
    functions = cloud.stack.functions
    calls = {
        service: dict(sorted(cloud.calls.by_service(service).items()))
        for service in SERVICES
        if cloud.calls.total(service)
    }
    entered, retries = executions.billable_transitions()
    mgn_calls = cloud.mgn.calls
    start_cutover_calls = Counter(
        sid for op, params in mgn_calls if op == "StartCutover" for sid in params.get("sourceServerIDs") or []
    )
    finalize_calls = Counter(
        params.get("sourceServerID") for op, params in mgn_calls if op == "FinalizeCutover"
    )
    cutover_jobs = quotas.per_server("START_CUTOVER")
    test_jobs = quotas.per_server("START_TEST")
    executions_per_server = Counter(e.name.rsplit("-", 1)[0] for e in executions.all())
    with cloud.calls.not_counting():
        dead_letters = {
            queue: len(cloud.stack.queue_messages(queue))
            for queue in ("FunctionFailureDLQ", "EventDeliveryDLQ")
        }
    # An error a state machine's Retry handles (e.g. StartCutover refused while the server's test cleanup
    # job runs) is part of the design: reported, and the execution must still succeed. Any other failed
    # invocation (event, schedule) is a failure.
    failures = Counter(
        f"{record.function} {record.outcome}"
        for record in functions.log
        if record.outcome != "ok" and record.trigger != "stepfunctions"
    )
    retried = Counter(
        f"{record.function} {record.outcome}"
        for record in functions.log
        if record.outcome != "ok" and record.trigger == "stepfunctions"
    )
    lost = [sid for sid in ids if not _finalized(cloud, sid)]
    # StartCutover accepted = a cutover job started; refused calls (ConflictException) are counted apart.
    twice = {
        sid: {
            "cutoverJobs": cutover_jobs[sid],
            "FinalizeCutover": finalize_calls[sid],
            "executions": executions_per_server[sid],
        }
        for sid in ids
        if (cutover_jobs[sid], finalize_calls[sid], executions_per_server[sid]) != (1, 1, 1)
    }
    refused = sum(start_cutover_calls[sid] - cutover_jobs[sid] for sid in ids)
    tests = Counter(test_jobs[sid] for sid in ids)
    statuses = executions.statuses()
    checks = {
        "finalized": n - len(lost),
        "lost": lost[:20],
        "done_twice": dict(list(twice.items())[:20]),
        "start_cutover_refused": refused,
        "test_launches_per_server": {str(k): v for k, v in sorted(tests.items())},
        "executions": dict(statuses),
        "quotas": {
            "samples": quotas.samples,
            "max_active_jobs": quotas.max_jobs,
            "max_servers_in_active_jobs": quotas.max_servers_in_jobs,
            "max_active_jobs_per_server": quotas.max_jobs_per_server,
            "max_replicating_servers": quotas.max_replicating,
            "replicating_quota": quotas.replicating_quota,
            "violations": quotas.violations,
            "note": quota_note,
        },
        "dead_letters": dead_letters,
        "function_failures": dict(failures),
        "task_errors_retried_by_the_gate": dict(retried),
        "on_failure_records": len(functions.on_failure_records),
    }
    problems = failed_checks(checks, n)
    events = _eventbridge_events(cloud)
    lambda_by_function = {
        key: {
            "invocations": timing.invocations,
            "cpu_ms_per_invocation": round(1000 * timing.cpu_s / timing.invocations, 2),
            "billed_ms": timing.billed_ms,
        }
        for key, timing in sorted(functions.timings.items())
    }
    result: dict[str, Any] = {
        "servers": n,
        "phase": PHASE,
        "wall_seconds": round(setup_s + wave_s, 2),
        "setup_seconds": round(setup_s, 2),
        "wave_seconds": round(wave_s, 2),
        "wall_seconds_per_server": round((setup_s + wave_s) / n, 4),
        "servers_per_second": round(n / (setup_s + wave_s), 3),
        "simulated_hours": round(simulated_s / 3600, 2),
        "approvals": len(approver.approved),
        "calls": calls,
        "calls_per_server": {s: {op: round(c / n, 3) for op, c in ops.items()} for s, ops in calls.items()},
        "calls_per_server_total": {s: round(sum(ops.values()) / n, 3) for s, ops in calls.items()},
        "lambda_invocations": dict(sorted(functions.counts.items())),
        "lambda_invocations_per_server": {k: round(v / n, 3) for k, v in sorted(functions.counts.items())},
        "lambda": lambda_by_function,
        "step_functions": {
            "states_entered": entered,
            "retries": retries,
            "billable_transitions": entered + retries,
        },
        "step_functions_transitions_per_server": round((entered + retries) / n, 3),
        "eventbridge_events": events,
        "custom_events_put": dict(cloud.calls.put_events_entries),
        "checks": checks,
        "problems": problems,
        "ok": not problems,
    }
    result["cost"] = cost_per_server(result)
    return result


def failed_checks(checks: dict[str, Any], n: int) -> list[str]:
    problems = []
    if checks["finalized"] != n:
        problems.append(f"lost: {n - checks['finalized']} of {n} servers not finalized")
    if checks["done_twice"]:
        problems.append(
            f"done twice (or not once): {len(checks['done_twice'])} servers, e.g. {checks['done_twice']}"
        )
    if checks["start_cutover_refused"]:
        problems.append(f"StartCutover refused for {checks['start_cutover_refused']} servers (expected none)")
    if set(checks["test_launches_per_server"]) != {"1"}:
        problems.append(f"test launches per server: {checks['test_launches_per_server']} (expected 1 each)")
    if checks["executions"] != {"SUCCEEDED": n}:
        problems.append(f"gate executions: {checks['executions']} (expected {n} SUCCEEDED)")
    quota = checks["quotas"]
    if quota["violations"]:
        problems.append(f"MGN quotas broken: {quota['violations']}")
    if sum(checks["dead_letters"].values()):
        problems.append(f"dead letters: {checks['dead_letters']}")
    if checks["function_failures"] or checks["on_failure_records"]:
        problems.append(
            f"function failures: {checks['function_failures']}, OnFailure records {checks['on_failure_records']}"
        )
    return problems


def _eventbridge_events(cloud: LocalCloud) -> dict[str, int]:
    """Events the default bus received, by kind: all AWS management events or schedules (free)."""
    mgn = Counter(
        "CloudTrail API calls (aws.mgn)"
        if e.get("detail-type") == "AWS API Call via CloudTrail"
        else "MGN service events"
        for e in cloud.mgn.events
    )
    scheduled = sum(stats["scheduled"] for stats in cloud.bus.stats.values())
    return {
        **dict(sorted(mgn.items())),
        "SSM Automation status changes (aws.ssm)": len(cloud.ssm.events),
        "scheduled rule firings": scheduled,
    }


# ================================================================ cost at list prices


def function_memory_mb(template_path: Path = ROOT / "template.yaml") -> dict[str, int]:
    """Each function's MemorySize (its own, else Globals.Function's, else Lambda's default 128)."""
    template = load_template(template_path)
    default = int(((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128))
    return {
        logical_id: int((resource.get("Properties") or {}).get("MemorySize", default))
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }


def cost_per_server(result: dict[str, Any]) -> dict[str, Any]:
    """USD per migrated server, before free tiers, from the run's measured invocations and durations."""
    n = result["servers"]
    memory = function_memory_mb()
    requests = sum(fn["invocations"] for fn in result["lambda"].values())
    gb_seconds = sum(
        fn["billed_ms"] / 1000 * memory.get(key, 128) / 1024 for key, fn in result["lambda"].items()
    )
    transitions = result["step_functions"]["billable_transitions"]
    custom_events = sum(result["custom_events_put"].values())
    lambda_requests = requests * LAMBDA_REQUEST_USD
    lambda_duration = gb_seconds * LAMBDA_ARM_GB_SECOND_USD
    step_functions = transitions * SFN_TRANSITION_USD
    eventbridge = custom_events * EVENTBRIDGE_CUSTOM_EVENT_USD
    total = lambda_requests + lambda_duration + step_functions + eventbridge
    return {
        "prices": {
            "checked": PRICES_CHECKED,
            "region": "us-east-1",
            "lambda_request_usd": LAMBDA_REQUEST_USD,
            "lambda_arm_gb_second_usd": LAMBDA_ARM_GB_SECOND_USD,
            "step_functions_transition_usd": SFN_TRANSITION_USD,
            "eventbridge_custom_event_usd": EVENTBRIDGE_CUSTOM_EVENT_USD,
        },
        "memory_mb": {key: memory.get(key, 128) for key in result["lambda"]},
        "per_server_usd": {
            "lambda_requests": lambda_requests / n,
            "lambda_duration": lambda_duration / n,
            "step_functions": step_functions / n,
            "eventbridge": eventbridge / n,
            "total": total / n,
        },
        "wave_usd": total,
        "wave_usage": {
            "lambda_requests": requests,
            "lambda_gb_seconds": round(gb_seconds, 3),
            "step_functions_transitions": transitions,
            "eventbridge_custom_events": custom_events,
        },
        "fits_monthly_free_tier": {
            "lambda_requests": requests <= LAMBDA_FREE_REQUESTS,
            "lambda_gb_seconds": gb_seconds <= LAMBDA_FREE_GB_SECONDS,
            "step_functions": transitions <= SFN_FREE_TRANSITIONS,
        },
    }


COST_CAVEATS = (
    "List prices, us-east-1, checked {checked}; per server before the monthly free tiers (Lambda: 1M requests "
    "and 400,000 GB-s; Step Functions: 4,000 transitions), which are per account and shared with everything "
    "else in it.",
    "Lambda duration: each invocation's CPU time in the local cloud (handler plus the emulators answering its "
    "calls in-process), rounded up to 1 ms, times the function's MemorySize from template.yaml. An estimate "
    "of Lambda's billed duration: on Lambda each AWS API call also waits on the network (typically some ms "
    "per call through a VPC endpoint), which is not here, and arm64 at 512 MB is not this CPU.",
    "EventBridge: the bus carries only AWS management events (aws.mgn, CloudTrail API calls, aws.ssm) and "
    "scheduled rules (free); the pipeline puts no custom events. Not included: DynamoDB, SNS, SSM "
    "Automation steps, CloudTrail, CloudWatch Logs, VPC endpoints, MGN and its replication servers.",
)


# ================================================================ output


def print_table(result: dict[str, Any], out: TextIO) -> None:
    n = result["servers"]
    print(f"\nWave of {n} servers: {result['phase']}", file=out)
    print(
        f"  wall time            {result['wall_seconds']:>10.2f} s (local cloud up {result['setup_seconds']:.1f} s)",
        file=out,
    )
    print(f"  wall per server      {1000 * result['wall_seconds_per_server']:>10.1f} ms", file=out)
    print(f"  servers per second   {result['servers_per_second']:>10.2f}", file=out)
    print(f"  simulated time       {result['simulated_hours']:>10.2f} h", file=out)
    print("\n  calls per server           operation", file=out)
    for service, ops in result["calls_per_server"].items():
        for op, count in ops.items():
            print(f"    {service:<8} {count:>8.2f}       {op}", file=out)
    print("\n  Lambda per server      invocations   CPU ms/invocation", file=out)
    for fn, count in result["lambda_invocations_per_server"].items():
        ms = result["lambda"].get(fn, {}).get("cpu_ms_per_invocation", 0.0)
        print(f"    {fn:<22} {count:>8.3f}   {ms:>10.1f}", file=out)
    sfn = result["step_functions"]
    print(
        f"\n  Step Functions transitions per server {result['step_functions_transitions_per_server']:.2f}"
        f" ({sfn['states_entered']} states entered + {sfn['retries']} retries)",
        file=out,
    )
    print("\n  EventBridge events on the default bus per server (free)", file=out)
    for kind, count in result["eventbridge_events"].items():
        print(f"    {count / n:>8.2f}  {kind}", file=out)
    print(
        f"    {sum(result['custom_events_put'].values()) / n:>8.2f}  custom events put by the pipeline",
        file=out,
    )
    print_checks(result, out)
    print_cost(result, out)


def print_checks(result: dict[str, Any], out: TextIO) -> None:
    checks, n = result["checks"], result["servers"]
    quota = checks["quotas"]
    print("\n  checks", file=out)
    print(f"    finalized                      {checks['finalized']:>6} of {n}", file=out)
    print(f"    not once: cutover job/Finalize {len(checks['done_twice']):>6} servers", file=out)
    print(
        f"    StartCutover refused           {checks['start_cutover_refused']:>6} servers"
        " (ConflictException; the batcher plans within the quotas, so none)",
        file=out,
    )
    print(f"    test launches per server       {checks['test_launches_per_server']}", file=out)
    print(f"    gate executions                {checks['executions']}", file=out)
    print(
        f"    max active MGN jobs            {quota['max_active_jobs']:>6} (quota {MAX_ACTIVE_JOBS}), servers in them "
        f"{quota['max_servers_in_active_jobs']} (quota {MAX_SERVERS_IN_ACTIVE_JOBS}), jobs per server "
        f"{quota['max_active_jobs_per_server']} (quota {MAX_JOBS_PER_SERVER}); {quota['samples']} samples",
        file=out,
    )
    print(
        f"    max servers replicating        {quota['max_replicating_servers']:>6} (quota {quota['replicating_quota']})",
        file=out,
    )
    print(f"    MGN quota                      {quota['note']}", file=out)
    print(f"    dead letters                   {checks['dead_letters']}", file=out)
    print(
        f"    function failures              {checks['function_failures'] or 0}, OnFailure records "
        f"{checks['on_failure_records']}",
        file=out,
    )
    print(f"    task errors retried by gate    {checks['task_errors_retried_by_the_gate'] or 0}", file=out)
    print(
        f"    result                         {'OK' if result['ok'] else 'FAILED: ' + '; '.join(result['problems'])}",
        file=out,
    )


def print_cost(result: dict[str, Any], out: TextIO) -> None:
    cost = result["cost"]
    per = cost["per_server_usd"]
    usage = cost["wave_usage"]
    print("\n  cost per migrated server, USD at list prices (us-east-1)", file=out)
    print(
        f"    Lambda requests      {per['lambda_requests']:>12.8f}   ({usage['lambda_requests']} requests in the wave)",
        file=out,
    )
    print(
        f"    Lambda duration      {per['lambda_duration']:>12.8f}   ({usage['lambda_gb_seconds']} GB-s, arm64)",
        file=out,
    )
    print(
        f"    Step Functions       {per['step_functions']:>12.8f}   ({usage['step_functions_transitions']} transitions)",
        file=out,
    )
    print(
        f"    EventBridge          {per['eventbridge']:>12.8f}   ({usage['eventbridge_custom_events']} custom events)",
        file=out,
    )
    print(f"    total                {per['total']:>12.8f}   (wave: {cost['wave_usd']:.4f} USD)", file=out)
    free = cost["fits_monthly_free_tier"]
    print(
        "    the whole wave fits the monthly free tier: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in free.items()),
        file=out,
    )
    for caveat in COST_CAVEATS:
        print("    * " + caveat.format(checked=cost["prices"]["checked"]), file=out)


def growth_table(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-server figures by size and their ratio to the smallest size (flat = linear growth)."""
    base = results[0]

    def per_server(result: dict[str, Any]) -> dict[str, float]:
        return {
            "wall_s": result["wall_seconds_per_server"],
            "calls": sum(result["calls_per_server_total"].values()),
            "transitions": result["step_functions_transitions_per_server"],
            "invocations": sum(result["lambda_invocations_per_server"].values()),
            "cost_usd": result["cost"]["per_server_usd"]["total"],
        }

    rows = []
    for result in results:
        mine, theirs = per_server(result), per_server(base)
        rows.append(
            {
                "servers": result["servers"],
                "wall_seconds": result["wall_seconds"],
                "simulated_hours": result["simulated_hours"],
                "per_server": mine,
                "calls_per_server_by_service": result["calls_per_server_total"],
                "ratio_to_smallest": {
                    k: round(v / theirs[k], 3) if theirs[k] else None for k, v in mine.items()
                },
                "ok": result["ok"],
            }
        )
    return {"baseline_servers": base["servers"], "rows": rows}


def print_growth(growth: dict[str, Any], out: TextIO) -> None:
    rows = growth["rows"]
    services = sorted({s for row in rows for s in row["calls_per_server_by_service"]}, key=SERVICES.index)
    print(f"\nGrowth from {rows[0]['servers']} to {rows[-1]['servers']} servers ({PHASE})", file=out)
    print(
        "per-server figures; x = ratio to the smallest wave (flat x1.0 = linear growth, below = better)\n",
        file=out,
    )
    header = (
        f"{'servers':>7} {'wall s':>8} {'wall/srv ms':>12} {'sim h':>6} "
        + " ".join(f"{s:>8}" for s in services)
        + f" {'calls/srv':>9} {'SFN tr/srv':>10} {'λ inv/srv':>9} {'$/srv':>10} {'ok':>3}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        per = row["per_server"]
        print(
            f"{row['servers']:>7} {row['wall_seconds']:>8.1f} {1000 * per['wall_s']:>12.1f} {row['simulated_hours']:>6.2f} "
            + " ".join(f"{row['calls_per_server_by_service'].get(s, 0):>8.2f}" for s in services)
            + f" {per['calls']:>9.2f} {per['transitions']:>10.2f} {per['invocations']:>9.2f} {per['cost_usd']:>10.7f}"
            + f" {'yes' if row['ok'] else 'NO':>3}",
            file=out,
        )
    print("\ngrowth vs the smallest wave (per server)", file=out)
    print(f"{'servers':>7} {'wall':>7} {'calls':>7} {'SFN tr':>7} {'λ inv':>7} {'$':>7}", file=out)
    for row in rows:
        ratio = row["ratio_to_smallest"]
        print(
            f"{row['servers']:>7} "
            + " ".join(
                f"x{ratio[k]:>6.2f}" for k in ("wall_s", "calls", "transitions", "invocations", "cost_usd")
            ),
            file=out,
        )


@contextmanager
def quiet_functions() -> Iterator[TextIO]:
    """Function logs are not the benchmark's output (and writing them costs time)."""
    terminal = sys.stdout
    with Path(os.devnull).open("w") as sink:
        sys.stdout = sink
        try:
            yield terminal
        finally:
            sys.stdout = terminal


def run_sizes(sizes: Iterable[int], out: TextIO, max_simulated_hours: float | None) -> list[dict[str, Any]]:
    """Each size in a fresh interpreter (and so a fresh local cloud): no size inherits another's warm state."""
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            output = Path(tmp) / f"wave-{size}.json"
            command = [
                sys.executable,
                "-m",
                "localcloud.bench",
                "--servers",
                str(size),
                "--output",
                str(output),
            ]
            if max_simulated_hours:
                command += ["--max-simulated-hours", str(max_simulated_hours)]
            print(f"\n+ {' '.join(command[1:])}", file=out, flush=True)
            subprocess.run(command, check=False, stdout=out, cwd=ROOT)  # noqa: S603 - our own module
            if not output.exists():
                raise WaveFailed(f"the wave of {size} servers ended without a result")
            results.append(json.loads(output.read_text()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, default=200, help="one wave of this many servers")
    parser.add_argument(
        "--sizes", help="comma-separated wave sizes, each in a fresh local cloud, e.g. 10,100,1000"
    )
    parser.add_argument(
        "--output", type=Path, help=f"report file (default {REPORT}, with --sizes {SCALE_REPORT})"
    )
    parser.add_argument("--max-simulated-hours", type=float, help="give up after this much simulated time")
    parser.add_argument(
        "--default-replication-quota",
        action="store_true",
        help="keep MGN's default of 150 actively replicating servers (a bigger wave replicates in turns)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
        results = run_sizes(sizes, sys.stdout, args.max_simulated_hours)
        growth = growth_table(results)
        print_growth(growth, sys.stdout)
        largest = results[-1]
        print(f"\ncost per migrated server, wave of {largest['servers']}:", file=sys.stdout)
        print_cost(largest, sys.stdout)
        output = args.output or SCALE_REPORT
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"growth": growth, "waves": results}, indent=2) + "\n")
        print(f"\nwritten: {output}")
        failed = [r["servers"] for r in results if not r["ok"]]
        if failed:
            print(f"bench: FAILED checks for waves of {failed}", file=sys.stderr)
        return 1 if failed else 0
    output = args.output or REPORT
    with quiet_functions() as terminal:
        try:
            result = run_wave(
                args.servers,
                max_simulated_hours=args.max_simulated_hours,
                progress=terminal,
                default_replication_quota=args.default_replication_quota,
            )
        except (WaveFailed, TimeoutError) as exc:
            print(f"bench: FAILED: {exc}", file=terminal)
            return 1
    print_table(result, sys.stdout)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {output}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
