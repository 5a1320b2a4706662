"""moto's slow paths taken out of a wave's way (what moto answers is unchanged), and a calmer cyclic GC."""

from __future__ import annotations

import copy
import functools
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any


@contextmanager
def faster_emulation() -> Iterator[None]:
    """Take moto's per-request and per-execution slow paths out of the way; what they answer is unchanged.

    - moto parses a state machine's ASL with the pure-Python ANTLR runtime again for every execution
      (``ExecutionWorker._get_evaluation_entrypoint``, about 0.5 s of CPU for the cutover gate): parse
      each definition once and share the program. Its components keep no evaluation state (that lives
      in each execution's ``Environment``; only Map/Parallel workers, which the gate has none of, do);
      each component's lazy ``heap_key`` is fixed before the program is shared between threads.
    - moto makes a new boto3 Lambda client for every Lambda task (``boto_client_for``): one per Region.
    - moto lists a response class's methods with ``inspect.getmembers`` on every request
      (``method_names_from_class``): once per class.
    - moto loads the Lambda service model and builds its URL router on first use, behind an unlocked
      ``functools.cache``: the first gate executions, in their own threads, all miss it together and
      each builds it (about 15 s of CPU at the start of a wave): built once here, before any execution.
    - moto parses each JSONPath (``$.serverId``, ``$$.Task.Token``, a ResultPath ...) again at every
      use, with a PLY parser (about 0.7 ms each, a few dozen per execution): once per path. The parsed
      expressions are not changed by ``find`` or ``update_or_create``.
    - moto's response serializer asks six alias providers, for every member of every response, which
      keys to try (``XFormedAttributePicker.get_possible_keys``): their answer depends on the object's
      class, the member and its shape only, so it is kept per (class, member, shape).
    - moto's DynamoDB ``UpdateItem`` parses its UpdateExpression twice per call with a hand-written
      recursive-descent parser (about 0.5 ms each): once per expression text. The request handler only
      reads the tree (which placeholders it names) and gets the shared tree; the backend's validator
      rewrites the tree it is given and gets a copy (cheaper than a parse). An expression that does not
      parse raises every time, as before.
    """
    from moto.core import responses, routing, serialize
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb import responses as dynamodb_responses
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]  # module opts out of typing
        UpdateExpressionParser,
    )
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    routing.get_service_router("lambda")  # Step Functions' Lambda tasks reach moto's Lambda through it
    lock = threading.Lock()
    programs: dict[str, Any] = {}
    clients: dict[tuple[str, str], Any] = {}
    methods: dict[type, list[str]] = {}
    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_client_for = lambda_eval_utils.boto_client_for
    original_methods = responses.method_names_from_class

    def entrypoint(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _fix_heap_keys(program, EvalComponent)
                programs[definition] = program
            return programs[definition]

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original_client_for(region, service, state_credentials)
            return clients[(region, service)]

    def method_names(clazz: Any) -> list[str]:
        if clazz not in methods:
            methods[clazz] = original_methods(clazz)
        return methods[clazz]

    picker = serialize.XFormedAttributePicker
    original_pick = picker.__call__
    original_keys = picker.get_possible_keys
    get_value = serialize.get_value
    missing = serialize.MISSING
    # (picker class, object class, key, shape) -> the keys moto's alias providers would try, in order.
    # What the providers decide depends on those alone (the object's Meta is its class's).
    candidates: dict[tuple[type, type, str, int], tuple[Any, list[str]]] = {}

    def pick(self: Any, context: Any) -> Any:
        obj, key, shape = context.obj, context.key, context.shape
        cache_key = (type(self), type(obj), key, id(shape))
        cached = candidates.get(cache_key)
        if cached is None or cached[0] is not shape:
            cached = (shape, list(original_keys(self, context)))
            candidates[cache_key] = cached
        for possible_key in cached[1]:
            value = get_value(obj, possible_key, missing)
            if value is not missing:
                break
        else:
            value = None
        if self.response_transformers:
            key_path = f"{context.key_path}.{key}"
            for transform_path, transform in self.response_transformers.items():
                if key_path.endswith(transform_path):
                    return transform(value)
        return value

    update_trees: dict[str, Any] = {}

    def shared_update_tree(expression: str) -> Any:
        tree = update_trees.get(expression)
        if tree is None:
            tree = update_trees[expression] = UpdateExpressionParser.make(expression)
        return tree

    # Each module sees the parser under its own name: swap the name, not the class both share.
    update_parsers = {
        dynamodb_responses: SimpleNamespace(make=shared_update_tree),
        dynamodb_models: SimpleNamespace(
            make=lambda expression: copy.deepcopy(shared_update_tree(expression))
        ),
    }
    for module, parser in update_parsers.items():
        module.UpdateExpressionParser = parser  # type: ignore[attr-defined]
    parsers = {module: module.parse for module in (json_path, result_path)}
    for module, parse in parsers.items():
        module.parse = functools.lru_cache(maxsize=4096)(parse)  # type: ignore[attr-defined]
    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]
    lambda_eval_utils.boto_client_for = client_for
    responses.method_names_from_class = method_names
    picker.__call__ = pick  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module, parse in parsers.items():
            module.parse = parse  # type: ignore[attr-defined]
        for module in update_parsers:
            module.UpdateExpressionParser = UpdateExpressionParser  # type: ignore[attr-defined]
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = original_client_for
        responses.method_names_from_class = original_methods
        picker.__call__ = original_pick  # type: ignore[method-assign]


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic GC runs far less often: a wave's heap (moto's state, histories, ~2 threads per gate
    execution) grows with the wave, and each full collection walks all of it."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()  # what exists now (modules, models) is never collected again
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def _fix_heap_keys(root: Any, component_type: type) -> None:
    """Touch every component's lazy ``heap_key`` so threads sharing the program all read the same key."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, component_type):
            _ = item.heap_key  # type: ignore[attr-defined]
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
            stack.extend(vars(item).values())
