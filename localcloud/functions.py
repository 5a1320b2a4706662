"""Run the template's REAL Lambda handlers in-process, against moto and the emulators.

``deploy_stack`` creates the template's tables, queues and topics in moto (inside an active
``mock_aws``) and returns a :class:`LocalStack`; its :class:`LocalFunctions` loads each
handler module from its CodeUri under a unique module name, with the environment the template
gives it, and invokes it synchronously (``invoke``) or with Lambda's asynchronous semantics
(``invoke_async``: retries on the :class:`~localcloud.clock.SimClock`, then the OnFailure
destination).

Each template function runs in containers, as on Lambda: a container is its own copy of the handler
module (its own clients, and the pipeline's pace that spaces its MGN calls), busy for the simulated
seconds its invocation takes (``localcloud.pacing``). An invocation takes a free container, or starts
a new one up to the function's ReservedConcurrentExecutions; past that it waits for the first to
free up. That wait stands for what AWS does over the limit (the state machine retries
Lambda.TooManyRequestsException, Lambda queues an asynchronous event, the SQS poller holds its
batch): the order and the pace are the same, the retries are not modelled.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3

from localcloud.calls import calls_made_by
from localcloud.clock import SimClock
from localcloud.crashes import ContainerDied, FunctionCrashed, InvocationCrashes
from localcloud.pacing import invocation_time, pace_in_invocation_time, spent
from localcloud.races import InvocationRaces, NoContainerFree
from localcloud.template import Template, resolve

Handler = Callable[[Any, Any], Any]

# Lambda retries a failed asynchronous invocation after about one minute, then about two.
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
DEFAULT_ASYNC_RETRIES = 2  # Lambda's default MaximumRetryAttempts
_INSTANCE_IDS = itertools.count(1)
# Lambda's default concurrency quota: the containers of a function without reserved concurrency.
ACCOUNT_CONCURRENCY = 1000


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)
    simulated_start: float = 0.0  # the invocation time it started at (after waiting for a container)

    def get_remaining_time_in_millis(self) -> int:
        # The wall clock guards real work done in the handler; the invocation's simulated time
        # (MGN calls at their latency, paces, retry waits) is what it would take on Lambda.
        elapsed_s = max(
            time.monotonic() - self._started, (spent() or self.simulated_start) - self.simulated_start
        )
        return max(0, int((self.timeout_s - elapsed_s) * 1000))


@dataclass
class InvocationRecord:
    time: datetime  # simulated time of the attempt
    function: str  # logical id (or registered name)
    trigger: str  # "direct", "async", "eventbridge:<rule>", "stepfunctions" ...
    outcome: str  # "ok" or "error:<ExceptionName>"
    request_id: str
    attempt: int = 1
    ended_at_s: float = 0.0  # invocation time at its end (after its wait): when its container frees


@dataclass
class FunctionTiming:
    """What one function's invocations took in the local cloud (handler only, emulators' work included).

    ``cpu_s`` is the invoking thread's CPU time (``time.thread_time``): other threads' work (moto's
    Step Functions workers, the clock) is not in it, GIL waits are not in it. ``billed_ms`` is the
    sum of each invocation's CPU time rounded up to the next millisecond (at least 1 ms), the way
    Lambda rounds a billed duration. An estimate of Lambda's billed duration, not a measure of it.
    """

    invocations: int = 0
    errors: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    billed_ms: int = 0
    # The longest invocation in simulated seconds: its MGN calls at their modelled latency and its
    # retry waits (localcloud.pacing); set against the function's Timeout.
    max_simulated_s: float = 0.0
    # The longest an invocation waited for a free container (reserved concurrency reached).
    max_wait_s: float = 0.0

    def add(
        self, cpu_s: float, wall_s: float, error: bool, simulated_s: float = 0.0, waited_s: float = 0.0
    ) -> None:
        self.max_simulated_s = max(self.max_simulated_s, simulated_s)
        self.max_wait_s = max(self.max_wait_s, waited_s)
        self.invocations += 1
        self.errors += int(error)
        self.cpu_s += cpu_s
        self.wall_s += wall_s
        self.billed_ms += max(1, math.ceil(cpu_s * 1000))


@dataclass
class _Container:
    """One execution environment: its handler (its own module copy) and when it is next free."""

    handler: Handler
    free_at: float = 0.0  # simulated epoch seconds
    busy: bool = False  # an invocation runs in it now (a raced invocation's twin needs another)


@dataclass
class _Target:
    """One invocable function: a template function or a registered python callable."""

    key: str
    name: str
    arn: str
    timeout_s: int
    memory_mb: int
    max_retries: int
    environment: Mapping[str, Any]  # unresolved (template) or plain strings (registered)
    on_failure: tuple[str | None, str | None] = (None, None)  # (Type, logical id)
    loader: Callable[[int], Handler] | None = None  # loads container n's module copy
    handler: Handler | None = None  # a registered callable (no containers modelled)
    reserved_concurrency: int | None = None
    containers: list[_Container] = field(default_factory=list)
    module_globals: dict[str, Any] = field(default_factory=dict)  # set on every container's module


class LocalFunctions:
    """The template's functions, run in-process. Inside an active ``mock_aws`` only."""

    def __init__(
        self,
        template: Template,
        refs: Mapping[str, Any],
        clock: SimClock,
        *,
        conditions: Mapping[str, bool] | None = None,
        retry_delays_s: tuple[float, ...] = ASYNC_RETRY_DELAYS_S,
    ) -> None:
        self.template = template
        self.refs = dict(refs)
        self.clock = clock
        self.conditions = dict(conditions) if conditions is not None else template.conditions(self.refs)
        self.retry_delays_s = retry_delays_s
        self.region = str(self.refs.get("AWS::Region", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")))
        self.account_id = str(self.refs.get("AWS::AccountId", "123456789012"))
        self.counts: Counter[str] = Counter()
        self.timings: dict[str, FunctionTiming] = {}
        self.log: list[InvocationRecord] = []
        self.on_failure_records: list[dict[str, Any]] = []
        # Each instance loads its own copy of every handler module (fresh module-level clients).
        self._module_prefix = f"_localcloud_fn{next(_INSTANCE_IDS)}_{uuid.uuid4().hex[:6]}"
        # One invocation at a time: os.environ is process-wide and Step Functions calls from a thread.
        self._lock = threading.RLock()
        self.crashes: InvocationCrashes | None = None  # the chaos benchmark kills some invocations
        self.races: InvocationRaces | None = None  # ... and runs some twice at once
        self._targets: dict[str, _Target] = {}
        self._overrides: dict[str, dict[str, str]] = {}
        for logical_id, spec in template.functions().items():
            name = str(self.refs.get(logical_id, logical_id))
            self._targets[logical_id] = _Target(
                key=logical_id,
                name=name,
                arn=str(self.refs.get(f"{logical_id}.Arn", self._arn(name))),
                timeout_s=spec.timeout,
                memory_mb=spec.memory_size,
                max_retries=_default(spec.maximum_retry_attempts, DEFAULT_ASYNC_RETRIES),
                environment=spec.environment,
                on_failure=(spec.on_failure_type, spec.on_failure_logical_id),
                loader=self._module_loader(logical_id, spec.code_uri, spec.handler),
                reserved_concurrency=spec.reserved_concurrency,
            )

    # ------------------------------------------------------------ names and registration

    def _arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def register(
        self,
        name: str,
        fn: Handler,
        *,
        environment: Mapping[str, str] | None = None,
        timeout_s: int = 60,
        memory_mb: int = 128,
        max_retries: int = DEFAULT_ASYNC_RETRIES,
        on_failure_queue: str | None = None,
    ) -> str:
        """Make any python callable ``fn(event, context)`` invocable as function ``name``; returns its ARN.

        ``on_failure_queue`` is the logical id of a queue in ``refs`` (SQS OnFailure destination).
        """
        self._targets[name] = _Target(
            key=name,
            name=name,
            arn=self._arn(name),
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            max_retries=max_retries,
            environment=dict(environment or {}),
            on_failure=("SQS" if on_failure_queue else None, on_failure_queue),
            handler=fn,
        )
        return self._targets[name].arn

    def function_name(self, key: str) -> str:
        return self._targets[self.resolve_name(key)].name

    def function_arn(self, key: str) -> str:
        return self._targets[self.resolve_name(key)].arn

    def resolve_name(self, name: str) -> str:
        """Logical id, physical name, or function ARN (with or without qualifier) -> our key."""
        if name in self._targets:
            return name
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name  # arn:aws:lambda:r:a:function:NAME[:qualifier]
        for key, target in self._targets.items():
            if name in (target.name, key):
                return key
        raise KeyError(f"no local function named {name!r}")

    # ------------------------------------------------------------ loading and environment

    def environment(self, key: str) -> dict[str, str]:
        """The function's environment variables, intrinsics resolved against ``refs``."""
        key = self.resolve_name(key)
        resolved = resolve(dict(self._targets[key].environment), self.refs, self.conditions)
        # What Lambda's runtime sets for every function, before the template's variables.
        runtime = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        return {**runtime, **{k: _env_str(v) for k, v in resolved.items()}, **self._overrides.get(key, {})}

    def override_environment(self, key: str, variables: Mapping[str, str]) -> None:
        """Overlay ``variables`` on the function's template environment (tests only; the template is the truth)."""
        self._overrides.setdefault(self.resolve_name(key), {}).update(variables)

    def _module_loader(self, logical_id: str, code_uri: str, handler: str) -> Callable[[int], Handler]:
        module_path, _, attr = handler.rpartition(".")
        code_dir = (self.template.root / code_uri).resolve()
        file = code_dir / (module_path.replace(".", "/") + ".py")

        def load(container: int) -> Handler:
            module_name = f"{self._module_prefix}_{logical_id}" + (f"_c{container}" if container else "")
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {file}")
            module: ModuleType = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            # Lambda puts the code directory on sys.path; do the same while the module imports.
            sys.path.insert(0, str(code_dir))
            try:
                with self._environ(logical_id):
                    spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            finally:
                sys.path.remove(str(code_dir))
            for name, value in self._targets[logical_id].module_globals.items():
                setattr(module, name, value)
            return getattr(module, attr)  # type: ignore[no-any-return]

        return load

    def handler(self, key: str) -> Handler:
        """The handler callable (of the first container), importing its module on first use (after
        the emulators are in)."""
        target = self._targets[self.resolve_name(key)]
        with self._lock:
            if target.handler is not None:
                return target.handler
            if not target.containers:
                self._start_container(target)
            return target.containers[0].handler

    def set_module_global(self, key: str, name: str, value: Any) -> None:
        """Set a global of the function's handler module in every container, now and to come (a test
        swaps a module-level dependency, e.g. the TCP prober)."""
        target = self._targets[self.resolve_name(key)]
        with self._lock:
            target.module_globals[name] = value
            for container in target.containers:
                setattr(sys.modules[container.handler.__module__], name, value)

    def containers(self, key: str) -> int:
        """How many containers the function has started (its cold starts)."""
        return len(self._targets[self.resolve_name(key)].containers)

    def _start_container(self, target: _Target) -> _Container:
        assert target.loader is not None  # noqa: S101 - template functions always have one
        container = _Container(target.loader(len(target.containers)))
        target.containers.append(container)
        return container

    def _container_for(self, target: _Target, now_s: float) -> tuple[Handler, _Container | None, float]:
        """The handler to run, its container, and how long the invocation waits for it (seconds)."""
        if target.handler is not None:
            return target.handler, None, 0.0
        idle = [container for container in target.containers if not container.busy]
        for container in idle:
            if container.free_at <= now_s:
                return container.handler, container, 0.0
        if len(target.containers) < (target.reserved_concurrency or ACCOUNT_CONCURRENCY):
            container = self._start_container(target)
            return container.handler, container, 0.0
        if not idle:
            raise NoContainerFree(f"{target.key}: all {len(target.containers)} containers are busy")
        container = min(idle, key=lambda c: c.free_at)
        return container.handler, container, container.free_at - now_s

    @contextmanager
    def _environ(self, key: str) -> Iterator[None]:
        env = self.environment(key)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield
        finally:
            # Put back only what we changed: never empty os.environ, another thread may read it.
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # ------------------------------------------------------------ invocation

    def invoke(
        self,
        key: str,
        event: Any,
        *,
        trigger: str = "direct",
        request_id: str | None = None,
        attempt: int = 1,
    ) -> Any:
        """Run the handler now; return its result or raise its exception."""
        key = self.resolve_name(key)
        target = self._targets[key]
        context = LambdaContext(
            function_name=target.name,
            invoked_function_arn=target.arn,
            memory_limit_in_mb=target.memory_mb,
            timeout_s=target.timeout_s,
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{target.name}",
        )
        record = InvocationRecord(self.clock.now(), key, trigger, "ok", context.aws_request_id, attempt)
        with self._lock:
            now_s = self.clock.now().timestamp()
            fn, container, waited = self._container_for(target, now_s)
            if container is not None:
                container.busy = True
            try:
                return self._run(key, target, fn, event, context, record, waited)
            finally:
                if container is not None:
                    container.busy = False
                    container.free_at = now_s + (record.ended_at_s or waited)

    def _run(
        self,
        key: str,
        target: _Target,
        fn: Handler,
        event: Any,
        context: LambdaContext,
        record: InvocationRecord,
        waited: float,
    ) -> Any:
        context.simulated_start = waited
        with (
            self._environ(key),
            calls_made_by(_caller(key, event)),
            invocation_time(start=waited),
            pace_in_invocation_time(self.clock.now),
            self.crashes.invocation(key) if self.crashes is not None else nullcontext(),
            self._race(key, event, record.trigger),
        ):
            self.counts[key] += 1
            self.log.append(record)
            failed = False
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(event, context)
            except ContainerDied as died:
                failed = True
                record.outcome = "error:Lambda.Unknown"
                raise FunctionCrashed(
                    f"RequestId: {context.aws_request_id} Error: Runtime exited ({died})"
                ) from None
            except Exception as exc:
                failed = True
                record.outcome = f"error:{type(exc).__name__}"
                raise
            finally:
                record.ended_at_s = spent() or waited
                timing = self.timings.setdefault(key, FunctionTiming())
                timing.add(
                    time.thread_time() - cpu,
                    time.perf_counter() - wall,
                    failed,
                    record.ended_at_s - waited,
                    waited,
                )

    def _race(self, key: str, event: Any, trigger: str) -> Any:
        if self.races is None or trigger == "race":
            return nullcontext()
        return self.races.invocation(key, event, lambda twin: self.invoke(key, twin, trigger="race"))

    def timeout_of(self, key: str) -> int:
        return self._targets[self.resolve_name(key)].timeout_s

    def invoke_async(self, key: str, event: Any, *, trigger: str = "async", delay_s: float = 0.0) -> str:
        """Queue an ``Event`` invocation on the clock; returns the request id.

        On an exception Lambda retries (``MaximumRetryAttempts``, after ~60 s then ~120 s) with
        the same request id, then sends a destination record to the OnFailure destination.
        """
        key = self.resolve_name(key)
        request_id = str(uuid.uuid4())
        self.clock.call_later(delay_s, lambda: self._attempt(key, event, trigger, request_id, 1))
        return request_id

    def _attempt(self, key: str, event: Any, trigger: str, request_id: str, attempt: int) -> None:
        try:
            self.invoke(key, event, trigger=trigger, request_id=request_id, attempt=attempt)
        except Exception as exc:
            target = self._targets[key]
            if attempt <= target.max_retries:
                delay = self.retry_delays_s[min(attempt - 1, len(self.retry_delays_s) - 1)]
                self.clock.call_later(
                    delay, lambda: self._attempt(key, event, trigger, request_id, attempt + 1)
                )
            else:
                self._send_on_failure(target, event, request_id, attempt, exc)

    def _send_on_failure(
        self, target: _Target, event: Any, request_id: str, attempts: int, exc: Exception
    ) -> None:
        record = {
            "version": "1.0",
            "timestamp": self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{target.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": error_payload(exc),
        }
        self.on_failure_records.append(record)
        kind, logical_id = target.on_failure
        if kind is None or logical_id is None:
            return  # no destination: Lambda drops the event (after logging it)
        destination = self.refs[logical_id]
        body = json.dumps(record, default=str)
        if kind == "SQS":
            boto3.client("sqs", region_name=self.region).send_message(QueueUrl=destination, MessageBody=body)
        elif kind == "SNS":
            boto3.client("sns", region_name=self.region).publish(TopicArn=destination, Message=body)
        else:
            raise NotImplementedError(f"OnFailure destination type {kind} is not emulated")


def _caller(key: str, event: Any) -> str:
    """The function and what it was asked: the gate task, or the event's kind (CloudTrail call or state)."""
    if not isinstance(event, dict):
        return key
    raw_detail = event.get("detail")
    detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    if isinstance(event.get("Records"), list):
        return f"{key}:batch"
    if isinstance(event.get("task"), str):
        return f"{key}:{event['task']}"
    if event.get("detail-type") == "AWS API Call via CloudTrail":
        return f"{key}:CloudTrail {detail.get('eventName')}"
    if isinstance(event.get("detail-type"), str):
        state = detail.get("state") or detail.get("lifeCycleState") or ""
        return f"{key}:{event['detail-type']} {state}".rstrip()
    return key


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The payload Lambda's Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": getattr(exc, "error_type", type(exc).__name__),
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
    }


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


# ---------------------------------------------------------------- the stack in moto


@dataclass
class LocalStack:
    """What ``deploy_stack`` made: names for every logical id, and the functions."""

    template: Template
    clock: SimClock
    refs: dict[str, Any]
    conditions: dict[str, bool]
    functions: LocalFunctions

    def queue_url(self, logical_id: str) -> str:
        return str(self.refs[logical_id])

    def queue_messages(self, logical_id: str, max_messages: int = 10) -> list[dict[str, Any]]:
        """Receive (and leave visible for no one else) up to ``max_messages`` from a queue."""
        sqs = boto3.client("sqs", region_name=self.functions.region)
        resp = sqs.receive_message(
            QueueUrl=self.queue_url(logical_id),
            MaxNumberOfMessages=max_messages,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        return list(resp.get("Messages", []))


def deploy_stack(
    template: Template,
    clock: SimClock,
    parameters: Mapping[str, Any] | None = None,
    *,
    stack_name: str = "mgn-pipeline-local",
    suffix: str = "-local",
) -> LocalStack:
    """Create the template's tables, queues and topics in moto and wire the functions to them.

    Physical names are ``<LogicalId><suffix>``. Resources moto does not need here (KMS keys,
    log groups, security groups, layers) only get a name in ``refs`` so Refs resolve.
    Call inside ``mock_aws`` (and after installing the MGN emulator, if the handlers use it).
    """
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    refs: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": None,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{uuid.uuid4()}",
        "AWS::NotificationARNs": [],
        **template.parameter_values(parameters),
    }
    dynamodb = boto3.client("dynamodb", region_name=region)
    sqs = boto3.client("sqs", region_name=region)
    sns = boto3.client("sns", region_name=region)
    for logical_id, res in template.resources().items():
        name = f"{logical_id}{suffix}"
        rtype, props = res.get("Type"), res.get("Properties") or {}
        refs[logical_id] = name
        refs[f"{logical_id}.Arn"] = f"arn:aws:{_service_of(rtype)}:{region}:{account}:{name}"
        if rtype == "AWS::DynamoDB::Table":
            table: dict[str, Any] = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            desc = dynamodb.create_table(**table)["TableDescription"]
            refs[f"{logical_id}.Arn"] = desc["TableArn"]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
        elif rtype == "AWS::SQS::Queue":
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            refs[logical_id] = url  # Ref of a queue is its URL
            refs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{region}:{account}:{name}"
            refs[f"{logical_id}.QueueName"] = name
            refs[f"{logical_id}.QueueUrl"] = url
        elif rtype == "AWS::SNS::Topic":
            arn = sns.create_topic(Name=name)["TopicArn"]
            refs[logical_id] = arn  # Ref of a topic is its ARN
            refs[f"{logical_id}.TopicArn"] = arn
            refs[f"{logical_id}.TopicName"] = name
        elif rtype == "AWS::Serverless::Function":
            refs[f"{logical_id}.Arn"] = f"arn:aws:lambda:{region}:{account}:function:{name}"
    # The rules SAM generates from function events (<Function><Event>), for their ARNs.
    for event in template.events():
        rule_name = f"{event.rule_logical_id}{suffix}"
        refs.setdefault(event.rule_logical_id, rule_name)
        refs[f"{event.rule_logical_id}.Arn"] = f"arn:aws:events:{region}:{account}:rule/{rule_name}"
    conditions = template.conditions(refs)
    functions = LocalFunctions(template, refs, clock, conditions=conditions)
    return LocalStack(template, clock, refs, conditions, functions)


def _service_of(resource_type: Any) -> str:
    parts = str(resource_type).split("::")
    return parts[1].lower() if len(parts) > 1 else "unknown"
