"""Run the repo's state machines in moto's Step Functions interpreter, with REAL Lambda handlers.

moto (``execute_state_machine``) interprets ASL in a worker thread, in real time. Without Docker
its Lambda backend only echoes payloads, so :func:`lambda_dispatch` replaces
``LambdaSimpleBackend.invoke`` to call handlers in-process through :class:`LocalFunctions`.
A handler exception is answered the way Lambda answers it (``x-amz-function-error`` header and
an ``errorType`` payload), so ASL ``Retry``/``Catch`` match on the Python exception class name,
e.g. ``"ErrorEquals": ["MgnThrottledError"]``.

This patches moto internals (pinned: moto 5.2.5); ``tests/emulator/test_stepfunctions.py``
covers the hook so an upgrade that breaks it fails loudly.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from localcloud.functions import LocalFunctions, error_payload

# Pass to mock_aws: execute definitions, and use the Docker-less Lambda backend we hook.
SFN_MOCK_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/local-state-machine"
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")

Dispatch = Callable[[str, Any], Any]  # (function name or ARN, event) -> result


def apply_definition_substitutions(
    definition: str, substitutions: Mapping[str, Any], *, strict: bool = True
) -> str:
    """Replace ``${Name}`` with ``substitutions[Name]`` in the definition text, as CloudFormation does.

    The substitution is textual (a number can be substituted unquoted). Booleans become
    ``true``/``false``. With ``strict`` a placeholder that has no value raises (a typo in a
    substitution name is almost always a bug); otherwise it is left as written.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            if not strict:
                return match.group(0)
            raise KeyError(f"DefinitionSubstitutions has no value for ${{{name}}}")
        value = substitutions[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _PLACEHOLDER.sub(replace, definition)


@contextmanager
def lambda_dispatch(dispatch: Callable[[str], Callable[[Any], Any] | None]) -> Iterator[None]:
    """Answer moto Lambda ``Invoke`` calls in-process while the context is active.

    ``dispatch(function_name_or_arn)`` returns ``run(event) -> result`` for the functions we
    serve, or None to fall back to moto's own (echoing) behaviour.
    """
    original = LambdaSimpleBackend.invoke

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes | str | None:
        run = dispatch(function_name)
        if run is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        try:
            payload = json.dumps(run(event), default=str).encode()
        except Exception as exc:
            # What Lambda does for an unhandled exception: Step Functions reads errorType as the error name.
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(error_payload(exc)).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


@contextmanager
def scaled_retry_sleep(scale: float) -> Iterator[None]:
    """Make ASL ``Retry`` waits ``scale`` times their real length (IntervalSeconds is at least 1 s).

    Swaps the ``time`` module seen by moto's retrier only; nothing else sleeps differently.
    """
    original = retrier_decl.time
    retrier_decl.time = SimpleNamespace(sleep=lambda seconds: time.sleep(seconds * scale))  # type: ignore[assignment]
    try:
        yield
    finally:
        retrier_decl.time = original


class LocalStepFunctions:
    """Create, run and inspect state machines; Lambda tasks reach ``functions`` in-process.

    Use inside ``mock_aws(config=SFN_MOCK_CONFIG)`` and as a context manager (installs the hook)::

        with mock_aws(config=SFN_MOCK_CONFIG):
            stack = deploy_stack(Template.load(), clock)
            with LocalStepFunctions(stack.functions) as sfn:
                arn = sfn.create_state_machine("statemachines/x.asl.json", {...})
    """

    def __init__(
        self, functions: LocalFunctions, *, role_arn: str = DEFAULT_ROLE_ARN, retry_sleep_scale: float = 1.0
    ) -> None:
        self.functions = functions
        self.role_arn = role_arn
        self.retry_sleep_scale = retry_sleep_scale
        self.client = boto3.client("stepfunctions", region_name=functions.region)
        self.transition_counts: dict[str, int] = {}
        self._stack: list[Any] = []

    def _run_for(self, name: str) -> Callable[[Any], Any] | None:
        try:
            key = self.functions.resolve_name(name)
        except KeyError:
            return None
        return lambda event: self.functions.invoke(key, event, trigger="stepfunctions")

    def __enter__(self) -> LocalStepFunctions:
        hook = lambda_dispatch(self._run_for)
        hook.__enter__()
        self._stack.append(hook)
        if self.retry_sleep_scale != 1.0:
            scaled = scaled_retry_sleep(self.retry_sleep_scale)
            scaled.__enter__()
            self._stack.append(scaled)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)

    # ------------------------------------------------------------ state machines and executions

    def create_state_machine(
        self, asl_path: str | Path, substitutions: Mapping[str, Any] | None = None, name: str | None = None
    ) -> str:
        """Create a state machine from an ASL file with DefinitionSubstitutions applied; returns its ARN."""
        path = Path(asl_path)
        definition = apply_definition_substitutions(path.read_text(), substitutions or {})
        json.loads(definition)  # fail here, with the file name, rather than deep inside moto
        name = name or path.name.split(".")[0]
        resp = self.client.create_state_machine(name=name, definition=definition, roleArn=self.role_arn)
        return str(resp["stateMachineArn"])

    def start(self, state_machine_arn: str, name: str, execution_input: Any = None) -> str:
        """Start a named execution (unnamed executions collide in moto); returns its ARN."""
        resp = self.client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input or {})
        )
        return str(resp["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.client.describe_execution(executionArn=execution_arn))

    def wait(self, execution_arn: str, timeout_s: float = 10.0, poll_s: float = 0.02) -> dict[str, Any]:
        """Poll until the execution leaves RUNNING; returns describe_execution (output parsed as ``output_json``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            desc = self.describe(execution_arn)
            if desc["status"] != "RUNNING":
                if "output" in desc:
                    desc["output_json"] = json.loads(desc["output"])
                self.transitions(execution_arn)
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_s} s")
            time.sleep(poll_s)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn}
        while True:
            resp = self.client.get_execution_history(**kwargs)
            events.extend(resp["events"])
            if not resp.get("nextToken"):
                return events
            kwargs["nextToken"] = resp["nextToken"]

    def transitions(self, execution_arn: str) -> int:
        """State transitions so far (states entered), also kept in ``transition_counts``."""
        count = sum(1 for event in self.history(execution_arn) if event["type"].endswith("StateEntered"))
        self.transition_counts[execution_arn] = count
        return count

    def send_task_success(self, task_token: str, output: Any) -> None:
        self.client.send_task_success(taskToken=task_token, output=json.dumps(output))

    def send_task_failure(self, task_token: str, error: str, cause: str = "") -> None:
        """Fail the waiting task. moto 5.2.5 drops ``cause`` (only ``error`` reaches the execution)."""
        self.client.send_task_failure(taskToken=task_token, error=error, cause=cause)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 5.0, poll_s: float = 0.01) -> Any:
    """Poll ``predicate`` until truthy (e.g. a task token recorded by a Lambda the interpreter called)."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(poll_s)
    return value
