"""Advancing one server: decide its step from MGN's state, record it, run the guards and the step's action.

Every trigger (an MGN event, a CloudTrail call, the scheduled reconciler) comes through
:meth:`Pipeline.advance`, so a lost event is only a delay: the reconciler makes the same
decision from the same state later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mgn_pipeline.pipeline.fleet_metrics import emit_step_duration
from mgn_pipeline.shared.aws.server_registry import Observation, ServerRegistry
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep, next_step
from mgn_pipeline.shared.trigger import Trigger

# An action does the work a step calls for and says what it did, in words for the log.
StepAction = Callable[[SourceServer, Trigger], str]
# An account check keeps something account-wide right (e.g. replication templates).
AccountCheck = Callable[[Trigger], list[str]]

_IDLE_STEPS = {PipelineStep.NONE, PipelineStep.DONE}


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
        guards: Sequence[StepAction] = (),
        account_checks: Sequence[AccountCheck] = (),
        after_pass: Sequence[AccountCheck] = (),
        now: Callable[[], datetime] = utc_now,
        guard_recheck: timedelta = timedelta(0),
    ) -> None:
        """``guards`` run for every server with work ahead, before its step's action: they keep
        invariants (private replication settings) that must hold whatever the step.

        Guards cost reads (MGN, EC2) per server, so they run when the settings may have changed or
        are about to matter: the first time the pipeline sees a server, after an API call someone
        else made, when the server enters a new step (the step's action may launch an instance:
        the settings are checked just before), and otherwise once the last check is older than
        ``guard_recheck``. A state change within a step does not touch the settings, and a quiet
        wave is not polled every few minutes.
        """
        self._registry = registry
        self._guard_recheck = guard_recheck
        self._actions = dict(actions or {})
        self._guards = tuple(guards)
        self._account_checks = tuple(account_checks)
        # Run after the reconciler's pass over every server (e.g. asking a wave for approval).
        self._after_pass = tuple(after_pass)
        self._now = now

    def check_account(self, trigger: Trigger) -> list[str]:
        outcomes = [outcome for check in self._account_checks for outcome in check(trigger)]
        logger.info("account checked", extra={"trigger": trigger.label, "outcomes": outcomes})
        return outcomes

    def finish_pass(self, trigger: Trigger) -> list[str]:
        outcomes = [outcome for check in self._after_pass for outcome in check(trigger)]
        if outcomes:
            logger.info("pass finished", extra={"trigger": trigger.label, "outcomes": outcomes})
        return outcomes

    def advance(self, server: SourceServer, trigger: Trigger) -> Advance:
        step = next_step(server)
        now = self._now()
        observation = self._registry.record(server, step, trigger.label, now)
        emit_step_duration(observation, step, now)  # the time spent in the step it leaves, if it does
        recorded = observation.written
        outcomes: list[str] = []
        if step not in _IDLE_STEPS and self._guards:
            if self._guards_due(observation, step, trigger, now):
                outcomes = [guard(server, trigger) for guard in self._guards]
                self._registry.mark_guarded(server.server_id, now)
            else:
                outcomes = ["settings checked recently"]
        action = self._actions.get(step)
        if action is not None:
            outcomes.append(action(server, trigger))
        elif step not in _IDLE_STEPS:
            outcomes.append(f"no action enabled for {step.value}")
        outcome = "; ".join(outcomes) or "nothing to do"
        logger.info(
            "server advanced",
            extra={
                "server_id": server.server_id,
                "lifecycle": server.lifecycle.value,
                "replication": server.replication.value,
                "step": step.value,
                "trigger": trigger.label,
                "recorded": recorded,
                "outcome": outcome,
            },
        )
        return Advance(server.server_id, step, recorded, outcome)

    def _guards_due(
        self, observation: Observation, step: PipelineStep, trigger: Trigger, now: datetime
    ) -> bool:
        previous = observation.previous
        if trigger.settings_may_have_changed or previous is None or previous.step is not step:
            return True
        checked = previous.guards_checked_at
        return checked is None or now - datetime.fromisoformat(checked) >= self._guard_recheck
