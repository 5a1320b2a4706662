"""The template reader: short tags, functions with Globals, events, and the intrinsic resolver."""

from __future__ import annotations

import pytest

from localcloud.template import Template, UnresolvedError, load_yaml, resolve


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load()


def test_short_tags_become_long_form() -> None:
    data = load_yaml(
        """
        a: !Ref X
        b: !GetAtt Res.Arn
        c: !Sub "arn:${AWS::Partition}:x"
        d: !If [Cond, "yes", "no"]
        e: !Select [1, !Split [":", !Join ["", [a, ":", b]]]]
        f: !Not [!Equals [!Ref P, ""]]
        g: !GetAtt [Res, Attr.With.Dots]
        """
    )
    assert data["a"] == {"Ref": "X"}
    assert data["b"] == {"Fn::GetAtt": ["Res", "Arn"]}
    assert data["c"] == {"Fn::Sub": "arn:${AWS::Partition}:x"}
    assert data["d"] == {"Fn::If": ["Cond", "yes", "no"]}
    assert data["e"] == {"Fn::Select": [1, {"Fn::Split": [":", {"Fn::Join": ["", ["a", ":", "b"]]}]}]}
    assert data["f"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}
    assert data["g"] == {"Fn::GetAtt": ["Res", "Attr.With.Dots"]}


def test_resolver_handles_the_intrinsics_the_stack_uses() -> None:
    refs = {"AWS::Region": "us-east-1", "Queue": "https://q", "Queue.Arn": "arn:q", "Name": "n"}
    conditions = {"On": True, "Off": False}
    assert resolve({"Ref": "Queue"}, refs) == "https://q"
    assert resolve({"Fn::GetAtt": ["Queue", "Arn"]}, refs) == "arn:q"
    assert (
        resolve({"Fn::Sub": "x-${AWS::Region}-${Queue.Arn}-${!Literal}"}, refs)
        == "x-us-east-1-arn:q-${Literal}"
    )
    assert resolve({"Fn::Sub": ["${A}/${Name}", {"A": {"Ref": "Queue"}}]}, refs) == "https://q/n"
    assert resolve({"Fn::If": ["On", {"Ref": "Name"}, "no"]}, refs, conditions) == "n"
    assert resolve({"Fn::If": ["Off", {"Ref": "Name"}, "no"]}, refs, conditions) == "no"
    split = {"Fn::Split": [":", {"Fn::Join": [":", ["a", {"Ref": "Name"}]]}]}
    assert resolve({"Fn::Select": [1, split]}, refs) == "n"
    assert resolve({"k": [{"Ref": "Name"}]}, refs) == {"k": ["n"]}
    with pytest.raises(UnresolvedError):
        resolve({"Ref": "Missing"}, refs)
    with pytest.raises(UnresolvedError):
        resolve({"Fn::If": ["Unknown", 1, 2]}, refs, conditions)


def test_conditions_evaluate_from_parameter_defaults(template: Template) -> None:
    refs = template.parameter_values()
    assert template.conditions(refs) == {
        "CreateEndpoints": True,
        "HasNotificationEmail": False,
        "TraceWithSdk": False,
    }
    refs = template.parameter_values({"NotificationEmail": "ops@example.com", "XRaySdkTracing": "true"})
    conditions = template.conditions(refs)
    assert conditions["HasNotificationEmail"] and conditions["TraceWithSdk"]


def test_parameter_values_use_defaults_and_split_lists() -> None:
    template = Template(
        {
            "Parameters": {
                "Cidrs": {"Type": "CommaDelimitedList"},
                "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"},
                "Days": {"Type": "Number", "Default": 365},
                "Schedule": {"Type": "String", "Default": "rate(5 minutes)"},
                "VpcId": {"Type": "AWS::EC2::VPC::Id"},
            }
        }
    )
    values = template.parameter_values({"Cidrs": "10.1.0.0/16, 10.2.0.0/16", "Subnets": "subnet-1,subnet-2"})
    assert values["Cidrs"] == ["10.1.0.0/16", "10.2.0.0/16"]
    assert values["Subnets"] == ["subnet-1", "subnet-2"]
    assert values["Days"] == "365"  # CloudFormation passes Number parameters as strings
    assert values["Schedule"] == "rate(5 minutes)"
    assert "VpcId" not in values  # no default, not given: a Ref to it raises


