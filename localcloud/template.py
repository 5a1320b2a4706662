"""Read the SAM template the way CloudFormation would, as far as the local tests need it.

PyYAML does not know CloudFormation's short tags (``!Ref``, ``!GetAtt`` ...), so a dedicated
loader turns them into the long JSON form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``); the rest
of the code then only deals with one form. ``resolve`` evaluates the intrinsics the pipeline's
functions and rules use, over a dict of names the local stack knows (see ``functions.deploy_stack``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

# Short tag -> long form key. "Ref" and "Condition" keep their names; the others are "Fn::<Name>".
_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "Sub",
            "GetAtt",
            "If",
            "Select",
            "Split",
            "Equals",
            "Not",
            "And",
            "Or",
            "Join",
            "FindInMap",
            "GetAZs",
            "ImportValue",
            "Base64",
            "Cidr",
            "Transform",
            "Length",
            "ToJsonString",
        )
    },
}


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags into their long form."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SHORT_TAGS.get(tag_suffix)
    if key is None:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{tag_suffix}", node.start_mark)
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if key == "Fn::GetAtt":
            # "!GetAtt Res.Attr" -> ["Res", "Attr"] (attributes may themselves contain dots).
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML (short tags included) into plain Python data."""
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader derives from SafeLoader


class UnresolvedError(KeyError):
    """``resolve`` met a name (Ref, GetAtt, Sub variable, condition) it was not given."""


# ---------------------------------------------------------------- template model


@dataclass(frozen=True)
class EventSource:
    """An EventBridge rule or schedule that reaches a function: an ``Events`` entry of the function
    (SAM generates the rule), or an ``AWS::Events::Rule`` whose target is a queue the function reads."""

    function: str  # logical id of the function
    name: str  # the event's key under Events, or the rule's logical id
    type: str  # "Schedule" or "EventBridgeRule"
    properties: dict[str, Any]
    # Set for an AWS::Events::Rule resource: its logical id and the queue it targets.
    logical_id: str | None = None
    queue: str | None = None

    @property
    def rule_logical_id(self) -> str:
        # SAM names the generated AWS::Events::Rule <FunctionLogicalId><EventName>.
        return self.logical_id or f"{self.function}{self.name}"

    @property
    def pattern(self) -> dict[str, Any] | None:
        return self.properties.get("Pattern")

    @property
    def schedule(self) -> Any:
        """The schedule expression (may still be an intrinsic, e.g. a Ref to a parameter)."""
        return self.properties.get("Schedule")

    @property
    def retry_policy(self) -> dict[str, Any] | None:
        return self.properties.get("RetryPolicy")

    @property
    def dead_letter_config(self) -> dict[str, Any] | None:
        return self.properties.get("DeadLetterConfig")

    @property
    def dead_letter_logical_id(self) -> str | None:
        """The logical id of the DLQ queue (from ``Arn: !GetAtt Queue.Arn``), if any."""
        dlc = self.dead_letter_config or {}
        return _logical_id_of(dlc.get("Arn"))


