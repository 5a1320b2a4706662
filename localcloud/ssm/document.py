"""Automation runbooks (schemaVersion 0.3): parameters, steps and ``{{ reference }}`` resolution.

Only what an ``aws:approve`` runbook needs is modelled; the document text itself comes from
moto (``ssm.get_document``), so the file the real stack registers is the one under test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from localcloud.ssm.errors import DocumentError, SsmError

INVALID_PARAMETERS = "InvalidAutomationExecutionParametersException"

# {{ Name }}, {{ automation:EXECUTION_ID }}, {{ stepName.OutputName }}
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of the runbook's ``parameters`` section."""

    name: str
    type: str
    default: Any = None
    allowed_pattern: str | None = None
    allowed_values: tuple[str, ...] = ()
    min_items: int | None = None
    max_items: int | None = None

    @classmethod
    def parse(cls, name: str, raw: dict[str, Any]) -> ParameterSpec:
        return cls(
            name=name,
            type=str(raw.get("type", "String")),
            default=raw.get("default"),
            allowed_pattern=raw.get("allowedPattern"),
            allowed_values=tuple(str(v) for v in raw.get("allowedValues") or ()),
            min_items=raw.get("minItems"),
            max_items=raw.get("maxItems"),
        )

    def default_values(self) -> list[str] | None:
        """The default as the wire carries parameters (a list of strings), or None if required."""
        if self.default is None:
            return None
        items = self.default if isinstance(self.default, list) else [self.default]
        return [json.dumps(v) if isinstance(v, dict) else _text(v) for v in items]

    def convert(self, values: list[str]) -> Any:
        """Check ``values`` against the declared type and constraints; return the typed value."""
        if self.type == "StringList":
            if self.min_items is not None and len(values) < self.min_items:
                self._fail(f"needs at least {self.min_items} value(s), got {len(values)}")
            if self.max_items is not None and len(values) > self.max_items:
                self._fail(f"allows at most {self.max_items} value(s), got {len(values)}")
            for value in values:
                self._check_text(value)
            return list(values)
        if self.type in ("MapList",):
            return [self._json(v) for v in values]
        if len(values) != 1:
            self._fail(f"is of type {self.type} and takes exactly one value, got {len(values)}")
        value = values[0]
        if self.type == "Integer":
            try:
                return int(value)
            except ValueError:
                self._fail(f"value {value!r} is not an Integer")
        if self.type == "Boolean":
            if value not in ("true", "false"):
                self._fail(f"value {value!r} is not a Boolean (true or false)")
            return value == "true"
        if self.type == "StringMap":
            return self._json(value)
        self._check_text(value)
        return value

    def _check_text(self, value: str) -> None:
        if self.allowed_values and value not in self.allowed_values:
            self._fail(f"value {value!r} is not one of the allowed values {list(self.allowed_values)}")
        # SSM compiles allowedPattern as a Java regex and matches the whole value.
        if self.allowed_pattern and re.fullmatch(self.allowed_pattern, value) is None:
            self._fail(f"value {value!r} does not match the allowed pattern {self.allowed_pattern}")

    def _json(self, value: str) -> Any:
        try:
            return json.loads(value)
        except ValueError:
            self._fail(f"value {value!r} is not valid JSON for type {self.type}")

    def _fail(self, reason: str) -> NoReturn:
        raise SsmError(INVALID_PARAMETERS, f"Parameter {self.name} {reason}.")


@dataclass(frozen=True)
class StepSpec:
    """One entry of ``mainSteps``."""

    name: str
    action: str
    inputs: dict[str, Any]
    timeout_seconds: int | None
    on_failure: str
    is_end: bool
    next_step: str | None
    is_critical: bool = True

    @classmethod
    def parse(cls, raw: Any) -> StepSpec:
        if not isinstance(raw, dict) or "name" not in raw or "action" not in raw:
            raise DocumentError("every step needs a name and an action")
        timeout = raw.get("timeoutSeconds")
        return cls(
            name=str(raw["name"]),
            action=str(raw["action"]),
            inputs=dict(raw.get("inputs") or {}),
            timeout_seconds=int(timeout) if timeout is not None else None,
            on_failure=str(raw.get("onFailure", "Abort")),
            is_end=bool(raw.get("isEnd", False)),
            next_step=raw.get("nextStep"),
            is_critical=bool(raw.get("isCritical", True)),
        )


@dataclass(frozen=True)
class AutomationDocument:
    """A parsed Automation runbook at one version."""

    name: str
    version: str
    description: str
    parameters: dict[str, ParameterSpec]
    steps: list[StepSpec]
    outputs: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, name: str, version: str, content: str) -> AutomationDocument:
        """Parse runbook text (moto hands back JSON or YAML; YAML is a superset of JSON)."""
        try:
            raw = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise DocumentError(f"document {name} is not valid YAML/JSON: {exc}") from exc
        if not isinstance(raw, dict) or str(raw.get("schemaVersion")) != "0.3":
            raise DocumentError(f"document {name} is not an Automation runbook (schemaVersion 0.3)")
        steps = [StepSpec.parse(s) for s in raw.get("mainSteps") or []]
        if not steps:
            raise DocumentError(f"document {name} has no mainSteps")
        params = {n: ParameterSpec.parse(n, p or {}) for n, p in (raw.get("parameters") or {}).items()}
        return cls(
            name=name,
            version=version,
            description=str(raw.get("description", "")),
            parameters=params,
            steps=steps,
            outputs=[str(o) for o in raw.get("outputs") or []],
        )

    def bind(self, given: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, Any]]:
        """Apply defaults and check the caller's parameters.

        Returns the parameters as GetAutomationExecution reports them and their typed values.
        Raises InvalidAutomationExecutionParametersException as SSM does at start time.
        """
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise SsmError(
                INVALID_PARAMETERS,
                f"Parameter(s) {', '.join(unknown)} are not defined in the Automation document {self.name}.",
            )
        wire: dict[str, list[str]] = {}
        typed: dict[str, Any] = {}
        for name, spec in self.parameters.items():
            values = given.get(name)
            if values is None:
                values = spec.default_values()
                if values is None:
                    raise SsmError(INVALID_PARAMETERS, f"Parameter {name} is required but was not provided.")
            typed[name] = spec.convert(values)
            # An empty default ('') travels as an empty list: the model forbids empty strings.
            wire[name] = [v for v in values if v]
        return wire, typed

    def step_index(self, name: str) -> int:
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        raise DocumentError(f"step {name} does not exist in {self.name}")


def resolve(value: Any, lookup: Callable[[str], Any]) -> Any:
    """Replace ``{{ reference }}`` in a step input.

    A value that is one reference and nothing else takes the referenced value's type (so
    ``Approvers: '{{ Approvers }}'`` becomes a list); references inside longer text are
    substituted as text, where a list is an error, as in SSM.
    """
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return lookup(whole.group(1))

        def substitute(match: re.Match[str]) -> str:
            found = lookup(match.group(1))
            if isinstance(found, (list, dict)):
                raise DocumentError(f"{match.group(0)} is a list or map and cannot be embedded in text")
            return _text(found)

        return _REFERENCE.sub(substitute, value)
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, lookup) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
