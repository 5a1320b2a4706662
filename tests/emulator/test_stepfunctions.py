"""LocalStepFunctions: moto's ASL interpreter with Lambda tasks run in-process (the moto hook is covered here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from stack_support import PLACEHOLDER_PARAMETERS, TestLambdas

from localcloud import SimClock
from localcloud.functions import deploy_stack
from localcloud.stepfunctions import (
    SFN_MOCK_CONFIG,
    LocalStepFunctions,
    apply_definition_substitutions,
    wait_for,
)
from localcloud.template import Template

pytestmark = pytest.mark.integration

ASL = Path(__file__).parent / "asl" / "retry-catch-token.asl.json"


@pytest.fixture
def env(aws_env: None, clock: SimClock) -> Iterator[SimpleNamespace]:
    with mock_aws(config=SFN_MOCK_CONFIG):
        stack = deploy_stack(Template.load(), clock, PLACEHOLDER_PARAMETERS)
        lambdas = TestLambdas()
        arns = {
            "FlakyFunctionArn": stack.functions.register("flaky", lambdas.flaky),
            "RejectedFunctionArn": stack.functions.register("rejected", lambdas.rejected),
            "ApprovalFunctionArn": stack.functions.register("ask-approval", lambdas.ask_approval),
        }
        # Retry waits are real time in moto; IntervalSeconds 1 becomes 50 ms.
        with LocalStepFunctions(stack.functions, retry_sleep_scale=0.05) as sfn:
            arn = sfn.create_state_machine(ASL, {**arns, "ThrottleRetries": 2})
            yield SimpleNamespace(stack=stack, lambdas=lambdas, sfn=sfn, arn=arn)


def test_retry_catch_and_task_token_reach_in_process_handlers(env: SimpleNamespace) -> None:
    sfn, lambdas = env.sfn, env.lambdas
    execution = sfn.start(env.arn, "wave-1", {"servers": ["s-1234567890abcdef0"]})
    [token] = wait_for(lambda: list(lambdas.tokens))
    assert sfn.describe(execution)["status"] == "RUNNING"  # parked on the task token
    sfn.send_task_success(token, {"approved": True, "by": "jdoe"})

    result = sfn.wait(execution)
    assert result["status"] == "SUCCEEDED"
    output = result["output_json"]
    # Retry on MgnThrottledError: the second attempt ran, in the same process, with a Lambda context.
    assert output["throttled"]["result"] == {
        "servers": ["s-1234567890abcdef0"],
        "attempt": 2,
        "function": "flaky",
    }
    # Catch on MgnRequestRejectedError: the error name is the Python class name, the cause Lambda's payload.
    assert output["caught"]["Error"] == "MgnRequestRejectedError"
    assert "launch template has no subnet" in output["caught"]["Cause"]
    assert output["approval"] == {"approved": True, "by": "jdoe"}
    assert lambdas.calls == {"flaky": 2, "rejected": 1, "ask_approval": 1}
    assert env.stack.functions.counts["flaky"] == 2
    assert {r.trigger for r in env.stack.functions.log} == {"stepfunctions"}

    history = sfn.history(execution)
    failures = [
        e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails")
        for e in history
        if e["type"] in ("TaskFailed", "LambdaFunctionFailed")
    ]
    assert [f["error"] for f in failures] == ["MgnThrottledError", "MgnRequestRejectedError"]
    assert sfn.transitions(execution) == 4  # Throttled, Rejected, WaitForApproval, Done
    assert sfn.transition_counts[execution] == 4


def test_task_failure_fails_the_execution_with_its_error(env: SimpleNamespace) -> None:
    execution = env.sfn.start(env.arn, "wave-2", {"servers": []})
    [token] = wait_for(lambda: list(env.lambdas.tokens))
    env.sfn.send_task_failure(token, "CutoverRejected", "the approver said no")
    result = env.sfn.wait(execution)
    assert result["status"] == "FAILED"
    assert result["error"] == "CutoverRejected"
    # moto 5.2.5 drops the cause (its responses.send_task_failure passes only the error): pinned
    # here so a moto upgrade that fixes it is noticed. AWS returns "the approver said no".
    assert "cause" not in result


def test_hook_is_removed_on_exit(aws_env: None, clock: SimClock) -> None:
    original = LambdaSimpleBackend.invoke
    with mock_aws(config=SFN_MOCK_CONFIG):
        functions = deploy_stack(Template.load(), clock, PLACEHOLDER_PARAMETERS).functions
        with LocalStepFunctions(functions):
            assert LambdaSimpleBackend.invoke is not original
    assert LambdaSimpleBackend.invoke is original


def test_definition_substitutions_are_textual() -> None:
    text = '{"A": "${Arn}", "N": ${Count}, "B": ${Flag}, "Keep": "$.path"}'
    assert apply_definition_substitutions(text, {"Arn": "arn:x", "Count": 3, "Flag": True}) == (
        '{"A": "arn:x", "N": 3, "B": true, "Keep": "$.path"}'
    )
    with pytest.raises(KeyError, match="Count"):
        apply_definition_substitutions(text, {"Arn": "arn:x", "Flag": False})
    assert "${Count}" in apply_definition_substitutions(text, {"Arn": "a", "Flag": 1}, strict=False)
