"""SSM Automation answered beside moto: a ``before-send.ssm`` hook for the automation operations.

moto 5.2.5 stores Automation documents but does not run them (StartAutomationExecution,
GetAutomationExecution and SendAutomationSignal are "not implemented"). This hook answers
those operations only; every other SSM call (parameters, documents, send_command ...) gets
``None`` back and falls through to moto. Requests and responses are checked against
botocore's ssm model with the MGN emulator's validator (enums, patterns and lengths too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.handlers
import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel

from localcloud.clock import SimClock
from localcloud.mgn.errors import EmulatorBug
from localcloud.mgn.model_validation import FieldProblem, validate_shape
from localcloud.mgn.util import IdFactory
from localcloud.mgn.wire import RawBody
from localcloud.ssm.document import AutomationDocument
from localcloud.ssm.errors import DocumentError, NotImplementedByEmulator, SsmError
from localcloud.ssm.events import AutomationEventEmitter, Event
from localcloud.ssm.executions import TERMINAL, AutomationRunner, ExecutionRecord, StepRecord

HOOK_EVENT = "before-send.ssm"
_HOOK_ID = "localcloud-ssm-automation-emulator"
# Runs after moto's own "before-send" handler (less specific events run later in botocore).
RESTORE_EVENT = "before-send"
_RESTORE_ID = "localcloud-ssm-automation-emulator-restore"
# A URL no moto backend claims (and not *.amazonaws.com, which moto answers with a 404).
_ANSWERED_URL = "https://ssm-automation.localcloud.invalid/"
TARGET_PREFIX = "AmazonSSM."
OPERATIONS = frozenset(
    {
        "StartAutomationExecution",
        "GetAutomationExecution",
        "DescribeAutomationExecutions",
        "DescribeAutomationStepExecutions",
        "SendAutomationSignal",
        "StopAutomationExecution",
    }
)
# Features of StartAutomationExecution the emulator does not model: rate control, targets,
# multi-account runs, alarms. Tags too: their model pattern uses \p{L}, which Python's re
# (and so the shared validator) cannot compile.
_UNSUPPORTED_START = (
    "Targets",
    "TargetMaps",
    "TargetParameterName",
    "TargetLocations",
    "TargetLocationsURL",
    "MaxConcurrency",
    "MaxErrors",
    "AlarmConfiguration",
    "Tags",
)
DEFAULT_PAGE_SIZE = 50

_service_model: ServiceModel | None = None


def ssm_model() -> ServiceModel:
    """botocore's SSM model (the source of truth for shapes), loaded once."""
    global _service_model
    if _service_model is None:
        _service_model = botocore.session.get_session().get_service_model("ssm")
    return _service_model


