"""MGN's wire format as the emulator reads and writes it: botocore's model, routes, request params, bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel

from localcloud.mgn.errors import ValidationError

_service_model: ServiceModel | None = None


def mgn_model() -> ServiceModel:
    """botocore's MGN model (the source of truth for shapes), loaded once."""
    global _service_model
    if _service_model is None:
        _service_model = botocore.session.get_session().get_service_model("mgn")
    return _service_model


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    operation: OperationModel


def _build_routes(model: ServiceModel) -> list[Route]:
    routes = []
    for name in model.operation_names:
        op = model.operation_model(name)
        path = op.http["requestUri"].split("?", 1)[0]
        labels = tuple(re.findall(r"{([^}+]+)\+?}", path))
        regex = re.sub(r"{[^}]+}", "([^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
        routes.append(Route(op.http["method"], re.compile(regex + "$"), labels, op))
    return routes


class Routes:
    """Each operation's HTTP method and URI pattern, matched in the model's order."""

    def __init__(self, model: ServiceModel) -> None:
        self._routes = _build_routes(model)

    def find(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in self._routes:
            if route.method == method:
                match = route.pattern.match(path)
                if match:
                    return route, match
        return None, None


def parse_request(route: Route, match: re.Match[str], query: str, body: Any) -> dict[str, Any]:
    """The request's params: its JSON body, then its URI labels and query string by their model names."""
    raw = body.read() if hasattr(body, "read") else body
    if isinstance(raw, str):
        raw = raw.encode()
    params: dict[str, Any] = {}
    if raw:
        try:
            params = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Request body is not valid JSON: {exc}", reason="cannotParse") from exc
        if not isinstance(params, dict):
            raise ValidationError("Request body must be a JSON object", reason="cannotParse")
    shape = route.operation.input_shape
    members = shape.members if shape is not None else {}
    by_location = {
        (m.serialization.get("location"), m.serialization.get("name", n)): n
        for n, m in members.items()
        if m.serialization.get("location")
    }
    for label, value in zip(route.labels, match.groups(), strict=True):
        params[by_location.get(("uri", label), label)] = unquote(value)
    for key, values in parse_qs(query, keep_blank_values=True).items():
        name = by_location.get(("querystring", key), key)
        params[name] = values if name in members and members[name].type_name == "list" else values[-1]
    return params


def request_region(headers: dict[str, Any]) -> str | None:
    """The Region a SigV4-signed request was signed for, if it says."""
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    if isinstance(auth, bytes):
        auth = auth.decode()
    found = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", auth)
    return found.group(1) if found else None


class RawBody:
    """Just enough of urllib3's response for botocore to read the body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body