def test_functions_merge_globals(template: Template) -> None:
    functions = template.functions()
    assert {"ReconcilerFunction", "MgnEventFunction"} <= set(functions)
    reconciler, mgn_events = functions["ReconcilerFunction"], functions["MgnEventFunction"]
    assert reconciler.code_uri == "functions/reconciler/"
    assert reconciler.handler == "app.lambda_handler"
    assert reconciler.timeout == mgn_events.timeout == 300  # their own, over Globals' 60
    assert template.globals_function()["Timeout"] == 60
    assert reconciler.environment["SERVERS_TABLE_NAME"] == {"Ref": "ServersTable"}
    assert "IDEMPOTENCY_TABLE_NAME" not in reconciler.environment
    assert mgn_events.environment["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
    assert mgn_events.environment["POWERTOOLS_SERVICE_NAME"] == "mgn-pipeline"


def test_every_function_has_retries_and_an_on_failure_destination(template: Template) -> None:
    for spec in template.functions().values():
        assert spec.maximum_retry_attempts == 2, spec.logical_id
        assert spec.on_failure_type == "SQS", spec.logical_id
        assert spec.on_failure_logical_id == "FunctionFailureDLQ", spec.logical_id
        assert (template.root / spec.code_uri / "app.py").is_file()


def test_both_mgn_rules_and_the_schedule_are_found(template: Template) -> None:
    events = {ev.rule_logical_id: ev for ev in template.events()}
    assert {
        "ReconcilerFunctionSchedule",
        "MgnServiceEventsRule",
        "MgnApiCallsRule",
    } <= set(events)
    assert "ReconcilerFunctionSchedule" in [
        ev.rule_logical_id for ev in events.values() if ev.type == "Schedule"
    ]
    service = events["MgnServiceEventsRule"]
    assert service.type == "EventBridgeRule"
    assert service.pattern == {"source": ["aws.mgn"], "detail-type": [{"prefix": "MGN "}]}
    api = events["MgnApiCallsRule"]
    assert api.pattern is not None
    assert api.pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert "StartCutover" in api.pattern["detail"]["eventName"]
    assert api.pattern["detail"]["errorCode"] == [{"exists": False}]
    schedule = events["ReconcilerFunctionSchedule"]
    assert schedule.type == "Schedule"
    assert resolve(schedule.schedule, template.parameter_values()) == "rate(5 minutes)"


def test_the_mgn_rules_target_the_queue_the_event_function_reads_in_batches(template: Template) -> None:
    [source] = template.queue_sources()
    assert (source.function, source.queue) == ("MgnEventFunction", "MgnEventQueue")
    assert source.batch_size == 50 and source.batching_window_s == 10
    assert source.report_batch_item_failures  # one bad event does not send its batch back
    queued = {ev.rule_logical_id for ev in template.events() if ev.queue}
    assert queued == {"MgnServiceEventsRule", "MgnApiCallsRule"}
    queue = template.resources()["MgnEventQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventDeliveryDLQ", "Arn"]}
    sources = template.resources()["MgnEventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert sorted(a["Fn::GetAtt"][0] for a in sources["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        queued
    )


def test_every_event_has_a_retry_policy_and_a_dead_letter_queue(template: Template) -> None:
    for ev in template.events():
        assert ev.retry_policy is not None, ev.rule_logical_id
        assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(ev.retry_policy)
        assert ev.dead_letter_logical_id == "EventDeliveryDLQ", ev.rule_logical_id


def test_the_dlq_policy_names_exactly_the_generated_rules(template: Template) -> None:
    policy = template.resources()["EventDeliveryDLQPolicy"]["Properties"]["PolicyDocument"]
    sources = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(s["Fn::GetAtt"][0] for s in sources) == sorted(
        ev.rule_logical_id for ev in template.events()
    )


