"""The WSGI application behind the local cloud's endpoint (served by ``localcloud.endpoint``).

Requests are answered by the same objects the in-process clients reach: the MGN and SSM Automation
emulators through their ``handle`` entry points (the ones their botocore hooks use), everything else
by moto's own server application, whose backends are process-global and so hold the local cloud's
state. One lock serialises the requests and the clock's steps: the local cloud is not thread-safe.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from localcloud.endpoint_routing import CONTROL_PREFIX, Backend, backend_for, ssm_operation
from localcloud.gate import CutoverCloud
from localcloud.mgn import MgnError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# The clock moves in steps of at most this (executions settle around each), as the demo moves it.
STEP_SECONDS = 30.0
# One control call moves the clock at most a week: a typo should not run the wave for a year.
MAX_ADVANCE_SECONDS = 7 * 24 * 3600.0
_JSON = "application/json"


class ControlError(Exception):
    """A control call the endpoint refuses (HTTP 400 with the reason)."""


class LocalCloudEndpoint:
    """Answers AWS requests and the endpoint's control calls for one running local cloud.

    moto does not check who signed a request, so every AWS call through the endpoint is
    attributed to ``principal`` (CloudTrail's user identity, the approver an SSM signal comes from).
    """

    def __init__(self, gate: CutoverCloud, principal: str) -> None:
        self.gate = gate
        self.principal = principal
        self.lock = threading.Lock()
        self._moto = DomainDispatcherApplication(create_backend_app)

    # ---- what the control calls and the clock's ticker do --------------------------------------

    def advance(self, seconds: float) -> datetime:
        """Move simulated time by ``seconds``; returns the new time."""
        if not 0 < seconds <= MAX_ADVANCE_SECONDS:
            raise ControlError(f"seconds must be more than 0 and at most {MAX_ADVANCE_SECONDS:.0f}")
        with self.lock:
            self.gate.pass_time(seconds, every=STEP_SECONDS)
            return self.gate.clock.now()

    def install_agent(self, hostname: str, tags: dict[str, str]) -> str:
        """What installing MGN's replication agent on ``hostname`` does; returns the source server id."""
        with self.lock:
            try:
                return self.gate.mgn.register_agent(hostname, tags=tags)
            except MgnError as refused:  # past the source-server quota, as MGN would refuse it
                raise ControlError(refused.message) from refused

    def now(self) -> datetime:
        with self.lock:
            return self.gate.clock.now()

    # ---- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        headers = dict(request.headers.items())
        backend = backend_for(request.path, headers)
        if backend is Backend.CONTROL:
            return self._control(request)(environ, start_response)
        if backend is Backend.MOTO:
            with self.lock:
                # Read the whole answer inside the lock: moto's may be produced lazily.
                return _read_whole(self._moto(environ, start_response))
        body = request.get_data()
        with self.lock:
            if backend is Backend.MGN:
                with self.gate.mgn.acting_as(self.principal):
                    status, answer_headers, answer = self.gate.mgn.handle(
                        request.method, _raw_url(environ), headers, body
                    )
            else:
                with self.gate.ssm.acting_as(self.principal):
                    status, answer_headers, answer = self.gate.ssm.handle(
                        ssm_operation(headers), headers, body
                    )
        return Response(answer, status=status, headers=answer_headers)(environ, start_response)

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        try:
            if route == ("GET", ""):
                return _json(HTTPStatus.OK, self._describe())
            if route == ("GET", "clock"):
                return _json(HTTPStatus.OK, {"now": self.now().isoformat()})
            if route == ("POST", "clock"):
                seconds = _number(_body(request), "seconds")
                return _json(HTTPStatus.OK, {"now": self.advance(seconds).isoformat()})
            if route == ("POST", "agents"):
                body = _body(request)
                hostname, tags = _text(body, "hostname"), _tags(body.get("tags", {}))
                server_id = self.install_agent(hostname, tags)
                return _json(HTTPStatus.CREATED, {"sourceServerID": server_id, "hostname": hostname})
        except ControlError as refused:
            return _json(HTTPStatus.BAD_REQUEST, {"message": str(refused)})
        return _json(HTTPStatus.NOT_FOUND, {"message": f"no control call {route[0]} {request.path}"})

    def _describe(self) -> dict[str, Any]:
        cloud = self.gate.cloud
        return {
            "region": cloud.mgn.region,
            "accountId": cloud.mgn.account_id,
            "principal": self.principal,
            "now": self.now().isoformat(),
            "stack": {
                key: cloud.stack.refs[key] for key in ("ServersTable", "AuditTable", "CutoverGateTable")
            },
        }


def _read_whole(answer: Iterable[bytes]) -> list[bytes]:
    """All of a WSGI answer, then closed, as WSGI asks of whoever consumes one."""
    try:
        return list(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()


def _raw_url(environ: WSGIEnvironment) -> str:
    """The request's URL as the client sent it: MGN's path labels (ARNs) stay percent-encoded."""
    target = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    query = environ.get("QUERY_STRING", "")
    if query and "?" not in target:
        target = f"{target}?{query}"
    return f"http://localcloud{target}"


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type=_JSON)


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise ControlError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{key} must be a number")
    return float(value)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ControlError(f"{key} must be a non-empty string")
    return value


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in [*value, *value.values()]):
        raise ControlError("tags must be an object of strings")
    return dict(value)
