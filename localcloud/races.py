"""Two invocations about the same server at once: the second runs whole inside the first's read-then-write.

On Lambda two containers of one function can hold the same server at the same moment: two events
about it in two SQS batches (EventBridge delivers at least once, MGN sends a state change and its
CloudTrail call together), or a gate task Step Functions retried while its first attempt still ran.
Both read the server's record, both decide, both write. The pipeline's answer is conditional writes;
this shows it holds. For a raced invocation, right after its first read of a record (a DynamoDB
GetItem, BatchGetItem or Query outside the idempotency table) the twin runs to the end in another
container; then the first goes on with what it read, now stale, and its conditional write meets
the twin's.

The twin of an SQS batch carries each event again under a new event id (a second event, not a
redelivery: the idempotency record would turn a redelivery away before it read anything); the twin
of a gate task is the same task. A twin that fails is dropped: its first still carries the delivery.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from localcloud.hooks import botocore_hooks

_BEFORE = "before-parameter-build.dynamodb.*"
_AFTER = "after-call.dynamodb.*"
_READS = ("GetItem", "BatchGetItem", "Query")
_TABLE = "localcloud_races_table"  # where the request context keeps the table a call reads
# Functions with more than one container (reserved concurrency above 1): only they can race.
RACING_FUNCTIONS = frozenset({"MgnEventFunction", "CutoverTasksFunction"})


@dataclass
class _Armed:
    function: str
    twin: Any
    run_twin: Callable[[Any], Any]


_ARMED: ContextVar[list[_Armed] | None] = ContextVar("localcloud_race_armed", default=None)


class NoContainerFree(RuntimeError):
    """Every container of the function is busy: no second invocation can run beside the first."""


def twin_event(event: Any) -> Any:
    """The second invocation's event: a batch's events again under new ids, or the same task."""
    twin = copy.deepcopy(event)
    records = twin.get("Records") if isinstance(twin, dict) else None
    if isinstance(records, list):
        for record in records:
            record["messageId"] = f"{record.get('messageId', '')}-twin"
            try:
                body = json.loads(record.get("body") or "")
            except ValueError:
                continue
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                body["id"] = f"{body['id']}-twin"
                record["body"] = json.dumps(body)
    return twin


class InvocationRaces:
    """Races ``share`` of the invocations of ``functions``, seeded."""

    def __init__(
        self,
        share: float,
        seed: int,
        functions: frozenset[str] = RACING_FUNCTIONS,
        skip_tables: tuple[str, ...] = ("Idempotency",),
    ) -> None:
        self.share = share
        self.functions = functions
        self.skip_tables = skip_tables
        self._rng = random.Random(seed)
        self.raced: Counter[str] = Counter()  # function -> twins run inside a first invocation
        self.twin_outcomes: Counter[str] = Counter()  # "ok" or the twin's error type
        self.after_read: Counter[str] = Counter()  # "Operation table" the twin ran after

    @contextmanager
    def invocation(self, function: str, event: Any, run_twin: Callable[[Any], Any]) -> Iterator[None]:
        armed = function in self.functions and self._rng.random() < self.share
        token = _ARMED.set([_Armed(function, twin_event(event), run_twin)] if armed else [])
        try:
            yield
        finally:
            _ARMED.reset(token)

    def _before(self, params: Any = None, context: Any = None, **_: Any) -> None:
        if isinstance(context, dict) and isinstance(params, dict):
            tables = (
                [params.get("TableName")] if "TableName" in params else list(params.get("RequestItems") or [])
            )
            context[_TABLE] = ",".join(map(str, tables))

    def _after(self, event_name: str = "", parsed: Any = None, context: Any = None, **_: Any) -> None:
        armed = _ARMED.get()
        if not armed or (isinstance(parsed, dict) and "Error" in parsed):
            return
        operation = event_name.rsplit(".", 1)[-1]
        table = context.get(_TABLE, "") if isinstance(context, dict) else ""
        if operation not in _READS or any(skip in table for skip in self.skip_tables):
            return
        race = armed.pop()
        _ARMED.set(None)  # the twin is no first invocation: it never races itself
        try:
            race.run_twin(race.twin)
            self.twin_outcomes["ok"] += 1
        except NoContainerFree:
            self.twin_outcomes["no container free"] += 1
            return
        except Exception as exc:  # the twin's own failure: counted, the first goes on
            self.twin_outcomes[getattr(exc, "error_type", type(exc).__name__)] += 1
        finally:
            _ARMED.set(armed)
        self.raced[race.function] += 1
        self.after_read[f"{operation} {','.join(name.rsplit('-', 1)[0] for name in table.split(','))}"] += 1

    @contextmanager
    def installed(self) -> Iterator[InvocationRaces]:
        with botocore_hooks([(_BEFORE, self._before), (_AFTER, self._after)], name="localcloud-races"):
            yield self