def test_resources_of_type(template: Template) -> None:
    queues = template.resources_of_type("AWS::SQS::Queue")
    assert {"EventDeliveryDLQ", "FunctionFailureDLQ"} <= set(queues)
    assert {"ServersTable", "IdempotencyTable"} <= set(template.resources_of_type("AWS::DynamoDB::Table"))


def test_foreach_blocks_are_left_out() -> None:
    template = Template(
        load_yaml(
            """
            Resources:
              Queue: {Type: AWS::SQS::Queue}
              Fn::ForEach::Endpoints:
                - Service
                - [mgn, ec2]
                - ${Service}Endpoint: {Type: AWS::EC2::VPCEndpoint}
            """
        )
    )
    assert set(template.resources()) == {"Queue"}


def test_throttled_gate_tasks_retry_with_full_jitter_not_in_step() -> None:
    """A cutover of a whole wave throttles many tasks at the same second: retries that wait the
    same interval would collide again (the 1,000-server bench ran out of attempts until they were
    jittered)."""
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "statemachines" / "cutover-gate.asl.json").read_text()
    definition = json.loads(re.sub(r"\$\{\w+\}", "1", text))
    throttled = [
        (name, retrier)
        for name, state in definition["States"].items()
        for retrier in state.get("Retry", [])
        if "MgnThrottledError" in retrier["ErrorEquals"]
    ]
    assert len(throttled) >= 10
    for name, retrier in throttled:
        assert retrier["JitterStrategy"] == "FULL", name
        assert retrier["MaxAttempts"] >= 10 and retrier["MaxDelaySeconds"] <= 300, name


def _gate_definition() -> dict[str, object]:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "statemachines" / "cutover-gate.asl.json").read_text()
    return json.loads(re.sub(r"\$\{\w+\}", "1", text))  # type: ignore[no-any-return]


# The pipeline's share of MGN's request rate: the local model gives the account 10 a second
# (localcloud.mgn.rate); the rest is for people in the console and the operator's tools.
PIPELINE_MGN_CALLS_PER_SECOND = 8


def test_the_functions_shares_of_mgn_s_request_rate_add_up_to_the_pipeline_s(template: Template) -> None:
    """Each function's containers pace their MGN calls (MGN_CALLS_PER_SECOND); reserved concurrency
    bounds the containers, so the shares cannot add up past the account's rate in any burst."""
    from localcloud.mgn.rate import DEFAULT_REQUESTS_PER_SECOND

    shares = {}
    for logical_id, spec in template.functions().items():
        rate = float(spec.environment["MGN_CALLS_PER_SECOND"])
        assert spec.reserved_concurrency, f"{logical_id}: without reserved concurrency its share is unbounded"
        for source in spec.events:
            if source.type == "SQS":
                scaling = source.properties.get("ScalingConfig") or {}
                # More pollers than containers would only have SQS batches throttled and retried.
                assert scaling.get("MaximumConcurrency") == spec.reserved_concurrency, logical_id
        shares[logical_id] = rate * spec.reserved_concurrency
    assert sum(shares.values()) <= PIPELINE_MGN_CALLS_PER_SECOND < DEFAULT_REQUESTS_PER_SECOND, shares


def test_gate_tasks_over_the_reserved_concurrency_retry_for_long_enough_with_jitter() -> None:
    """A wave's approvals or a cutover job's finalizes start hundreds of tasks at once; three
    containers at one MGN call a second take them a few a second. Each Lambda task retries
    Lambda.TooManyRequestsException, jittered, for at least ten minutes on average."""
    states = _gate_definition()["States"]
    assert isinstance(states, dict)
    lambda_tasks = {
        name: state
        for name, state in states.items()
        if str(state.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke")
    }
    assert len(lambda_tasks) >= 10
    for name, state in lambda_tasks.items():
        [retrier] = [r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
        assert retrier["ErrorEquals"] == ["Lambda.TooManyRequestsException"], name  # not with others
        assert retrier["JitterStrategy"] == "FULL", name
        waits = [
            min(retrier["MaxDelaySeconds"], retrier["IntervalSeconds"] * retrier["BackoffRate"] ** k)
            for k in range(retrier["MaxAttempts"])
        ]
        assert sum(waits) / 2 >= 600, name  # full jitter waits half the interval on average
