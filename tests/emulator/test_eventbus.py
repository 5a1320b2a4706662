"""LocalEventBus: the template's real rules and patterns, faults, retries to the DLQ, schedules."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from mgn_test_support import ready_servers
from moto import mock_aws
from stack_support import PLACEHOLDER_PARAMETERS, network_parameters

from localcloud import SimClock
from localcloud.eventbus import LocalEventBus, next_fire
from localcloud.functions import LocalStack, deploy_stack
from localcloud.mgn import MgnEmulator
from localcloud.template import Template
from tests.conftest import EVENTS, load_event

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics")]

SERVICE, API, SCHEDULE = (
    "MgnServiceEventsRule",
    "MgnApiCallsRule",
    "ReconcilerFunctionSchedule",
)


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load()


@pytest.fixture
def stack(aws_env: None, template: Template, clock: SimClock) -> Iterator[LocalStack]:
    with mock_aws():
        yield deploy_stack(template, clock, PLACEHOLDER_PARAMETERS)


@pytest.fixture
def received(stack: LocalStack) -> dict[str, list[dict[str, Any]]]:
    """Replace both functions by recorders: these tests are about delivery, not the handlers."""
    got: dict[str, list[dict[str, Any]]] = {"MgnEventFunction": [], "ReconcilerFunction": []}

    def recorder(events: list[dict[str, Any]]) -> Any:
        def record(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            if "Records" in event:  # a batch from the MGN event queue: one event per message
                events.extend(json.loads(r["body"]) for r in event["Records"])
            else:
                events.append(event)
            return {"batchItemFailures": []}

        return record

    for name, events in got.items():
        stack.functions.register(name, recorder(events))
    return got


@pytest.fixture
def bus(stack: LocalStack, template: Template, clock: SimClock) -> LocalEventBus:
    return LocalEventBus(template, stack.functions, clock)


def test_rules_come_from_the_template(bus: LocalEventBus, stack: LocalStack, template: Template) -> None:
    assert set(bus.rules) == {ev.rule_logical_id for ev in template.events()}
    assert {SERVICE, API, SCHEDULE} <= set(bus.rules)
    assert bus.rules[SCHEDULE].schedule == "rate(5 minutes)"
    assert (bus.rules[SCHEDULE].max_retries, bus.rules[SCHEDULE].max_event_age_s) == (2, 300)
    assert (bus.rules[SERVICE].max_retries, bus.rules[SERVICE].max_event_age_s) == (185, 86400)
    assert {rule.dlq_url for rule in bus.rules.values()} == {stack.refs["EventDeliveryDLQ"]}
    # The MGN rules put events on the queue the function reads in batches.
    assert bus.rules[API].target_arn == stack.refs["MgnEventQueue.Arn"]
    assert bus.rules[API].queue == bus.rules[SERVICE].queue == "MgnEventQueue"


EXPECTED_MATCHES = {
    "mgn-launch-result-test-succeeded.json": {SERVICE},
    "mgn-launch-result-test-failed.json": {SERVICE},
    "mgn-launch-result-cutover-succeeded.json": {SERVICE},
    "mgn-launch-result-cutover-failed.json": {SERVICE},
    "mgn-lifecycle-ready-for-test.json": {SERVICE},
    "mgn-replication-stalled.json": {SERVICE},
    "mgn-replication-not-stalled.json": {SERVICE},
    "mgn-undocumented-detail-type.json": {SERVICE},  # taken in, logged, never acted on
    "malformed-resource-not-a-server.json": {SERVICE},  # the handler refuses it, not the rule
    "cloudtrail-start-test.json": {API},
    "cloudtrail-start-test-by-pipeline.json": {API},  # the rule takes it; the handler skips the echo
    "cloudtrail-update-replication-configuration.json": {API},
    "cloudtrail-update-replication-configuration-template.json": {API},
    "scheduled-reconcile.json": set(),  # the schedule rule has no pattern; MGN rules must not take it
}


def test_every_mgn_sample_event_has_its_expected_rules() -> None:
    mgn_samples = {p.name for p in EVENTS.glob("*.json") if load_event(p.name).get("source") == "aws.mgn"}
    assert mgn_samples <= set(EXPECTED_MATCHES)


# Every sample event; one not listed (direct invocations: health checks, launches) must match no rule.
@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_real_patterns_match_the_sample_events(bus: LocalEventBus, name: str) -> None:
    expected = EXPECTED_MATCHES.get(name, set())
    assert {rule.name for rule in bus.matching_rules(load_event(name))} == expected


def test_failed_or_foreign_api_calls_match_nothing(bus: LocalEventBus) -> None:
    failed = load_event("cloudtrail-start-test.json")
    failed["detail"]["errorCode"] = "ConflictException"
    failed["detail"]["errorMessage"] = "server is not ready for test"
    assert bus.matching_rules(failed) == []
    read_only = load_event("cloudtrail-start-test.json")
    read_only["detail"]["eventName"] = "DescribeSourceServers"
    assert bus.matching_rules(read_only) == []
    other_service = load_event("mgn-launch-result-test-succeeded.json")
    other_service["source"] = "aws.ec2"
    assert bus.matching_rules(other_service) == []


def test_put_events_delivers_after_the_delay(
    bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock
) -> None:
    event = load_event("mgn-launch-result-test-succeeded.json")
    assert bus.put_events(event) == [SERVICE]
    clock.advance(1)
    assert bus.stats[SERVICE]["delivered"] == 1  # on the queue, waiting for its batch
    assert received["MgnEventFunction"] == []
    clock.advance(10)  # MaximumBatchingWindowInSeconds
    assert received["MgnEventFunction"] == [event]
    assert bus.functions.log[-1].trigger == "sqs:MgnEventQueue"


def test_duplicate_and_drop(bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock) -> None:
    lifecycle, launch = (
        load_event("mgn-lifecycle-ready-for-test.json"),
        load_event("mgn-launch-result-test-succeeded.json"),
    )
    bus.duplicate_next(1)
    bus.put_events(lifecycle)
    bus.drop_next(1, detail_type="MGN Source Server Launch Result")
    bus.put_events(lifecycle)  # not the dropped kind: delivered
    bus.put_events(launch)  # dropped
    bus.put_events(launch)  # the drop was used up: delivered
    clock.run_until_idle(600)
    ids = [event["id"] for event in received["MgnEventFunction"]]
    # The duplicate comes a second after the original, so after the events put meanwhile.
    assert ids == [lifecycle["id"], lifecycle["id"], launch["id"], lifecycle["id"]]
    assert bus.stats[SERVICE]["duplicated"] == 1
    assert bus.stats[SERVICE]["dropped"] == 1
    assert bus.faults["dropped"] == bus.faults["duplicated"] == 1


def test_delay_next(bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock) -> None:
    bus.delay_next(300)
    bus.put_events(load_event("mgn-lifecycle-ready-for-test.json"))
    clock.advance(300)
    assert received["MgnEventFunction"] == []
    clock.advance(11)  # delivered, then the batching window
    assert len(received["MgnEventFunction"]) == 1


def _reordered_ids(bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock) -> list[str]:
    base = load_event("mgn-lifecycle-ready-for-test.json")
    sent = []
    for i in range(10):
        event = copy.deepcopy(base)
        event["id"] = f"event-{i}"
        sent.append(event["id"])
        bus.put_events(event)
    clock.run_until_idle(600)
    got = [event["id"] for event in received["MgnEventFunction"]]
    assert sorted(got) == sorted(sent)  # nothing lost
    return got


def test_reorder_is_deterministic(
    stack: LocalStack, template: Template, received: dict[str, list[Any]], clock: SimClock
) -> None:
    orders = []
    for _ in range(2):
        received["MgnEventFunction"].clear()
        bus = LocalEventBus(template, stack.functions, clock, seed=7)
        bus.reorder(60)
        orders.append(_reordered_ids(bus, received, clock))
        assert bus.faults["reordered"] == 10
    assert orders[0] == orders[1]
    assert orders[0] != [f"event-{i}" for i in range(10)]


def test_delivery_recovers_within_the_retry_policy(
    bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock, stack: LocalStack
) -> None:
    bus.fail_delivery_next(2)
    bus.put_events(load_event("cloudtrail-start-test.json"))
    clock.run_until_idle(600)
    assert len(received["MgnEventFunction"]) == 1
    assert bus.stats[API]["failed_attempts"] == 2
    assert stack.queue_messages("EventDeliveryDLQ") == []


def test_undeliverable_event_goes_to_the_rule_dlq_after_its_retries(
    bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock, stack: LocalStack
) -> None:
    event = load_event("mgn-launch-result-test-succeeded.json")
    bus.fail_delivery_next(10_000)
    bus.put_events(event)
    clock.run_until_idle(2 * 86400)
    assert received["MgnEventFunction"] == []
    assert bus.stats[SERVICE]["failed_attempts"] == 186  # the first try and 185 retries
    assert bus.stats[SERVICE]["dead_lettered"] == 1
    [message] = stack.queue_messages("EventDeliveryDLQ")
    assert json.loads(message["Body"]) == event
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == stack.refs[f"{SERVICE}.Arn"]
    assert attributes["TARGET_ARN"] == stack.refs["MgnEventQueue.Arn"]
    assert attributes["ERROR_CODE"] and attributes["ERROR_MESSAGE"]
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"


def test_schedule_fires_every_five_minutes_and_dead_letters_by_event_age(
    bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock, stack: LocalStack
) -> None:
    bus.start_schedules()
    bus.start_schedules()  # idempotent: still one timer per rule
    clock.advance(6 * 300 + 1)
    fired = received["ReconcilerFunction"]
    assert len(fired) == 6
    assert fired[0]["detail-type"] == "Scheduled Event"
    assert fired[0]["resources"] == [stack.refs[f"{SCHEDULE}.Arn"]]
    assert [e["time"][11:16] for e in fired] == ["08:05", "08:10", "08:15", "08:20", "08:25", "08:30"]

    bus.fail_delivery_next(3, rule=SCHEDULE)  # the next firing: first try and both retries fail
    clock.advance(300 + 10)
    assert len(received["ReconcilerFunction"]) == 6
    assert bus.stats[SCHEDULE]["dead_lettered"] == 1
    bus.stop_schedules()
    clock.advance(3600)
    assert bus.stats[SCHEDULE]["scheduled"] == 7


def test_schedule_expressions() -> None:
    at = datetime(2026, 1, 3, 8, 7, tzinfo=UTC)  # a Saturday
    assert next_fire("rate(1 hour)", at) == datetime(2026, 1, 3, 9, 7, tzinfo=UTC)
    assert next_fire("rate(2 days)", at) == datetime(2026, 1, 5, 8, 7, tzinfo=UTC)
    assert next_fire("cron(0/15 * * * ? *)", at) == datetime(2026, 1, 3, 8, 15, tzinfo=UTC)
    assert next_fire("cron(0 12 * * ? *)", at) == datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert next_fire("cron(30 9 ? * MON-FRI *)", at) == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert next_fire("cron(0 0 1 JAN ? 2027)", at) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(NotImplementedError):
        next_fire("cron(0 0 L * ? *)", at)
    with pytest.raises(ValueError, match="not a schedule"):
        next_fire("every 5 minutes", at)


def test_mgn_emulator_events_reach_the_real_handler(
    emu: MgnEmulator, network: SimpleNamespace, template: Template
) -> None:
    """The wiring a later engineer reuses: emulator -> bus -> real MgnEventFunction, once per event."""
    stack = deploy_stack(template, emu.clock, network_parameters(network))
    bus = LocalEventBus(template, stack.functions, emu.clock)
    emu.subscribe(bus.put_events)
    ready_servers(emu, 1)
    emu.clock.run_until_idle(600)
    runs = [r for r in stack.functions.log if r.function == "MgnEventFunction"]
    assert {r.outcome for r in runs} == {"ok"}
    assert {r.trigger for r in runs} == {"sqs:MgnEventQueue"}  # batches from the event queue
    queue = bus.queues.queues["MgnEventQueue"]
    assert queue.stats["sent"] == bus.stats[SERVICE]["delivered"] + bus.stats[API]["delivered"]
    assert queue.stats["deleted"] == queue.stats["sent"]  # every message handled, none returned
    assert bus.stats[SERVICE]["delivered"] >= 1  # the lifecycle change to READY_FOR_TEST
    assert stack.queue_messages("FunctionFailureDLQ") == []
    assert stack.queue_messages("EventDeliveryDLQ") == []


def test_stack_deployed_rule_matches_only_this_stack(bus: LocalEventBus, stack: LocalStack) -> None:
    def status_change(stack_id: str, status: str) -> dict[str, Any]:
        return {
            "source": "aws.cloudformation",
            "detail-type": "CloudFormation Stack Status Change",
            "resources": [stack_id],
            "detail": {"stack-id": stack_id, "status-details": {"status": status}},
        }

    ours = stack.refs["AWS::StackId"]
    assert [r.name for r in bus.matching_rules(status_change(ours, "UPDATE_COMPLETE"))] == [
        "ReconcilerFunctionStackDeployed"
    ]
    assert bus.matching_rules(status_change(ours, "UPDATE_ROLLBACK_COMPLETE")) == []
    assert (
        bus.matching_rules(status_change(ours.replace("mgn-pipeline-local", "other"), "CREATE_COMPLETE"))
        == []
    )


def test_the_event_queue_batches_returns_what_failed_and_dead_letters_it_after_five_receives(
    bus: LocalEventBus, stack: LocalStack, clock: SimClock
) -> None:
    batches: list[list[str]] = []

    def fails_the_launch_result(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        bodies = {r["messageId"]: json.loads(r["body"]) for r in event["Records"]}
        batches.append(sorted(b["detail-type"] for b in bodies.values()))
        failed = [mid for mid, body in bodies.items() if body["detail-type"].endswith("Launch Result")]
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}

    stack.functions.register("MgnEventFunction", fails_the_launch_result)
    launch = load_event("mgn-launch-result-test-succeeded.json")
    bus.put_events(load_event("mgn-lifecycle-ready-for-test.json"))
    bus.put_events(launch)
    clock.advance(11)
    # Both events in one batch, after the batching window.
    assert batches == [["MGN Source Server Launch Result", "MGN Source Server Lifecycle State Change"]]
    clock.run_until_idle(6 * 1800)
    # Only the failed one came back, once per visibility timeout, until its fifth receive.
    assert batches[1:] == [["MGN Source Server Launch Result"]] * 4
    queue = bus.queues.queues["MgnEventQueue"]
    assert (queue.stats["deleted"], queue.stats["dead_lettered"]) == (1, 1)
    [message] = stack.queue_messages("EventDeliveryDLQ")
    assert json.loads(message["Body"]) == launch


def test_a_full_batch_goes_at_once(
    bus: LocalEventBus, received: dict[str, list[Any]], clock: SimClock
) -> None:
    base = load_event("mgn-lifecycle-ready-for-test.json")
    for i in range(50):  # BatchSize
        bus.put_events({**base, "id": f"event-{i}"})
    clock.advance(1)
    assert len(received["MgnEventFunction"]) == 50
    assert bus.queues.queues["MgnEventQueue"].stats["batches"] == 1
