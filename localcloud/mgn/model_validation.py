"""Check a value against a botocore shape: the checks MGN's front end makes.

botocore's client-side ParamValidator skips enums, patterns and maximums, and a caller can
switch it off, so the emulator checks every request itself. The same walker checks the
emulator's own responses, which turns a malformed response into a loud test failure
instead of a silent drift from the real service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from botocore.model import Shape


@dataclass(frozen=True)
class FieldProblem:
    """One failed constraint, named by its path in the request (``filters.sourceServerIDs[0]``)."""

    name: str
    message: str


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def validate_shape(
    shape: Shape | None, value: Any, path: str = "", *, skip_locations: bool = False
) -> list[FieldProblem]:
    """Return every constraint ``value`` breaks (empty list when it conforms).

    ``skip_locations`` leaves out top-level members bound to headers, the URI or the
    query string (used for response/error bodies, where those travel outside the JSON).
    """
    problems: list[FieldProblem] = []
    if shape is not None:
        _check(shape, value, path, problems, skip_locations)
    return problems


def _check(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is None:
        out.append(FieldProblem(path or shape.name, f"unsupported shape type {kind}"))
        return
    checker(shape, value, path, out, skip_loc)


def _structure(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, dict):
        out.append(FieldProblem(path or shape.name, f"expected an object, got {type(value).__name__}"))
        return
    members = shape.members
    located = {name for name, m in members.items() if skip_loc and m.serialization.get("location")}
    for key in value:
        if key not in members:
            out.append(FieldProblem(_join(path, key), "unknown field"))
    for req in shape.required_members:
        if req in located:
            continue
        if value.get(req) is None:
            out.append(FieldProblem(_join(path, req), "required field is missing"))
    set_members = [k for k, v in value.items() if k in members and v is not None]
    if shape.metadata.get("union") and len(set_members) != 1:
        out.append(FieldProblem(path or shape.name, "exactly one member must be set"))
    for key in set_members:
        if key in located:
            continue
        # Only the top level has header/URI bindings; nested members are all in the body.
        _check(members[key], value[key], _join(path, key), out, False)


def _list(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, list):
        out.append(FieldProblem(path, f"expected a list, got {type(value).__name__}"))
        return
    _length(shape, len(value), path, out, "items")
    for i, item in enumerate(value):
        _check(shape.member, item, f"{path}[{i}]", out, False)


def _map(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, dict):
        out.append(FieldProblem(path, f"expected an object, got {type(value).__name__}"))
        return
    _length(shape, len(value), path, out, "entries")
    for key, item in value.items():
        _check(shape.key, key, f"{path}.<key {key!r}>", out, False)
        _check(shape.value, item, f"{path}.{key}", out, False)


def _string(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, str):
        out.append(FieldProblem(path, f"expected a string, got {type(value).__name__}"))
        return
    _length(shape, len(value), path, out, "characters")
    enum = shape.enum
    if enum and value not in enum:
        out.append(FieldProblem(path, f"value {value!r} is not one of {', '.join(enum)}"))
    pattern = shape.metadata.get("pattern")
    # MGN's patterns are written for whole-string matching (see AccountID's ".*...*").
    if pattern and _compiled(pattern).fullmatch(value) is None:
        out.append(FieldProblem(path, f"value {value!r} does not match pattern {pattern}"))


def _integer(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(FieldProblem(path, f"expected an integer, got {type(value).__name__}"))
        return
    _range(shape, value, path, out)


def _float(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out.append(FieldProblem(path, f"expected a number, got {type(value).__name__}"))
        return
    _range(shape, value, path, out)


def _boolean(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, bool):
        out.append(FieldProblem(path, f"expected a boolean, got {type(value).__name__}"))


def _timestamp(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    # restJson1 carries timestamps as epoch seconds (numbers); accept ISO strings too.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        out.append(FieldProblem(path, f"expected a timestamp, got {type(value).__name__}"))


def _blob(shape: Shape, value: Any, path: str, out: list[FieldProblem], skip_loc: bool) -> None:
    if not isinstance(value, str):
        out.append(FieldProblem(path, "expected base64 text"))


def _length(shape: Shape, size: int, path: str, out: list[FieldProblem], unit: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and size < lo:
        out.append(FieldProblem(path, f"has {size} {unit}, minimum is {lo}"))
    if hi is not None and size > hi:
        out.append(FieldProblem(path, f"has {size} {unit}, maximum is {hi}"))


def _range(shape: Shape, value: float, path: str, out: list[FieldProblem]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and value < lo:
        out.append(FieldProblem(path, f"value {value} is below the minimum {lo}"))
    if hi is not None and value > hi:
        out.append(FieldProblem(path, f"value {value} is above the maximum {hi}"))


_CHECKERS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "float": _float,
    "double": _float,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "blob": _blob,
}
