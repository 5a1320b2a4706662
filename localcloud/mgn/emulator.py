"""HTTP plumbing of the MGN emulator: a botocore ``before-send.mgn`` hook that answers requests.

The hook sits in ``botocore.handlers.BUILTIN_HANDLERS`` (as moto's own hook does), so every
session and client created while it is installed, including an unmodified
``boto3.client("mgn")`` inside Lambda handler code, reaches the emulator, while moto's
``mock_aws`` keeps answering every other service.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.handlers
import botocore.session
from botocore import xform_name
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.model import OperationModel

from localcloud.clock import SimClock
from localcloud.mgn.api import MgnApi
from localcloud.mgn.applications import ApplicationRecord, WaveRecord
from localcloud.mgn.backend import MgnBackend
from localcloud.mgn.errors import (
    EmulatorBug,
    InjectedError,
    MgnError,
    NotImplementedByEmulator,
    ThrottlingError,
    UninitializedError,
    ValidationError,
)
from localcloud.mgn.events import DEFAULT_ROLE_NAME, Event
from localcloud.mgn.jobs import JobRecord, Timings
from localcloud.mgn.model_validation import FieldProblem, validate_shape
from localcloud.mgn.post_launch import PostLaunchWorld
from localcloud.mgn.quotas import Quotas
from localcloud.mgn.rate import RequestRate
from localcloud.mgn.server_state import ServerRecord
from localcloud.mgn.wire import RawBody, Routes, mgn_model, parse_request, request_region
from localcloud.pacing import spent

HOOK_EVENT = "before-send.mgn"
_HOOK_ID = "localcloud-mgn-emulator"
_READ_PREFIXES = ("Describe", "Get", "List")


def _group_params(name: str, description: str | None, tags: dict[str, str] | None) -> dict[str, Any]:
    """The CreateWave or CreateApplication request of a test's setup."""
    params: dict[str, Any] = {"name": name, "tags": dict(tags or {})}
    if description is not None:
        params["description"] = description
    return params


