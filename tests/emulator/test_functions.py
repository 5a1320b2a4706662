"""LocalFunctions and deploy_stack: the REAL handlers run in-process against moto and the MGN emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from mgn_test_support import ready_servers
from moto import mock_aws
from stack_support import PLACEHOLDER_PARAMETERS, network_parameters

from localcloud import SimClock
from localcloud.functions import LocalFunctions, LocalStack, deploy_stack
from localcloud.mgn import MgnEmulator
from localcloud.template import Template
from mgn_pipeline.composition.settings import MgnEventSettings, ReconcilerSettings, load_settings
from mgn_pipeline.shared.errors import InvalidEventError
from tests.conftest import load_event

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics")]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load()


@pytest.fixture
def stack(aws_env: None, template: Template, clock: SimClock) -> Iterator[LocalStack]:
    """The template's tables and queues in moto, no MGN emulator."""
    with mock_aws():
        yield deploy_stack(template, clock, PLACEHOLDER_PARAMETERS)


@pytest.fixture
def mgn_stack(emu: MgnEmulator, network: SimpleNamespace, template: Template) -> LocalStack:
    """The stack deployed after the MGN emulator is installed, so handler clients reach it."""
    return deploy_stack(template, emu.clock, network_parameters(network))


def test_deploy_creates_tables_queues_and_topic(stack: LocalStack, template: Template) -> None:
    dynamodb = boto3.client("dynamodb")
    tables = template.resources_of_type("AWS::DynamoDB::Table")
    assert {"ServersTable", "IdempotencyTable"} <= set(tables)
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(f"{name}-local" for name in tables)
    ttl = dynamodb.describe_time_to_live(TableName="IdempotencyTable-local")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    key = dynamodb.describe_table(TableName="ServersTable-local")["Table"]["KeySchema"]
    assert key == [{"AttributeName": "serverId", "KeyType": "HASH"}]
    assert stack.refs["FunctionFailureDLQ"].endswith("/FunctionFailureDLQ-local")  # Ref of a queue: URL
    assert stack.refs["FunctionFailureDLQ.Arn"].endswith(":FunctionFailureDLQ-local")
    assert stack.refs["NotificationTopic"].startswith("arn:aws:sns:")
    assert stack.refs["MgnApiCallsRule.Arn"].endswith(":rule/MgnApiCallsRule-local")
    assert stack.refs["AWS::AccountId"] == "111122223333"  # moto honours MOTO_ACCOUNT_ID


def test_environment_is_resolved_against_the_stack(stack: LocalStack) -> None:
    env = stack.functions.environment("MgnEventFunction")
    assert env["SERVERS_TABLE_NAME"] == "ServersTable-local"
    assert env["IDEMPOTENCY_TABLE_NAME"] == "IdempotencyTable-local"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"  # !If [TraceWithSdk, ...] with the default parameter
    assert "IDEMPOTENCY_TABLE_NAME" not in stack.functions.environment("ReconcilerFunction")


@pytest.mark.parametrize(
    ("function", "settings"),
    [("ReconcilerFunction", ReconcilerSettings), ("MgnEventFunction", MgnEventSettings)],
)
def test_template_gives_each_function_the_settings_its_handler_requires(
    stack: LocalStack, function: str, settings: type[Any]
) -> None:
    """A setting the handler requires but the template does not set would fail every invocation."""
    load_settings(settings, stack.functions.environment(function))


def test_reconciler_reads_the_emulated_mgn(mgn_stack: LocalStack, emu: MgnEmulator) -> None:
    server_ids = ready_servers(emu, 2)
    result = mgn_stack.functions.invoke("ReconcilerFunction", load_event("scheduled-reconcile.json"))
    assert result["serversSeen"] == 2
    assert result["failures"] == {}
    assert any(call[0] == "DescribeSourceServers" for call in emu.calls)
    items = boto3.client("dynamodb").scan(TableName="ServersTable-local")["Items"]
    servers = {item["serverId"]["S"] for item in items} - {"account#replication-templates"}
    assert servers <= set(server_ids)
    assert mgn_stack.functions.counts["ReconcilerFunction"] == 1


def test_environment_is_set_only_during_the_invocation(stack: LocalStack) -> None:
    seen: dict[str, str | None] = {}
    stack.functions.register(
        "EnvProbe", lambda event, ctx: seen.update(v=os.environ.get("PROBE")), environment={"PROBE": "inside"}
    )
    stack.functions.invoke("EnvProbe", {})
    assert seen["v"] == "inside"
    assert "PROBE" not in os.environ
    assert os.environ["SERVERS_TABLE_NAME"] == "servers"  # the test's own value is back


def test_context_looks_like_lambdas(stack: LocalStack) -> None:
    contexts: list[Any] = []
    arn = stack.functions.register("CtxProbe", lambda event, ctx: contexts.append(ctx), timeout_s=30)
    stack.functions.invoke(arn, {})  # by ARN, as Step Functions calls it
    [ctx] = contexts
    assert ctx.function_name == "CtxProbe"
    assert ctx.invoked_function_arn == arn
    assert 0 < ctx.get_remaining_time_in_millis() <= 30_000
    assert len(ctx.aws_request_id) == 36


def test_malformed_event_raises_invalid_event_error(stack: LocalStack) -> None:
    with pytest.raises(InvalidEventError, match="not an MGN source-server ARN"):
        stack.functions.invoke("MgnEventFunction", load_event("malformed-resource-not-a-server.json"))
    assert stack.functions.log[-1].outcome == "error:InvalidEventError"


def test_async_failure_is_retried_then_recorded_in_the_failure_dlq(
    stack: LocalStack, clock: SimClock
) -> None:
    event = load_event("malformed-resource-not-a-server.json")
    request_id = stack.functions.invoke_async("MgnEventFunction", event, trigger="test")
    clock.run_until_idle(3600)

    attempts = [r for r in stack.functions.log if r.request_id == request_id]
    assert [r.attempt for r in attempts] == [1, 2, 3]  # MaximumRetryAttempts: 2
    offsets = [(r.time - attempts[0].time).total_seconds() for r in attempts]
    assert offsets == [0, 60, 180]  # about one minute, then about two
    assert stack.functions.counts["MgnEventFunction"] == 3

    [message] = stack.queue_messages("FunctionFailureDLQ")
    record = json.loads(message["Body"])
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].startswith(stack.refs["MgnEventFunction.Arn"])
    assert record["requestPayload"] == event
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "InvalidEventError"
    assert "not an MGN source-server ARN" in record["responsePayload"]["errorMessage"]


def test_async_success_sends_nothing(stack: LocalStack, clock: SimClock) -> None:
    calls: list[int] = []
    stack.functions.register("Ok", lambda event, ctx: calls.append(1), on_failure_queue="FunctionFailureDLQ")
    stack.functions.invoke_async("Ok", {"x": 1})
    assert calls == []  # queued, not run
    clock.run_until_idle(600)
    assert calls == [1]
    assert stack.queue_messages("FunctionFailureDLQ") == []


def test_each_instance_loads_its_own_handler_module(
    stack: LocalStack, template: Template, clock: SimClock
) -> None:
    other = LocalFunctions(template, stack.refs, clock)
    mine, theirs = stack.functions.handler("ReconcilerFunction"), other.handler("ReconcilerFunction")
    assert mine is not theirs
    assert mine.__module__ != theirs.__module__
    assert stack.functions.handler("ReconcilerFunction") is mine  # loaded once per instance
