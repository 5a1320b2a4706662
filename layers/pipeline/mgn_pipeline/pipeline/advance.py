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
from mgn_pipeline.shared.aws.server_registry import ServerRecord, ServerRegistry
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.steps import PipelineStep, next_step
from mgn_pipeline.shared.trigger import Trigger

# An action does the work a step calls for and says what it did, in words for the log.
StepAction = Callable[[SourceServer, Trigger], str]
# An account check keeps something account-wide right (e.g. replication templates).
AccountCheck = Callable[[Trigger], list[str]]
# A check after the reconciler's pass, given every server the pass read (asking a wave for
# approval, keeping the link budget).
PassCheck = Callable[[Trigger, Sequence[SourceServer]], list[str]]

_IDLE_STEPS = {PipelineStep.NONE, PipelineStep.DONE}
# The servers table's record of when the account checks last ran.
ACCOUNT_CHECKS = "replication-templates"


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
        step_guards: Sequence[StepAction] = (),
        account_checks: Sequence[AccountCheck] = (),
        after_pass: Sequence[PassCheck] = (),
        now: Callable[[], datetime] = utc_now,
        guard_recheck: timedelta = timedelta(0),
    ) -> None:
        """``guards`` run for every server with work ahead, before its step's action: they keep
        invariants (private replication settings) that must hold whatever the step.

        Guards cost reads (MGN, EC2) per server, so they run when the settings may have changed:
        the first time the pipeline sees a server, after an API call someone else made (CloudTrail),
        on a deployment, and otherwise once the last check is older than ``guard_recheck``. MGN's
        own state changes do not touch the settings, and a quiet wave is not polled every few
        minutes. ``step_guards`` are the cheap part (no MGN read: the EC2 launch template, which can
        change without an MGN call): they run whenever the server enters a new step, just before
        that step's action may launch an instance.
        """
        self._registry = registry
        self._guard_recheck = guard_recheck
        self._actions = dict(actions or {})
        self._guards = tuple(guards)
        self._step_guards = tuple(step_guards)
        self._account_checks = tuple(account_checks)
        # Run after the reconciler's pass over every server (e.g. asking a wave for approval).
        self._after_pass = tuple(after_pass)
        self._now = now

    def check_account(self, trigger: Trigger) -> list[str]:
        """The account checks (the replication templates). A scheduled run does them once per
        recheck interval: a change to a template is seen at once through CloudTrail, and every new
        server's own settings are checked when it is first seen."""
        now = self._now()
        if trigger.periodic and self._account_checks:
            checked = self._registry.account_checked_at(ACCOUNT_CHECKS)
            if checked is not None and now - checked < self._guard_recheck:
                return [f"account checked at {checked.isoformat()}"]
        outcomes = [outcome for check in self._account_checks for outcome in check(trigger)]
        if self._account_checks:
            self._registry.note_account_check(ACCOUNT_CHECKS, now)
        logger.info("account checked", extra={"trigger": trigger.label, "outcomes": outcomes})
        return outcomes

    def finish_pass(self, trigger: Trigger, servers: Sequence[SourceServer]) -> list[str]:
        outcomes = [outcome for check in self._after_pass for outcome in check(trigger, servers)]
        if outcomes:
            logger.info("pass finished", extra={"trigger": trigger.label, "outcomes": outcomes})
        return outcomes

    def read_ahead(self, server_ids: list[str]) -> None:
        """The records of servers about to be advanced, read together (the reconciler's page)."""
        self._registry.read_many(server_ids)

    def advance(self, server: SourceServer, trigger: Trigger) -> Advance:
        step = next_step(server)
        now = self._now()
        self._registry.observe(server)
        outcomes: list[str] = []
        guarded = False
        if step not in _IDLE_STEPS and self._guards:
            # Before the record is written, so that one write keeps both the state and when the
            # settings were checked. A guard that fails still lets the state be recorded, not the
            # check: the retry (or the next trigger) checks again.
            previous = self._registry.get(server.server_id)
            due = self._guards_due(previous, trigger, now)
            entering = previous is not None and previous.step is not step
            try:
                if due:
                    outcomes = [guard(server, trigger) for guard in self._guards]
                elif entering and self._step_guards:
                    outcomes = [guard(server, trigger) for guard in self._step_guards]
                else:
                    outcomes = ["settings checked recently"]
            except Exception:
                self._registry.record(server, step, trigger.label, now)
                raise
            guarded = due
        observation = self._registry.record(server, step, trigger.label, now, guards_checked=guarded)
        emit_step_duration(observation, step, now)  # the time spent in the step it leaves, if it does
        recorded = observation.written
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

    def _guards_due(self, previous: ServerRecord | None, trigger: Trigger, now: datetime) -> bool:
        if trigger.settings_may_have_changed or previous is None:
            return True
        checked = previous.guards_checked_at
        return checked is None or now - datetime.fromisoformat(checked) >= self._guard_recheck