class MgnEmulator:
    """An emulated AWS MGN (Application Migration Service) for one account and region.

    Test-side helpers (not API): ``register_agent``, ``server``, ``job``, ``create_wave``,
    ``create_application``, ``wave``, ``application``, ``adjust_quotas``, ``calls``, ``events``,
    ``subscribe``, ``throttle_next``, ``post_launch``, ``remove_ssm_permissions``, ``fail_next_launch``, ``fail_next_call``, ``acting_as``.
    """

    def __init__(
        self,
        clock: SimClock,
        region: str = "us-east-1",
        account_id: str = "111122223333",
        *,
        initialized: bool = True,
        staging_subnet_id: str | None = None,
        launch_subnet_id: str | None = None,
        timings: Timings | None = None,
        quotas: Quotas | None = None,
        default_page_size: int = 100,
        ec2_client: Any | None = None,
        seed: int = 0,
        rate: RequestRate | None = None,
    ) -> None:
        """``default_page_size`` applies when a caller omits maxResults. MGN does not document its
        default; a small one makes callers that ignore nextToken fail in tests, not in production.
        ``quotas`` defaults to MGN's: 4,000 non-archived servers, 150 replicating (adjustable)."""
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.backend = MgnBackend(
            clock,
            region,
            account_id,
            initialized=initialized,
            staging_subnet_id=staging_subnet_id,
            launch_subnet_id=launch_subnet_id,
            timings=timings or Timings(),
            quotas=quotas or Quotas(),
            ec2_client=ec2_client,
            seed=seed,
        )
        self.api = MgnApi(self.backend, default_page_size)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # The requests of ``calls`` answered with ThrottlingException (MGN did nothing with them).
        self.throttled_calls: list[tuple[str, dict[str, Any]]] = []
        self._model = mgn_model()
        self._routes = Routes(self._model)
        self._op_names = {xform_name(n): n for n in self._model.operation_names}
        self._throttles: dict[str, list[int]] = {}
        self._random_throttle: random.Random | None = None
        self._throttle_rate = 0.0
        self.rate = rate or RequestRate()
        self._injected: dict[str, list[MgnError]] = {}
        self._principals = [f"arn:aws:iam::{account_id}:role/{DEFAULT_ROLE_NAME}"]
        self._hook: Callable[..., AWSResponse | None] = self._on_before_send
        self._installed = False

    # ---- test-side helpers -------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """Every event emitted so far, in order."""
        return self.backend.emitter.events

    @property
    def timings(self) -> Timings:
        return self.backend.timings

    @property
    def quotas(self) -> Quotas:
        return self.backend.quotas

    def adjust_quotas(self, **limits: int) -> Quotas:
        """Change quotas now, e.g. ``adjust_quotas(max_replicating_servers=1000)`` as an approved
        increase request would; servers waiting for a replication slot start if slots are free."""
        self.backend.quotas = dataclasses.replace(self.backend.quotas, **limits)
        self.backend.replication.admit_waiting()
        return self.backend.quotas

    @property
    def replicating_servers(self) -> int:
        """How many servers hold a slot of the replicating-servers quota."""
        return self.backend.replication.slots_in_use

    def subscribe(self, callback: Callable[[Event], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event from now on; returns an unsubscribe function."""
        return self.backend.emitter.subscribe(callback)

    def connect_link(
        self, capacity_mbps: float, change_rate_mbps: float = 0.0, source_cidr: str | None = None
    ) -> Any:
        """Servers replicate over a link of ``capacity_mbps`` from now on: their initial sync
        copies their disks' bytes at the rate the link and their throttle give (``mgn/link.py``).
        With ``source_cidr``, only servers whose source address is in it (a data centre's link);
        without, every server no such link takes."""
        return self.backend.replication.connect_link(capacity_mbps, change_rate_mbps, source_cidr)

    def register_agent(
        self,
        hostname: str,
        tags: dict[str, str] | None = None,
        *,
        replication_lag_seconds: float = 2.0,
        initiating_seconds: float | None = None,
        initial_sync_seconds: float | None = None,
        disks: list[dict[str, Any]] | None = None,
        user_provided_id: str | None = None,
        ip_address: str | None = None,
    ) -> str:
        """Simulate installing the replication agent on ``hostname``; returns the source server id.

        The server copies the default replication template (created on first use), gets a real
        EC2 launch template in moto, and starts replicating on the clock. Durations left as None
        come from the emulator's ``timings``; ``disks`` is ``[{"deviceName": ..., "bytes": ...}]``.
        Past ``quotas.max_source_servers`` non-archived servers it raises QuotaExceededError; while
        ``quotas.max_replicating_servers`` are replicating, the new server waits in INITIATING.
        """
        return self.backend.register_agent(
            hostname,
            tags,
            replication_lag_seconds=replication_lag_seconds,
            initiating_seconds=initiating_seconds,
            initial_sync_seconds=initial_sync_seconds,
            disks=disks,
            user_provided_id=user_provided_id,
            ip_address=ip_address,
        )

    def server(self, server_id: str) -> ServerRecord:
        """The internal record of a source server (for assertions)."""
        return self.backend.servers[server_id]

    def job(self, job_id: str) -> JobRecord:
        return self.backend.jobs[job_id]

    def wave(self, wave_id: str) -> WaveRecord:
        return self.backend.waves[wave_id]

    def application(self, application_id: str) -> ApplicationRecord:
        return self.backend.applications[application_id]

    def create_wave(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Create a wave as a test's setup (no CloudTrail event, not in ``calls``); returns its id."""
        return str(self._setup_call("CreateWave", _group_params(name, description, tags))["waveID"])

    def create_application(
        self,
        name: str,
        wave_id: str | None = None,
        server_ids: Iterable[str] = (),
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Create an application with its servers, in ``wave_id`` if given, as a test's setup."""
        params = _group_params(name, description, tags)
        app_id = str(self._setup_call("CreateApplication", params)["applicationID"])
        ids = list(server_ids)
        for start in range(0, len(ids), 50):  # the model's maximum per AssociateSourceServers
            self._setup_call(
                "AssociateSourceServers",
                {"applicationID": app_id, "sourceServerIDs": ids[start : start + 50]},
            )
        if wave_id is not None:
            self._setup_call("AssociateApplications", {"waveID": wave_id, "applicationIDs": [app_id]})
        return app_id

    def _setup_call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run an operation's handler with the API's checks, for test setup; MgnError on refusal."""
        op = self._model.operation_model(operation)
        problems = validate_shape(op.input_shape, params)
        if problems:
            raise ValidationError(f"invalid {operation} setup: {problems}", problems)
        result = self.api.operations[operation](params)
        if op.output_shape is not None and validate_shape(op.output_shape, result, skip_locations=True):
            raise EmulatorBug(f"emulator response for {operation} breaks the model")
        return result

    def throttle_randomly(self, share: float, seed: int) -> None:
        """From now on throttle ``share`` of the pipeline's calls at random (seeded), each with a
        retryAfterSeconds of 1 to 5, as MGN does under load. Calls outside a function are spared."""
        self._random_throttle = random.Random(seed) if share else None
        self._throttle_rate = share

    def throttle_next(self, operation_name: str, count: int = 1, retry_after: int = 5) -> None:
        """Answer the next ``count`` calls of the operation with ThrottlingException (HTTP 429)."""
        self._throttles.setdefault(self._op_name(operation_name), []).extend([retry_after] * count)

    @property
    def post_launch(self) -> PostLaunchWorld:
        """What post-launch actions meet on launched instances: set ``attach_instance_profile``,
        ``failing_actions`` or the durations (``mgn/post_launch.py``)."""
        return self.backend.post_launch.world

    def remove_ssm_permissions(self, profile: str | None = None) -> None:
        """The launched instances' profile (MGN's SSM one unless named) loses its SSM permissions in
        IAM: their SSM agent no longer registers, and no post-launch action runs."""
        if profile is None:
            self.backend.post_launch.remove_ssm_permissions()
        else:
            self.backend.post_launch.remove_ssm_permissions(profile)

    def fail_next_launch(self, server_id: str, reason: str = "Failed to launch target instance") -> None:
        """Make the next launch (test or cutover) of this server fail with ``reason`` in the job log."""
        self.server(server_id).launch_failure = reason

    def fail_next_call(
        self,
        operation_name: str,
        code: str,
        message: str = "Injected failure",
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        """Answer the next call of the operation with a modeled error, e.g. ServiceQuotaExceededException."""
        self._model.shape_for_error_code(code)  # KeyError on a typo rather than a silent mismatch
        self._injected.setdefault(self._op_name(operation_name), []).append(
            InjectedError(code, message, headers=headers, **fields)
        )

    @contextmanager
    def acting_as(self, principal_arn: str) -> Iterator[None]:
        """Attribute API calls made inside the block to ``principal_arn`` in CloudTrail events."""
        self._principals.append(principal_arn)
        try:
            yield
        finally:
            self._principals.pop()

    def _op_name(self, name: str) -> str:
        if name in self._model.operation_names:
            return str(name)
        if name in self._op_names:
            return str(self._op_names[name])
        raise KeyError(f"MGN has no operation {name!r}")

    # ---- installation ----------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[MgnEmulator]:
        """Answer MGN calls of every botocore session/client created inside the block."""
        if self._installed:
            raise RuntimeError("this MgnEmulator is already installed")
        entry = (HOOK_EVENT, self._hook)
        botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
        # boto3's default session may predate the hook (moto swaps it out, but not everyone does).
        default = boto3.DEFAULT_SESSION
        if default is not None:
            default.events.register_first(HOOK_EVENT, self._hook, unique_id=_HOOK_ID)
        self._installed = True
        try:
            yield self
        finally:
            self._installed = False
            handlers = botocore.handlers.BUILTIN_HANDLERS
            for i, item in enumerate(handlers):
                if item is entry:
                    del handlers[i]
                    break
            if default is not None:
                default.events.unregister(HOOK_EVENT, self._hook, unique_id=_HOOK_ID)

    def _on_before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        # Clients made while installed keep this handler; after uninstall it lets requests through.
        if not self._installed:
            return None
        status, headers, body = self.handle(
            request.method, request.url, dict(request.headers.items()), request.body
        )
        return AWSResponse(request.url, status, headers, RawBody(body))

    # ---- request handling ------------------------------------------------------------------------

    def handle(
        self, method: str, url: str, headers: dict[str, Any], body: Any
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request to the MGN endpoint: (status, headers, body)."""
        parts = urlsplit(url)
        route, match = self._routes.find(method, parts.path)
        if route is None or match is None:
            err = ValidationError(f"No MGN operation for {method} {parts.path}", reason="unknownOperation")
            return self._error_response(None, err)
        op = route.operation
        params: dict[str, Any] = {}
        error: MgnError | None = None
        result: dict[str, Any] | None = None
        try:
            params = parse_request(route, match, parts.query, body)
        except MgnError as exc:
            error = exc
        self.calls.append((op.name, params))
        if error is None:
            try:
                result = self._dispatch(op, params, headers)
            except MgnError as exc:
                error = exc
                if isinstance(exc, ThrottlingError):
                    self.throttled_calls.append((op.name, params))
        if not op.name.startswith(_READ_PREFIXES):
            self._cloudtrail(op.name, params, result, headers, error)
        if error is not None:
            return self._error_response(op, error)
        return self._success_response(op, result or {})

    def _dispatch(
        self, op: OperationModel, params: dict[str, Any], headers: dict[str, Any]
    ) -> dict[str, Any]:
        name = op.name
        self.rate.admit(name, self.clock.now())
        if (
            self._random_throttle
            and spent() is not None
            and self._random_throttle.random() < self._throttle_rate
        ):
            raise ThrottlingError(f"Rate exceeded for {name}", self._random_throttle.randint(1, 5))
        throttles = self._throttles.get(name)
        if throttles:
            raise ThrottlingError(f"Rate exceeded for {name}", throttles.pop(0))
        injected = self._injected.get(name)
        if injected:
            raise injected.pop(0)
        handler = self.api.operations.get(name)
        if handler is None:
            raise NotImplementedByEmulator(f"The MGN emulator does not implement {name}")
        problems = validate_shape(op.input_shape, params)
        if problems:
            raise ValidationError(
                f"{len(problems)} validation error(s) in {name} request: "
                + "; ".join(f"{p.name}: {p.message}" for p in problems),
                problems,
            )
        if params.get("accountID") not in (None, self.account_id):
            raise ValidationError(
                "accountID is not an account this service manages",
                [FieldProblem("accountID", "unknown account")],
                reason="other",
            )
        if name != "InitializeService" and not self._initialized_for(name, headers):
            raise UninitializedError()
        try:
            return handler(params)
        except MgnError as exc:
            # MGN answers an operation only with the errors its model declares for it (e.g. StartTest
            # has no ResourceNotFoundException: an unknown server is a ConflictException there).
            # ValidationException is left out: every operation validates its input (tags too),
            # whether or not its model lists the error.
            declared = {s.name for s in op.error_shapes}
            if exc.code not in declared and exc.code != "ValidationException":
                raise EmulatorBug(
                    f"emulator answered {name} with {exc.code}, which the model does not declare for it "
                    f"(declared: {', '.join(sorted(declared))})"
                ) from exc
            raise

    def _initialized_for(self, name: str, headers: dict[str, Any]) -> bool:
        declared = {s.name for s in self._model.operation_model(name).error_shapes}
        if "UninitializedAccountException" not in declared:
            return True
        # A call signed for another Region reaches an MGN that was never initialized there.
        return self.backend.initialized and request_region(headers) in (None, self.region)

    # ---- responses ---------------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "x-amzn-RequestId": self.backend.ids.uuid(),
            **(extra or {}),
        }

    def _success_response(
        self, op: OperationModel, result: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        problems = (
            validate_shape(op.output_shape, result, skip_locations=True)
            if op.output_shape
            else ([FieldProblem("", "operation has no output")] if result else [])
        )
        if problems:
            raise EmulatorBug(f"emulator response for {op.name} breaks the model: {problems}")
        status = int(op.http.get("responseCode", 200))
        body = b"" if status == 204 or op.output_shape is None else json.dumps(result).encode()
        return status, self._headers(), body

    def _error_response(
        self, op: OperationModel | None, error: MgnError
    ) -> tuple[int, dict[str, str], bytes]:
        body = error.body()
        if isinstance(error, NotImplementedByEmulator):
            status = NotImplementedByEmulator.status
        else:
            shape = self._model.shape_for_error_code(error.code)
            problems = validate_shape(shape, body, skip_locations=True)
            if problems:
                raise EmulatorBug(f"emulator error {error.code} breaks the model: {problems}")
            status = int(shape.metadata["error"]["httpStatusCode"])
        headers = self._headers({"x-amzn-ErrorType": error.code, **error.headers})
        return status, headers, json.dumps(body).encode()

    def _cloudtrail(
        self,
        name: str,
        params: dict[str, Any],
        result: dict[str, Any] | None,
        headers: dict[str, Any],
        error: MgnError | None,
    ) -> None:
        agent = headers.get("User-Agent") or headers.get("user-agent") or "unknown"
        if isinstance(agent, bytes):
            agent = agent.decode()
        # Small responses are recorded; big ones (server descriptions) are left out, as CloudTrail may.
        elements = result if result is not None and len(json.dumps(result)) <= 4096 else None
        self.backend.emitter.api_call(
            self.clock.now(),
            name,
            self._principals[-1],
            params or None,
            elements,
            str(agent),
            error=(error.code, error.message) if error else None,
        )

    def now(self) -> datetime:
        return self.clock.now()
