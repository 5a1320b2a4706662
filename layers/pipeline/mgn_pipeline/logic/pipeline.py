"""Advancing one server: decide its step from MGN's state, record it, run the step's action.

Every trigger (an MGN event, a CloudTrail call, the scheduled reconciler) comes through
:meth:`Pipeline.advance`, so a lost event is only a delay: the reconciler makes the same
decision from the same state later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mgn_pipeline.adapters.server_registry import ServerRegistry
from mgn_pipeline.domain.server import SourceServer
from mgn_pipeline.domain.steps import PipelineStep, next_step
from mgn_pipeline.observability import logger

# An action does the work a step calls for and says what it did, in words for the log.
StepAction = Callable[[SourceServer, str], str]


@dataclass(frozen=True, slots=True)
class Advance:
    server_id: str
    step: PipelineStep
    recorded: bool
    outcome: str


class Pipeline:
    def __init__(
        self,
        registry: ServerRegistry,
        actions: Mapping[PipelineStep, StepAction] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._registry = registry
        self._actions = dict(actions or {})
        self._now = now

    def advance(self, server: SourceServer, trigger: str) -> Advance:
        step = next_step(server)
        recorded = self._registry.record(server, step, trigger, self._now())
        action = self._actions.get(step)
        if action is None:
            outcome = "nothing to do" if step in {PipelineStep.NONE, PipelineStep.DONE} else "no action enabled"
        else:
            outcome = action(server, trigger)
        logger.info(
            "server advanced",
            extra={
                "server_id": server.server_id,
                "lifecycle": server.lifecycle.value,
                "replication": server.replication.value,
                "step": step.value,
                "trigger": trigger,
                "recorded": recorded,
                "outcome": outcome,
            },
        )
        return Advance(server.server_id, step, recorded, outcome)