@dataclass(frozen=True)
class QueueSource:
    """A function's ``Type: SQS`` event: Lambda's event source mapping reading a queue in batches."""

    function: str
    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int
    batching_window_s: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class FunctionSpec:
    """What the local runtime needs to know about an ``AWS::Serverless::Function``."""

    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]  # Globals merged with the function's; values may be intrinsics
    timeout: int
    memory_size: int
    maximum_retry_attempts: int | None
    on_failure_logical_id: str | None
    on_failure_type: str | None
    events: list[EventSource] = field(default_factory=list)
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; None: the account's pool


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _logical_id_of(value: Any) -> str | None:
    """``{"Fn::GetAtt": [X, "Arn"]}`` or ``{"Ref": X}`` -> ``X``; anything else -> None."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


class Template:
    """A SAM/CloudFormation template loaded with short tags understood."""

    def __init__(self, data: Mapping[str, Any], path: Path | None = None) -> None:
        self.data = dict(data)
        self.path = path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TEMPLATE) -> Template:
        path = Path(path)
        return cls(load_yaml(path.read_text()), path)

    @property
    def root(self) -> Path:
        """Directory CodeUri paths are relative to."""
        return self.path.parent if self.path else REPO_ROOT

    def resources(self) -> dict[str, dict[str, Any]]:
        """Plain resources; ``Fn::ForEach::*`` blocks (LanguageExtensions) are left out, not expanded."""
        return {
            key: value
            for key, value in (self.data.get("Resources") or {}).items()
            if not key.startswith("Fn::ForEach::")
        }

    def runbook(self, logical_id: str) -> str:
        """An ``AWS::SSM::Document``'s content as YAML: the template is the runbooks' only source."""
        document = self.resources()[logical_id]
        if document.get("Type") != "AWS::SSM::Document":
            raise KeyError(f"{logical_id} is not an AWS::SSM::Document")
        return str(yaml.safe_dump(document["Properties"]["Content"], sort_keys=False))

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: res for key, res in self.resources().items() if res.get("Type") == resource_type}

    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Parameters") or {})

    def parameter_values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``overrides``; list-typed parameters become lists.

        Parameters with neither a default nor an override are left out (a Ref to one raises).
        """
        values: dict[str, Any] = {}
        overrides = dict(overrides or {})
        for name, spec in self.parameters().items():
            if name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                continue
            ptype = str(spec.get("Type", "String"))
            if isinstance(value, str) and (ptype == "CommaDelimitedList" or ptype.startswith("List<")):
                value = [item.strip() for item in value.split(",")] if value else []
            elif ptype == "Number":
                value = str(value)  # CloudFormation hands Number parameters around as strings
            values[name] = value
        return values

    def conditions(self, refs: Mapping[str, Any]) -> dict[str, bool]:
        """Evaluate every entry of ``Conditions`` (they may refer to each other)."""
        raw = self.data.get("Conditions") or {}
        done: dict[str, bool] = {}

        def evaluate(name: str, stack: tuple[str, ...] = ()) -> bool:
            if name in done:
                return done[name]
            if name in stack:
                raise ValueError(f"condition cycle: {' -> '.join((*stack, name))}")
            if name not in raw:
                raise UnresolvedError(f"unknown condition {name}")
            done[name] = bool(resolve(raw[name], refs, _LazyConditions(evaluate, (*stack, name))))
            return done[name]

        for name in raw:
            evaluate(name)
        return done

    def globals_function(self) -> dict[str, Any]:
        return dict((self.data.get("Globals") or {}).get("Function") or {})

    def functions(self) -> dict[str, FunctionSpec]:
        """Every ``AWS::Serverless::Function``, with Globals applied the way SAM applies them."""
        glob = self.globals_function()
        global_env = ((glob.get("Environment") or {}).get("Variables")) or {}
        specs: dict[str, FunctionSpec] = {}
        for logical_id, res in self.resources_of_type("AWS::Serverless::Function").items():
            props = res.get("Properties") or {}
            env = {**global_env, **(((props.get("Environment") or {}).get("Variables")) or {})}
            invoke_cfg = props.get("EventInvokeConfig") or {}
            on_failure = ((invoke_cfg.get("DestinationConfig") or {}).get("OnFailure")) or {}
            events = [
                EventSource(logical_id, name, str(ev.get("Type")), dict(ev.get("Properties") or {}))
                for name, ev in (props.get("Events") or {}).items()
            ]
            retries = invoke_cfg.get("MaximumRetryAttempts")
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=str(props.get("CodeUri", glob.get("CodeUri", ""))),
                handler=str(props.get("Handler", glob.get("Handler", ""))),
                environment=env,
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
                memory_size=int(props.get("MemorySize", glob.get("MemorySize", 128))),
                maximum_retry_attempts=None if retries is None else int(retries),
                on_failure_logical_id=_logical_id_of(on_failure.get("Destination")),
                on_failure_type=on_failure.get("Type"),
                events=events,
                reserved_concurrency=_int_or_none(props.get("ReservedConcurrentExecutions")),
            )
        return specs

    def events(self) -> list[EventSource]:
        """Every rule and schedule that reaches a function, in template order: the functions'
        EventBridge and schedule events, then the rules that target a queue a function reads."""
        direct = [
            ev
            for spec in self.functions().values()
            for ev in spec.events
            if ev.type in {"Schedule", "EventBridgeRule"}
        ]
        reader = {source.queue: source.function for source in self.queue_sources()}
        queued = []
        for logical_id, res in self.resources_of_type("AWS::Events::Rule").items():
            props = res.get("Properties") or {}
            for target in props.get("Targets") or []:
                queue = _logical_id_of(target.get("Arn"))
                if queue in reader:
                    queued.append(
                        EventSource(
                            reader[queue],
                            logical_id,
                            "EventBridgeRule",
                            {
                                "Pattern": props.get("EventPattern"),
                                "RetryPolicy": target.get("RetryPolicy"),
                                "DeadLetterConfig": target.get("DeadLetterConfig"),
                            },
                            logical_id=logical_id,
                            queue=queue,
                        )
                    )
        return direct + queued

    def queue_sources(self) -> list[QueueSource]:
        """Every function's SQS event source mapping."""
        found = []
        for spec in self.functions().values():
            for ev in spec.events:
                if ev.type != "SQS":
                    continue
                queue = _logical_id_of(ev.properties.get("Queue"))
                if queue is None:
                    raise ValueError(f"{spec.logical_id}.{ev.name}: Queue must be a !GetAtt of a queue")
                found.append(
                    QueueSource(
                        function=spec.logical_id,
                        queue=queue,
                        batch_size=int(ev.properties.get("BatchSize", 10)),
                        batching_window_s=int(ev.properties.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (ev.properties.get("FunctionResponseTypes") or []),
                    )
                )
        return found


# ---------------------------------------------------------------- intrinsic resolution


class _LazyConditions(Mapping[str, bool]):
    """Conditions evaluated on demand, so ``Conditions`` entries may use ``Condition``."""

    def __init__(self, evaluate: Any, stack: tuple[str, ...]) -> None:
        self._evaluate = evaluate
        self._stack = stack

    def __getitem__(self, name: str) -> bool:
        return bool(self._evaluate(name, self._stack))

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def _lookup(refs: Mapping[str, Any], name: str) -> Any:
    if name not in refs:
        raise UnresolvedError(name)
    return refs[name]


def _sub(template: str, refs: Mapping[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"  # ${!Literal} escapes a literal ${Literal}
        value = _lookup(refs, name)
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    return _SUB_VAR.sub(replace, template)


def resolve(value: Any, refs: Mapping[str, Any], conditions: Mapping[str, bool] | None = None) -> Any:
    """Evaluate intrinsic functions in ``value`` recursively.

    ``refs`` maps ``Ref`` names (logical ids, parameters, pseudo parameters such as
    ``AWS::Region``) to values, and ``"Logical.Attr"`` keys to ``Fn::GetAtt`` results.
    ``conditions`` maps condition names to booleans for ``Fn::If`` / ``Condition``.
    Unknown names raise :class:`UnresolvedError`.
    """
    conditions = conditions or {}
    if isinstance(value, list):
        return [resolve(item, refs, conditions) for item in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return _lookup(refs, str(arg))
        if key == "Condition" and isinstance(arg, str):
            if arg not in conditions:
                raise UnresolvedError(f"condition {arg}")
            return conditions[arg]
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else resolve(arg, refs, conditions)
            return _lookup(refs, f"{parts[0]}.{parts[1]}")
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return _sub(arg, refs)
            text, variables = arg
            local = {**refs, **{k: resolve(v, refs, conditions) for k, v in variables.items()}}
            return _sub(text, local)
        if key == "Fn::If":
            name, when_true, when_false = arg
            if name not in conditions:
                raise UnresolvedError(f"condition {name}")
            chosen = when_true if conditions[name] else when_false
            return resolve(chosen, refs, conditions)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(item) for item in resolve(items, refs, conditions))
        if key == "Fn::Select":
            index, items = resolve(arg, refs, conditions)
            return items[int(index)]
        if key == "Fn::Split":
            sep, text = resolve(arg, refs, conditions)
            return str(text).split(str(sep))
        if key == "Fn::Equals":
            left, right = resolve(arg, refs, conditions)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not resolve(arg[0], refs, conditions)
        if key == "Fn::And":
            return all(resolve(item, refs, conditions) for item in arg)
        if key == "Fn::Or":
            return any(resolve(item, refs, conditions) for item in arg)
        if key.startswith("Fn::"):
            raise NotImplementedError(f"intrinsic {key} is not supported by localcloud.template.resolve")
    return {k: resolve(v, refs, conditions) for k, v in value.items()}


def create_table(dynamodb: Any, logical_id: str, name: str) -> str:
    """Create the template's table ``logical_id`` under ``name``, with its key schema and indexes
    (for benchmarks and tests that run a store without the whole stack)."""
    props = Template.load().resources()[logical_id]["Properties"]
    table: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("GlobalSecondaryIndexes"):
        table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    dynamodb.create_table(**table)
    return name
