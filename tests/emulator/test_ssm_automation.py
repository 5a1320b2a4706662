"""SSM Automation emulator: the real approve-cutover runbook, approval by a person, events, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.handlers
import botocore.loaders
import botocore.session
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import SimClock
from localcloud.ssm import EXECUTION_STATUS_CHANGE, STEP_STATUS_CHANGE, SsmAutomationEmulator
from localcloud.ssm.emulator import HOOK_EVENT
from localcloud.ssm.executions import principal_matches
from localcloud.template import Template

pytestmark = pytest.mark.integration

RUNBOOK = Template.load().runbook("ApproveCutoverDocument")
DOCUMENT_NAME = "MgnPipeline-ApproveCutover"
ACCOUNT = "111122223333"
REGION = "us-east-1"
APPROVER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover"
# What the console sends as the caller when a person of that role clicks Approve.
APPROVER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/alice@example.com"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Developer"
SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture
def env(aws_env: None, clock: SimClock) -> Iterator[SimpleNamespace]:
    """moto with the real runbook registered, an approval SNS topic and the installed emulator."""
    with mock_aws():
        # The emulator's own clients (reading documents, publishing to SNS) need no hook.
        sns = _session().client("sns")
        emu = SsmAutomationEmulator(
            clock, account_id=ACCOUNT, region=REGION, ssm_client=_session().client("ssm"), sns_client=sns
        )
        with emu.installed():
            ssm = _ssm()
            topic = sns.create_topic(Name="AutomationCutoverApproval")["TopicArn"]
            ssm.create_document(
                Name=DOCUMENT_NAME,
                DocumentType="Automation",
                DocumentFormat="YAML",
                Content=RUNBOOK,
            )
            yield SimpleNamespace(emu=emu, clock=clock, ssm=ssm, sns=sns, topic=topic)


# Every new botocore session parses the ~1 MB ssm model again (0.1-0.4 s a client here);
# sessions that share one loader share the parsed models.
_LOADER = botocore.loaders.create_loader()


def _session() -> boto3.session.Session:
    """A new session (so it picks up the installed hook) with the module's shared model loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


def _ssm(**config: Any) -> Any:
    # No retries: botocore's backoff would really sleep.
    return _session().client("ssm", config=Config(retries={"total_max_attempts": 1}, **config))