class SsmAutomationEmulator:
    """Emulated SSM Automation (start, describe, signal, stop) for one account and Region.

    Test-side helpers (not API): ``executions``, ``execution``, ``events``, ``subscribe``,
    ``acting_as``, ``calls``.
    """

    def __init__(
        self,
        clock: SimClock,
        account_id: str = "111122223333",
        region: str = "us-east-1",
        *,
        default_principal: str | None = None,
        start_delay_seconds: float = 1.0,
        ssm_client: Any | None = None,
        sns_client: Any | None = None,
        seed: int = 0,
    ) -> None:
        """``default_principal`` is the caller when no ``acting_as`` block is open (a pipeline
        role, deliberately not an approver). ``ssm_client``/``sns_client`` default to boto3
        clients made on first use, inside the test's ``mock_aws``."""
        self.clock = clock
        self.account_id = account_id
        self.region = region
        self.ids = IdFactory(seed)
        self.emitter = AutomationEventEmitter(self.ids, account_id, region)
        self.runner = AutomationRunner(clock, self.ids, self.emitter, self._sns, start_delay_seconds)
        self.executions: dict[str, ExecutionRecord] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._model = ssm_model()
        self._principals = [default_principal or f"arn:aws:iam::{account_id}:role/mgn-pipeline-automation"]
        self._ssm_client = ssm_client
        self._sns_client = sns_client
        self._tokens: dict[str, tuple[str, dict[str, Any]]] = {}
        self._hook: Callable[..., AWSResponse | None] = self._on_before_send
        self._restore: Callable[..., None] = self._restore_url
        self._moved: dict[int, str] = {}
        self._installed = False
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartAutomationExecution": self._start,
            "GetAutomationExecution": self._get,
            "DescribeAutomationExecutions": self._describe_executions,
            "DescribeAutomationStepExecutions": self._describe_steps,
            "SendAutomationSignal": self._signal,
            "StopAutomationExecution": self._stop,
        }

    # ---- test-side helpers -------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """Every status-change event emitted so far, in order."""
        return self.emitter.events

    def subscribe(self, callback: Callable[[Event], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event from now on (e.g. ``LocalEventBus.put_events``);
        returns an unsubscribe function."""
        return self.emitter.subscribe(callback)

    def execution(self, execution_id: str) -> ExecutionRecord:
        """The internal record of an execution (approver decisions, SNS message, ...)."""
        return self.executions[execution_id]

    @contextmanager
    def acting_as(self, principal_arn: str) -> Iterator[None]:
        """Attribute SSM calls made inside the block to ``principal_arn``.

        moto does not tell who signed a request, so this stands in for the IAM identity the
        real service would see: the approver check of SendAutomationSignal and ExecutedBy.
        """
        self._principals.append(principal_arn)
        try:
            yield
        finally:
            self._principals.pop()

    @property
    def principal(self) -> str:
        return self._principals[-1]

    def _ssm(self) -> Any:
        # Made on first use so that it is created inside the test's mock_aws context.
        if self._ssm_client is None:
            self._ssm_client = boto3.client("ssm", region_name=self.region)
        return self._ssm_client

    def _sns(self) -> Any:
        if self._sns_client is None:
            self._sns_client = boto3.client("sns", region_name=self.region)
        return self._sns_client

    # ---- installation ----------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[SsmAutomationEmulator]:
        """Answer the automation operations of every botocore session/client created inside the block."""
        if self._installed:
            raise RuntimeError("this SsmAutomationEmulator is already installed")
        entry = (HOOK_EVENT, self._hook)
        restore = (RESTORE_EVENT, self._restore)
        botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
        # After moto's stubber, which moto appended to the list when it was imported.
        botocore.handlers.BUILTIN_HANDLERS.append(restore)
        # boto3's default session may predate the hook (moto swaps it out, but not everyone does).
        default = boto3.DEFAULT_SESSION
        if default is not None:
            default.events.register_first(HOOK_EVENT, self._hook, unique_id=_HOOK_ID)
            default.events.register_last(RESTORE_EVENT, self._restore, unique_id=_RESTORE_ID)
        self._installed = True
        try:
            yield self
        finally:
            self._installed = False
            handlers = botocore.handlers.BUILTIN_HANDLERS
            for added in (entry, restore):
                for i, item in enumerate(handlers):
                    if item is added:
                        del handlers[i]
                        break
            if default is not None:
                default.events.unregister(HOOK_EVENT, self._hook, unique_id=_HOOK_ID)
                default.events.unregister(RESTORE_EVENT, self._restore, unique_id=_RESTORE_ID)

    def _on_before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        # Clients made while installed keep this handler; after uninstall it lets requests through.
        if not self._installed:
            return None
        target = _header(request.headers, "X-Amz-Target") or ""
        operation = target.removeprefix(TARGET_PREFIX)
        if operation not in OPERATIONS:
            return None  # moto answers every other SSM call
        status, headers, body = self.handle(operation, dict(request.headers.items()), request.body)
        response = AWSResponse(request.url, status, headers, RawBody(body))
        # botocore calls every before-send handler (emit, not emit_until_response), and moto's
        # stubber raises NotImplementedError for this SSM operation instead of returning None.
        # Point the request away from moto's URL patterns; _restore_url puts it back after moto.
        self._moved[id(request)] = request.url
        request.url = _ANSWERED_URL
        return response

    def _restore_url(self, request: AWSPreparedRequest, **_: Any) -> None:
        url = self._moved.pop(id(request), None)
        if url is not None:
            request.url = url

    # ---- request handling ------------------------------------------------------------------------

    def handle(self, operation: str, headers: dict[str, Any], body: Any) -> tuple[int, dict[str, str], bytes]:
        """Answer one automation request: (status, headers, body)."""
        op = self._model.operation_model(operation)
        params: dict[str, Any] = {}
        error: SsmError | None = None
        result: dict[str, Any] = {}
        try:
            params = _parse_body(body)
        except SsmError as exc:
            error = exc
        self.calls.append((operation, params))
        if error is None:
            try:
                result = self._dispatch(op, params, headers)
            except SsmError as exc:
                error = exc
        if error is not None:
            return self._error_response(op, error)
        return self._success_response(op, result)

    def _dispatch(
        self, op: OperationModel, params: dict[str, Any], headers: dict[str, Any]
    ) -> dict[str, Any]:
        problems = validate_shape(op.input_shape, params)
        if problems:
            raise _validation_error(problems)
        region = _request_region(headers)
        if region not in (None, self.region):
            raise NotImplementedByEmulator(
                f"the SSM Automation emulator serves {self.region} only, not {region}"
            )
        return self._operations[op.name](params)

    def _success_response(
        self, op: OperationModel, result: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        problems = validate_shape(op.output_shape, result)
        if problems:
            raise EmulatorBug(f"emulator response for {op.name} breaks the ssm model: {problems}")
        return 200, self._headers(), json.dumps(result).encode()

    def _error_response(self, op: OperationModel, error: SsmError) -> tuple[int, dict[str, str], bytes]:
        if isinstance(error, NotImplementedByEmulator):
            status = NotImplementedByEmulator.status
        else:
            declared = {s.name for s in op.error_shapes} | {"ValidationException"}
            if error.code not in declared:
                raise EmulatorBug(f"{op.name} cannot return {error.code} (declared: {sorted(declared)})")
            shape = self._model.shape_for_error_code(error.code)
            problems = validate_shape(shape, error.body())
            if problems:
                raise EmulatorBug(f"emulator error {error.code} breaks the ssm model: {problems}")
            status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
        body = {"__type": error.code, **error.body()}
        return status, self._headers({"x-amzn-ErrorType": error.code}), json.dumps(body).encode()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/x-amz-json-1.1",
            "x-amzn-RequestId": self.ids.uuid(),
            **(extra or {}),
        }

    # ---- operations --------------------------------------------------------------------------------

    def _start(self, params: dict[str, Any]) -> dict[str, Any]:
        unsupported = [name for name in _UNSUPPORTED_START if name in params]
        if unsupported or params.get("Mode", "Auto") != "Auto":
            raise NotImplementedByEmulator(
                f"the SSM Automation emulator runs simple executions only (Mode Auto), not {unsupported or 'Interactive'}"
            )
        token = params.get("ClientToken")
        if token is not None and token in self._tokens:
            execution_id, first = self._tokens[token]
            if first != params:
                raise SsmError("IdempotentParameterMismatch", "ClientToken was used with other parameters.")
            return {"AutomationExecutionId": execution_id}
        document = self._load_document(params["DocumentName"], params.get("DocumentVersion"))
        wire, typed = document.bind(params.get("Parameters") or {})
        execution = ExecutionRecord(
            execution_id=self.ids.uuid(),
            document=document,
            region=self.region,
            account_id=self.account_id,
            parameters=wire,
            values=typed,
            executed_by=self.principal,
            start=self.clock.now(),
            client_token=token,
        )
        self.executions[execution.execution_id] = execution
        if token is not None:
            self._tokens[token] = (execution.execution_id, params)
        self.runner.start(execution)
        return {"AutomationExecutionId": execution.execution_id}

    def _load_document(self, name_or_arn: str, version: str | None) -> AutomationDocument:
        """Read the runbook from moto, where the test (or the stack) registered it."""
        name = name_or_arn.split(":document/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        ssm = self._ssm()
        try:
            if version in (None, "$DEFAULT"):
                # moto's get_document does not understand $DEFAULT; ask for the default version.
                version = ssm.describe_document(Name=name)["Document"]["DefaultVersion"]
            found = ssm.get_document(Name=name, DocumentVersion=version)
        except ClientError as exc:
            if version not in (None, "$DEFAULT", "$LATEST") and _document_exists(ssm, name):
                raise SsmError(
                    "AutomationDefinitionVersionNotFoundException",
                    f"Document {name} has no version {version}.",
                ) from exc
            raise SsmError(
                "AutomationDefinitionNotFoundException", f"Automation document {name} was not found."
            ) from exc
        if found.get("DocumentType") != "Automation":
            raise SsmError(
                "AutomationDefinitionNotFoundException", f"Document {name} is not an Automation document."
            )
        try:
            return AutomationDocument.parse(name, str(found["DocumentVersion"]), found["Content"])
        except DocumentError as exc:
            raise SsmError("InvalidAutomationExecutionParametersException", str(exc)) from exc

    def _find(self, execution_id: str) -> ExecutionRecord:
        execution = self.executions.get(execution_id)
        if execution is None:
            raise SsmError(
                "AutomationExecutionNotFoundException", f"Automation execution {execution_id} was not found."
            )
        return execution

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._find(params["AutomationExecutionId"])
        steps = [_step_view(s) for s in execution.steps]
        view: dict[str, Any] = {
            **_metadata(execution),
            "StepExecutions": steps,
            "StepExecutionsTruncated": False,
            "ProgressCounters": {
                "TotalSteps": len(execution.steps),
                "SuccessSteps": sum(s.status == "Success" for s in execution.steps),
                "FailedSteps": sum(s.status == "Failed" for s in execution.steps),
                "CancelledSteps": sum(s.status == "Cancelled" for s in execution.steps),
                "TimedOutSteps": sum(s.status == "TimedOut" for s in execution.steps),
            },
        }
        if execution.parameters:
            view["Parameters"] = execution.parameters
        return {"AutomationExecution": _drop_none(view)}

    def _describe_executions(self, params: dict[str, Any]) -> dict[str, Any]:
        tests = [_execution_filter(f["Key"], f["Values"]) for f in params.get("Filters") or []]
        # Newest first, as the console lists them.
        found = [
            e
            for e in sorted(self.executions.values(), key=lambda e: e.start, reverse=True)
            if all(test(e) for test in tests)
        ]
        page, token = _page(found, params)
        listed = [_drop_none({**_metadata(e), "AutomationType": "Local"}) for e in page]
        result: dict[str, Any] = {"AutomationExecutionMetadataList": listed}
        if token:
            result["NextToken"] = token
        return result

    def _describe_steps(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._find(params["AutomationExecutionId"])
        tests = [_step_filter(f["Key"], f["Values"]) for f in params.get("Filters") or []]
        steps = [s for s in execution.steps if all(test(s) for test in tests)]
        if params.get("ReverseOrder"):
            steps.reverse()
        page, token = _page(steps, params)
        result: dict[str, Any] = {"StepExecutions": [_step_view(s) for s in page]}
        if token:
            result["NextToken"] = token
        return result

    def _signal(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._find(params["AutomationExecutionId"])
        signal_type = params["SignalType"]
        if signal_type not in ("Approve", "Reject"):
            # StartStep/StopStep/Resume need Interactive mode; Revoke is for access requests.
            raise SsmError(
                "InvalidAutomationSignalException",
                f"Signal {signal_type} is not valid for Automation execution {execution.execution_id} in Auto mode.",
            )
        payload = params.get("Payload") or {}
        extra = sorted(set(payload) - {"Comment"})
        if extra:
            raise SsmError(
                "InvalidAutomationSignalException",
                f"Payload of a {signal_type} signal takes only Comment, not {', '.join(extra)}.",
            )
        comment = " ".join(payload.get("Comment") or []) or None
        self.runner.signal(execution, signal_type, self.principal, comment)
        return {}

    def _stop(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._find(params["AutomationExecutionId"])
        if execution.status in TERMINAL or execution.status == "Cancelling":
            raise SsmError(
                "InvalidAutomationStatusUpdateException",
                f"Automation execution {execution.execution_id} is already {execution.status}.",
            )
        # Type Complete only differs for Change Manager/runbook workflows; both cancel here.
        self.runner.stop(execution)
        return {}


# ---- views of the records (response shapes) --------------------------------------------------------


def _epoch(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _metadata(execution: ExecutionRecord) -> dict[str, Any]:
    """Fields shared by AutomationExecution and AutomationExecutionMetadata."""
    current = execution.current_step
    return {
        "AutomationExecutionId": execution.execution_id,
        "DocumentName": execution.document.name,
        "DocumentVersion": execution.document.version,
        "AutomationExecutionStatus": execution.status,
        "ExecutionStartTime": _epoch(execution.start),
        "ExecutionEndTime": _epoch(execution.end),
        "ExecutedBy": execution.executed_by,
        "Mode": execution.mode,
        "Outputs": execution.outputs or None,
        "FailureMessage": execution.failure_message,
        "CurrentStepName": current.spec.name if current else None,
        "CurrentAction": current.spec.action if current else None,
    }


def _step_view(step: StepRecord) -> dict[str, Any]:
    """A StepExecution: resolved Inputs as JSON text per key, as the console shows them."""
    return _drop_none(
        {
            "StepName": step.spec.name,
            "Action": step.spec.action,
            "TimeoutSeconds": step.timeout_seconds or None,
            "OnFailure": step.spec.on_failure,
            "MaxAttempts": 1,
            "ExecutionStartTime": _epoch(step.start),
            "ExecutionEndTime": _epoch(step.end),
            "StepStatus": step.status,
            "Inputs": {k: json.dumps(v) for k, v in step.inputs.items()} if step.inputs else None,
            "Outputs": step.outputs or None,
            "FailureMessage": step.failure_message,
            "FailureDetails": step.failure_details,
            "StepExecutionId": step.step_execution_id,
            "IsEnd": step.spec.is_end,
            "IsCritical": step.spec.is_critical,
            "NextStep": step.spec.next_step,
        }
    )


# ---- filters and paging ----------------------------------------------------------------------------


def _parse_time(text: str, key: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise SsmError("InvalidFilterValue", f"{key} value {text!r} is not an ISO 8601 time.") from exc


def _execution_filter(key: str, values: list[str]) -> Callable[[ExecutionRecord], bool]:
    if key == "DocumentNamePrefix":
        return lambda e: any(e.document.name.startswith(v) for v in values)
    if key == "ExecutionStatus":
        return lambda e: e.status in values
    if key == "ExecutionId":
        return lambda e: e.execution_id in values
    if key == "CurrentAction":
        return lambda e: e.current_step is not None and e.current_step.spec.action in values
    if key in ("StartTimeBefore", "StartTimeAfter"):
        when = _parse_time(values[0], key)
        return (lambda e: e.start < when) if key == "StartTimeBefore" else (lambda e: e.start > when)
    raise NotImplementedByEmulator(f"the SSM Automation emulator does not filter executions by {key}")


def _step_filter(key: str, values: list[str]) -> Callable[[StepRecord], bool]:
    if key == "StepName":
        return lambda s: s.spec.name in values
    if key == "StepExecutionStatus":
        return lambda s: s.status in values
    if key == "StepExecutionId":
        return lambda s: s.step_execution_id in values
    if key == "Action":
        return lambda s: s.spec.action in values
    raise NotImplementedByEmulator(f"the SSM Automation emulator does not filter steps by {key}")


def _page[T](items: list[T], params: dict[str, Any]) -> tuple[list[T], str | None]:
    size = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    token = params.get("NextToken")
    start = 0
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise SsmError("InvalidNextToken", "The specified token is not valid.")
        start = int(token)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


# ---- wire helpers ------------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode()
    return value if value is None else str(value)


def _parse_body(body: Any) -> dict[str, Any]:
    raw = body.read() if hasattr(body, "read") else body
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw:
        return {}
    try:
        params = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SsmError("ValidationException", f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise SsmError("ValidationException", "Request body must be a JSON object.")
    return params


def _request_region(headers: dict[str, Any]) -> str | None:
    auth = _header(headers, "Authorization") or _header(headers, "authorization") or ""
    found = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", auth)
    return found.group(1) if found else None


def _document_exists(ssm: Any, name: str) -> bool:
    try:
        ssm.describe_document(Name=name)
    except ClientError:
        return False
    return True


def _validation_error(problems: list[FieldProblem]) -> SsmError:
    """The message shape of AWS's JSON-protocol ValidationException ("1 validation error detected: ...")."""

    def member(path: str) -> str:
        return ".".join(part[:1].lower() + part[1:] for part in path.split("."))

    count = len(problems)
    details = "; ".join(
        f"Value at '{member(p.name)}' failed to satisfy constraint: {p.message}" for p in problems
    )
    return SsmError(
        "ValidationException", f"{count} validation error{'s' if count > 1 else ''} detected: {details}"
    )