def _parameters(topic: str, **overrides: list[str]) -> dict[str, list[str]]:
    return {
        "ServerId": ["s-1234567890abcdef0"],
        "Hostname": ["web01.corp.example"],
        "WaveId": ["3"],
        "TestJobId": ["mgnjob-1234567890abcdef0"],
        "TestResult": ["PASSED: 12/12 checks"],
        "Approvers": [APPROVER_ROLE],
        "NotificationArn": [topic],
        "PipelineExecutionArn": [f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mgn-pipeline:wave-3"],
        "TaskTokenRef": ["approval#s-1234567890abcdef0#mgnjob-1234567890abcdef0"],
        **overrides,
    }


def _start_waiting(env: SimpleNamespace) -> str:
    run_id = env.ssm.start_automation_execution(
        DocumentName=DOCUMENT_NAME, Parameters=_parameters(env.topic)
    )["AutomationExecutionId"]
    env.clock.advance(1)  # the execution starts asynchronously, as in SSM
    return str(run_id)


def _execution(env: SimpleNamespace, run_id: str) -> dict[str, Any]:
    return dict(env.ssm.get_automation_execution(AutomationExecutionId=run_id)["AutomationExecution"])


def _statuses(env: SimpleNamespace, start: int = 0) -> list[tuple[str, str]]:
    short = {STEP_STATUS_CHANGE: "step", EXECUTION_STATUS_CHANGE: "execution"}
    return [(short[e["detail-type"]], e["detail"]["Status"]) for e in env.emu.events[start:]]


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


# ---- the runbook ---------------------------------------------------------------------------------


def test_runbook_is_one_approve_step_with_a_7_day_timeout_and_no_token_parameter() -> None:
    doc = yaml.safe_load(RUNBOOK)
    assert doc["schemaVersion"] == "0.3"
    [step] = doc["mainSteps"]
    assert step["action"] == "aws:approve"
    assert step["timeoutSeconds"] == SEVEN_DAYS
    assert step["inputs"]["Approvers"] == "{{ Approvers }}"
    assert step["inputs"]["MinRequiredApprovals"] == 1
    assert step["inputs"]["NotificationArn"] == "{{ NotificationArn }}"
    assert all(
        ref in step["inputs"]["Message"] for ref in ("{{ Hostname }}", "{{ ServerId }}", "{{ TestResult }}")
    )
    params = doc["parameters"]
    assert params["Approvers"]["type"] == "StringList"
    assert {"ServerId", "Hostname", "WaveId", "TestJobId", "NotificationArn", "TaskTokenRef"} <= set(params)
    assert not any(name.lower() in ("tasktoken", "token") for name in params)


def test_registered_runbook_is_read_back_from_moto(env: SimpleNamespace) -> None:
    described = env.ssm.describe_document(Name=DOCUMENT_NAME)["Document"]
    assert described["DocumentType"] == "Automation"
    assert {p["Name"] for p in described["Parameters"]} >= {"ServerId", "Approvers", "TaskTokenRef"}


# ---- waiting, approving, rejecting, timing out -------------------------------------------------------


def test_start_is_pending_then_waits_for_approval_notifies_sns_and_emits_events(env: SimpleNamespace) -> None:
    # An approver's inbox: an SQS queue subscribed to the approval topic.
    sqs = _session().client("sqs")
    queue = sqs.create_queue(QueueName="approval-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    env.sns.subscribe(TopicArn=env.topic, Protocol="sqs", Endpoint=queue_arn)
    run_id = env.ssm.start_automation_execution(
        DocumentName=DOCUMENT_NAME, Parameters=_parameters(env.topic)
    )["AutomationExecutionId"]
    assert _execution(env, run_id)["AutomationExecutionStatus"] == "Pending"
    assert env.emu.events == []  # nothing happens before simulated time moves

    env.clock.advance(1)

    assert _statuses(env) == [
        ("execution", "InProgress"),
        ("step", "InProgress"),
        ("step", "Waiting"),
        ("execution", "Waiting"),
    ]
    waiting = env.emu.events[2]
    assert waiting["source"] == "aws.ssm"
    assert waiting["resources"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:automation-execution/{run_id}",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:automation-definition/{DOCUMENT_NAME}:1",
    ]
    assert waiting["detail"] == {
        "ExecutionId": run_id,
        "Definition": DOCUMENT_NAME,
        "DefinitionVersion": 1.0,
        "Status": "Waiting",
        "StartTime": "Jan 5, 2026 8:00:01 AM",
        "StepName": "approveCutover",
        "Action": "aws:approve",
    }
    execution = _execution(env, run_id)
    assert execution["AutomationExecutionStatus"] == "Waiting"
    assert execution["CurrentAction"] == "aws:approve"
    [step] = execution["StepExecutions"]
    assert step["StepStatus"] == "Waiting"
    assert step["TimeoutSeconds"] == SEVEN_DAYS
    assert json.loads(step["Inputs"]["Approvers"]) == [APPROVER_ROLE]
    assert step["Outputs"] == {"ApprovalStatus": ["Waiting"]}

    # The approval request reached the topic (read here through an SQS subscription).
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    text = json.loads(message["Body"])["Message"]
    assert "web01.corp.example (s-1234567890abcdef0)" in text
    assert "PASSED: 12/12 checks" in text
    assert run_id in text


def test_an_approver_approves_and_the_decision_is_in_the_outputs(env: SimpleNamespace) -> None:
    run_id = _start_waiting(env)
    seen = len(env.emu.events)
    env.clock.advance(3600)

    with env.emu.acting_as(APPROVER_SESSION):  # a person of the approver role, in the console
        env.ssm.send_automation_signal(
            AutomationExecutionId=run_id, SignalType="Approve", Payload={"Comment": ["Smoke tests fine"]}
        )

    assert _statuses(env, seen) == [("step", "Success"), ("execution", "Success")]
    step_event = env.emu.events[seen]
    assert step_event["detail"]["EndTime"] == "Jan 5, 2026 9:00:01 AM"
    assert step_event["detail"]["Time"] == 3600 * 1000.0
    execution = _execution(env, run_id)
    assert execution["AutomationExecutionStatus"] == "Success"
    assert execution["Outputs"]["approveCutover.ApprovalStatus"] == ["Approved"]
    [decision] = [json.loads(d) for d in execution["Outputs"]["approveCutover.ApproverDecisions"]]
    assert decision == {
        "Approver": APPROVER_SESSION,
        "Decision": "Approve",
        "ApprovalDecisionTime": "2026-01-05T09:00:01.000000Z",
        "Comment": "Smoke tests fine",
    }
    [record] = env.emu.execution(run_id).decisions()
    assert (record.approver, record.decision, record.comment) == (
        APPROVER_SESSION,
        "Approve",
        "Smoke tests fine",
    )
    steps = env.ssm.describe_automation_step_executions(AutomationExecutionId=run_id)["StepExecutions"]
    assert [(s["StepName"], s["StepStatus"]) for s in steps] == [("approveCutover", "Success")]


def test_a_bridge_subscribed_to_the_events_finds_the_token_ref_and_the_decision(env: SimpleNamespace) -> None:
    """What the EventBridge rule target would do: react to the approve step ending."""
    outcomes: list[tuple[str, str, str]] = []

    def bridge(event: dict[str, Any]) -> None:
        detail = event["detail"]
        if event["detail-type"] != STEP_STATUS_CHANGE or detail["Action"] != "aws:approve":
            return
        if detail["Status"] not in ("Success", "Failed", "TimedOut", "Cancelled"):
            return
        execution = _ssm().get_automation_execution(AutomationExecutionId=detail["ExecutionId"])[
            "AutomationExecution"
        ]
        status = execution.get("Outputs", {}).get("approveCutover.ApprovalStatus", [detail["Status"]])[0]
        outcomes.append((execution["Parameters"]["TaskTokenRef"][0], detail["Status"], status))

    env.emu.subscribe(bridge)
    approved, rejected = _start_waiting(env), _start_waiting(env)
    with env.emu.acting_as(APPROVER_ROLE):
        env.ssm.send_automation_signal(AutomationExecutionId=approved, SignalType="Approve")
        env.ssm.send_automation_signal(AutomationExecutionId=rejected, SignalType="Reject")

    ref = "approval#s-1234567890abcdef0#mgnjob-1234567890abcdef0"
    assert outcomes == [(ref, "Success", "Approved"), (ref, "Failed", "Rejected")]


def test_a_rejection_fails_the_step_and_the_execution(env: SimpleNamespace) -> None:
    run_id = _start_waiting(env)
    seen = len(env.emu.events)

    with env.emu.acting_as(APPROVER_ROLE):
        env.ssm.send_automation_signal(
            AutomationExecutionId=run_id, SignalType="Reject", Payload={"Comment": ["Port 443 still closed"]}
        )

    assert _statuses(env, seen) == [("step", "Failed"), ("execution", "Failed")]
    execution = _execution(env, run_id)
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert APPROVER_ROLE in execution["FailureMessage"]
    [step] = execution["StepExecutions"]
    assert step["StepStatus"] == "Failed"
    assert step["Outputs"]["ApprovalStatus"] == ["Rejected"]
    [decision] = [json.loads(d) for d in step["Outputs"]["ApproverDecisions"]]
    assert (decision["Decision"], decision["Comment"]) == ("Reject", "Port 443 still closed")


@pytest.mark.parametrize("caller", [None, OTHER_ROLE, "arn:aws:iam::444455556666:role/CutoverApprover"])
def test_a_signal_from_a_non_approver_is_refused_and_changes_nothing(
    env: SimpleNamespace, caller: str | None
) -> None:
    run_id = _start_waiting(env)
    seen = len(env.emu.events)
    # None: the pipeline's own role (the emulator's default caller), which is not an approver.
    acting = env.emu.acting_as(caller) if caller else nullcontext()
    with acting, pytest.raises(ClientError) as exc:
        env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")

    code, status, message = _error(exc)
    assert (code, status) == ("InvalidAutomationSignalException", 400)
    assert "is not an approver" in message
    assert env.emu.events[seen:] == []
    assert env.emu.execution(run_id).decisions() == []
    assert _execution(env, run_id)["AutomationExecutionStatus"] == "Waiting"


def test_no_answer_within_7_days_times_out_the_step_and_the_execution(env: SimpleNamespace) -> None:
    run_id = _start_waiting(env)
    seen = len(env.emu.events)

    env.clock.advance(SEVEN_DAYS - 1)
    assert _execution(env, run_id)["AutomationExecutionStatus"] == "Waiting"
    env.clock.advance(1)

    assert _statuses(env, seen) == [("step", "TimedOut"), ("execution", "TimedOut")]
    execution = _execution(env, run_id)
    assert execution["AutomationExecutionStatus"] == "TimedOut"
    assert execution["ProgressCounters"]["TimedOutSteps"] == 1
    # An approval that arrives too late is refused.
    with env.emu.acting_as(APPROVER_ROLE), pytest.raises(ClientError) as exc:
        env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")
    assert _error(exc)[0] == "InvalidAutomationSignalException"


def test_stop_cancels_a_waiting_approval(env: SimpleNamespace) -> None:
    run_id = _start_waiting(env)
    seen = len(env.emu.events)
    env.ssm.stop_automation_execution(AutomationExecutionId=run_id)
    assert _statuses(env, seen) == [
        ("execution", "Cancelling"),
        ("step", "Cancelled"),
        ("execution", "Cancelled"),
    ]
    env.clock.advance(SEVEN_DAYS)  # the timeout timer finds nothing to do
    assert _statuses(env, seen)[-1] == ("execution", "Cancelled")
    with pytest.raises(ClientError) as exc:
        env.ssm.stop_automation_execution(AutomationExecutionId=run_id)
    assert _error(exc)[0] == "InvalidAutomationStatusUpdateException"


def test_describe_automation_executions_filters_by_status(env: SimpleNamespace) -> None:
    done, waiting = _start_waiting(env), _start_waiting(env)
    with env.emu.acting_as(APPROVER_ROLE):
        env.ssm.send_automation_signal(AutomationExecutionId=done, SignalType="Approve")
    listed = env.ssm.describe_automation_executions(
        Filters=[{"Key": "ExecutionStatus", "Values": ["Waiting"]}]
    )
    assert [m["AutomationExecutionId"] for m in listed["AutomationExecutionMetadataList"]] == [waiting]


TWO_PERSON_RUNBOOK = """
schemaVersion: '0.3'
parameters:
  Approvers: {type: StringList}
mainSteps:
  - name: twoPeople
    action: aws:approve
    timeoutSeconds: 3600
    inputs:
      Approvers: '{{ Approvers }}'
      MinRequiredApprovals: 2
"""


def test_min_required_approvals_waits_for_distinct_approvers(env: SimpleNamespace) -> None:
    env.ssm.create_document(
        Name="TwoPersonRule", DocumentType="Automation", DocumentFormat="YAML", Content=TWO_PERSON_RUNBOOK
    )
    bob = f"arn:aws:iam::{ACCOUNT}:user/bob"
    run_id = env.ssm.start_automation_execution(
        DocumentName="TwoPersonRule", Parameters={"Approvers": [APPROVER_ROLE, "bob"]}
    )["AutomationExecutionId"]
    env.clock.advance(1)
    with env.emu.acting_as(APPROVER_SESSION):
        env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")
        with pytest.raises(ClientError) as exc:  # one person cannot count twice
            env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")
    assert _error(exc)[0] == "InvalidAutomationSignalException"
    assert _execution(env, run_id)["AutomationExecutionStatus"] == "Waiting"
    with env.emu.acting_as(bob):
        env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")
    execution = _execution(env, run_id)
    assert execution["AutomationExecutionStatus"] == "Success"
    decisions = [
        json.loads(d)["Approver"] for d in execution["StepExecutions"][0]["Outputs"]["ApproverDecisions"]
    ]
    assert decisions == [APPROVER_SESSION, bob]


def test_a_repeated_client_token_returns_the_same_execution(env: SimpleNamespace) -> None:
    token = "6f1c8a0e-1d2b-4c3d-8e4f-5a6b7c8d9e0f"
    params = _parameters(env.topic)
    first = env.ssm.start_automation_execution(
        DocumentName=DOCUMENT_NAME, Parameters=params, ClientToken=token
    )
    again = env.ssm.start_automation_execution(
        DocumentName=DOCUMENT_NAME, Parameters=params, ClientToken=token
    )
    assert first["AutomationExecutionId"] == again["AutomationExecutionId"]
    assert len(env.emu.executions) == 1
    with pytest.raises(ClientError) as exc:
        env.ssm.start_automation_execution(
            DocumentName=DOCUMENT_NAME, Parameters=_parameters(env.topic, WaveId=["4"]), ClientToken=token
        )
    assert _error(exc)[0] == "IdempotentParameterMismatch"


# ---- request validation and errors ---------------------------------------------------------------------


def test_a_bad_signal_type_is_a_validation_exception(env: SimpleNamespace) -> None:
    run_id = _start_waiting(env)
    # "Deny" is what the console button says (and an old CLI example uses); the API enum says Reject.
    with env.emu.acting_as(APPROVER_ROLE), pytest.raises(ClientError) as exc:
        env.ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Deny")
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "'signalType'" in message and "Deny" in message
    assert _execution(env, run_id)["AutomationExecutionStatus"] == "Waiting"


def test_a_missing_document_name_is_a_validation_exception(env: SimpleNamespace) -> None:
    # botocore itself refuses the call; a client without its checks shows what SSM answers.
    unchecked = _ssm(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        unchecked.start_automation_execution(Parameters=_parameters(env.topic))
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "'documentName'" in message
    assert env.emu.executions == {}


@pytest.mark.parametrize(
    ("parameters", "needle"),
    [
        ({"ServerId": ["web01"]}, "ServerId"),
        ({"NotificationArn": [f"arn:aws:sns:{REGION}:{ACCOUNT}:CutoverApproval"]}, "NotificationArn"),
        ({"Approvers": []}, "Approvers"),
        ({"TaskToken": ["AQB8AAAAKgAAAAMAAAAAAAAAA..."]}, "TaskToken"),
    ],
)
def test_parameters_are_checked_against_the_runbook(
    env: SimpleNamespace, parameters: dict[str, list[str]], needle: str
) -> None:
    with pytest.raises(ClientError) as exc:
        env.ssm.start_automation_execution(
            DocumentName=DOCUMENT_NAME, Parameters=_parameters(env.topic, **parameters)
        )
    code, _, message = _error(exc)
    assert code == "InvalidAutomationExecutionParametersException"
    assert needle in message


def test_unknown_document_version_and_execution_are_not_found(env: SimpleNamespace) -> None:
    with pytest.raises(ClientError) as exc:
        env.ssm.start_automation_execution(DocumentName="NoSuchRunbook", Parameters=_parameters(env.topic))
    assert _error(exc)[0] == "AutomationDefinitionNotFoundException"
    with pytest.raises(ClientError) as exc:
        env.ssm.start_automation_execution(
            DocumentName=DOCUMENT_NAME, DocumentVersion="7", Parameters=_parameters(env.topic)
        )
    assert _error(exc)[0] == "AutomationDefinitionVersionNotFoundException"
    with pytest.raises(ClientError) as exc:
        env.ssm.get_automation_execution(AutomationExecutionId="00000000-0000-4000-a000-000000000000")
    assert _error(exc)[0] == "AutomationExecutionNotFoundException"


# ---- plumbing -------------------------------------------------------------------------------------------


def test_other_ssm_calls_still_reach_moto(env: SimpleNamespace) -> None:
    env.ssm.put_parameter(Name="/mgn/approval/topic", Value=env.topic, Type="String")
    assert env.ssm.get_parameter(Name="/mgn/approval/topic")["Parameter"]["Value"] == env.topic
    assert env.emu.calls == []  # only automation operations are answered (and recorded) here
    _start_waiting(env)
    assert [name for name, _ in env.emu.calls] == ["StartAutomationExecution"]


def test_the_hook_is_removed_after_the_context(aws_env: None, clock: SimClock) -> None:
    before = list(botocore.handlers.BUILTIN_HANDLERS)
    with mock_aws():
        emu = SsmAutomationEmulator(clock)
        with emu.installed():
            assert botocore.handlers.BUILTIN_HANDLERS[0][0] == HOOK_EVENT
            kept = _ssm()  # a client made while installed
            assert kept.describe_automation_executions()["AutomationExecutionMetadataList"] == []
        assert before == botocore.handlers.BUILTIN_HANDLERS
        calls = len(emu.calls)
        for client in (_ssm(), kept):  # moto has no Automation runtime: the call now fails there
            with pytest.raises(NotImplementedError):
                client.describe_automation_executions()
        assert len(emu.calls) == calls


@pytest.mark.parametrize(
    ("approver", "caller", "allowed"),
    [
        (APPROVER_ROLE, APPROVER_SESSION, True),
        (APPROVER_ROLE, APPROVER_ROLE, True),
        (f"arn:aws:iam::{ACCOUNT}:role/team/CutoverApprover", APPROVER_SESSION, True),
        (APPROVER_ROLE, "arn:aws:sts::444455556666:assumed-role/CutoverApprover/x", False),
        ("alice", f"arn:aws:iam::{ACCOUNT}:user/alice", True),
        ("alice", f"arn:aws:iam::{ACCOUNT}:user/bob", False),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/alice", f"arn:aws:iam::{ACCOUNT}:user/alice", True),
        (APPROVER_SESSION, f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/mallory", False),
        (APPROVER_ROLE, OTHER_ROLE, False),
    ],
)
def test_approver_entries_match_principals_as_aws_approve_documents(
    approver: str, caller: str, allowed: bool
) -> None:
    assert principal_matches(approver, caller, ACCOUNT) is allowed
