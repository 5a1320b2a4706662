"""An EventBridge default bus for the template's rules, on simulated time, with fault injection.

moto's EventBridge cannot target a Lambda function (it raises NotImplementedError), so this bus
reads the rules from the template, matches events with moto's own pattern matcher, and delivers
to ``LocalFunctions.invoke_async`` on the :class:`~localcloud.clock.SimClock`, or to the queue a
rule targets, which a function reads in batches (``localcloud.queues``). Delivery that
fails (``fail_delivery_next``) is retried per the rule's RetryPolicy and then sent to its
DeadLetterConfig queue in moto SQS, in the shape EventBridge uses.

Faults (drop, duplicate, delay, reorder) model what a test must survive: EventBridge delivers
at least once, not in order, and events can be lost before they reach the bus.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from moto.events.models import EventPattern

from localcloud.clock import SimClock
from localcloud.functions import LocalFunctions
from localcloud.queues import LocalQueueSources
from localcloud.template import EventSource, Template, resolve

Event = dict[str, Any]

DEFAULT_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


@dataclass
class Rule:
    """One rule the template declares (SAM makes one per function event)."""

    name: str  # <Function><Event>, as SAM names the generated rule
    arn: str
    function: str  # logical id of the target function
    target_arn: str
    source: EventSource
    pattern: dict[str, Any] | None
    schedule: str | None
    max_retries: int
    max_event_age_s: int
    dlq_url: str | None
    queue: str | None = None  # the target is this queue (a function reads it in batches)

    def __post_init__(self) -> None:
        # moto's own matcher: the same semantics moto gives put_events to SQS targets.
        self._matcher = EventPattern.load(json.dumps(self.pattern)) if self.pattern is not None else None

    def matches(self, event: Event) -> bool:
        return self._matcher is not None and bool(self._matcher.matches_event(event))  # type: ignore[arg-type]


class LocalEventBus:
    """The default event bus with the template's rules, targets and schedules."""

    def __init__(
        self,
        template: Template,
        functions: LocalFunctions,
        clock: SimClock,
        *,
        delivery_delay_s: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.functions = functions
        self.clock = clock
        self.delivery_delay_s = delivery_delay_s
        self._rng = random.Random(seed)  # seeded: reordering is the same on every run
        # Queues that rules target and functions read through an event source mapping.
        self.queues = LocalQueueSources(template, functions, clock)
        self.rules: dict[str, Rule] = {ev.rule_logical_id: self._rule(ev) for ev in template.events()}
        self.stats: dict[str, Counter[str]] = defaultdict(Counter)  # per rule name
        self.faults: Counter[str] = Counter()  # faults applied, by kind
        self.dead_letters: list[dict[str, Any]] = []
        self._drop: list[tuple[int, str | None]] = []  # [remaining, detail_type filter]
        self._duplicate = 0
        self._delay: list[float] = []
        self._reorder_window_s = 0.0
        self._fail_delivery = 0
        self._fail_delivery_rule: str | None = None
        self._copies = 1  # chaos: every matched event delivered this many times
        self._mgn_drop_rate = 0.0  # chaos: the share of aws.mgn events lost
        self._schedule_generation = 0  # bumped by start/stop so stale timers stop re-arming
        self._schedules_on = False

    def _rule(self, ev: EventSource) -> Rule:
        refs, conditions = self.functions.refs, self.functions.conditions
        arn = str(
            refs.get(
                f"{ev.rule_logical_id}.Arn",
                f"arn:aws:events:{self.functions.region}:"
                f"{self.functions.account_id}:rule/{ev.rule_logical_id}",
            )
        )
        policy = {**DEFAULT_RETRY_POLICY, **(resolve(ev.retry_policy or {}, refs, conditions))}
        dlq = ev.dead_letter_logical_id
        return Rule(
            name=ev.rule_logical_id,
            arn=arn,
            function=ev.function,
            target_arn=(
                self.queues.queues[ev.queue].arn if ev.queue else self.functions.function_arn(ev.function)
            ),
            source=ev,
            pattern=resolve(ev.pattern, refs, conditions) if ev.type == "EventBridgeRule" else None,
            schedule=str(resolve(ev.schedule, refs, conditions)) if ev.type == "Schedule" else None,
            max_retries=int(policy["MaximumRetryAttempts"]),
            max_event_age_s=int(policy["MaximumEventAgeInSeconds"]),
            dlq_url=str(refs[dlq]) if dlq else None,
            queue=ev.queue,
        )

    # ------------------------------------------------------------ fault injection

    def drop_next(self, n: int = 1, detail_type: str | None = None) -> None:
        """Lose the next ``n`` matched events (of ``detail_type`` only, if given) before any rule sees them."""
        self._drop.append((n, detail_type))

    def duplicate_next(self, n: int = 1) -> None:
        """Deliver each of the next ``n`` matched events twice (same event id), as EventBridge may."""
        self._duplicate += n

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Hold the next ``n`` matched events back by ``seconds`` more than the normal delay."""
        self._delay.extend([seconds] * n)

    def reorder(self, window_seconds: float) -> None:
        """From now on add a seeded random delay in [0, window) to each delivery (0 turns it off)."""
        self._reorder_window_s = window_seconds

    def chaos(self, *, copies: int, mgn_drop_rate: float, reorder_window_s: float, seed: int) -> None:
        """From now on, at random (``seed``): every matched event is delivered ``copies`` times,
        ``mgn_drop_rate`` of MGN's events and CloudTrail calls are lost, deliveries are reordered
        within ``reorder_window_s``."""
        self._copies, self._mgn_drop_rate, self._reorder_window_s = copies, mgn_drop_rate, reorder_window_s
        self._rng = random.Random(seed)

    def fail_delivery_next(self, n: int = 1, rule: str | None = None) -> None:
        """The next ``n`` delivery attempts to a target (of ``rule``, or any) fail (throttled or unreachable)."""
        self._fail_delivery += n
        self._fail_delivery_rule = rule

    def _take_drop(self, event: Event) -> bool:
        if (
            self._mgn_drop_rate
            and event.get("source") == "aws.mgn"
            and self._rng.random() < self._mgn_drop_rate
        ):
            return True
        for i, (remaining, detail_type) in enumerate(self._drop):
            if detail_type is None or detail_type == event.get("detail-type"):
                if remaining <= 1:
                    del self._drop[i]
                else:
                    self._drop[i] = (remaining - 1, detail_type)
                return True
        return False

    # ------------------------------------------------------------ events

    def complete(self, event: Event) -> Event:
        """Fill the envelope fields EventBridge adds (id, time, account, region ...)."""
        full: Event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event.get("detail-type", event.get("DetailType")),
            "source": event.get("source", event.get("Source")),
            "account": self.functions.account_id,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.functions.region,
            "resources": [],
            "detail": {},
        }
        full.update({k: v for k, v in event.items() if k not in ("DetailType", "Source")})
        return full

    def matching_rules(self, event: Event) -> list[Rule]:
        return [rule for rule in self.rules.values() if rule.matches(event)]

    def put_events(self, event: Event) -> list[str]:
        """Put one event on the bus; returns the names of the rules it matched.

        Usable directly as an MGN emulator subscriber: ``emu.subscribe(bus.put_events)``.
        """
        event = self.complete(event)
        rules = self.matching_rules(event)
        if not rules:
            self.faults["unmatched"] += 1
            return []
        for rule in rules:
            self.stats[rule.name]["matched"] += 1
        if self._take_drop(event):
            self.faults["dropped"] += 1
            for rule in rules:
                self.stats[rule.name]["dropped"] += 1
            return [rule.name for rule in rules]
        copies = self._copies
        if copies > 1:
            self.faults[f"delivered {copies} times"] += 1  # the chaos wave's every event
        if self._duplicate:
            self._duplicate -= 1
            copies = max(copies, 2)
            self.faults["duplicated"] += 1  # a test's one event
        extra = self._delay.pop(0) if self._delay else 0.0
        if extra:
            self.faults["delayed"] += 1
        for rule in rules:
            for copy in range(copies):
                if copy:
                    self.stats[rule.name]["duplicated"] += 1
                delay = self.delivery_delay_s + extra + copy * 1.0 + self._jitter()
                self._schedule_delivery(rule, event, delay, attempt=1)
        return [rule.name for rule in rules]

    def _jitter(self) -> float:
        if self._reorder_window_s <= 0:
            return 0.0
        self.faults["reordered"] += 1
        return self._rng.uniform(0, self._reorder_window_s)

    def _schedule_delivery(self, rule: Rule, event: Event, delay_s: float, attempt: int) -> None:
        first_seen = self.clock.now()
        self.clock.call_later(delay_s, lambda: self._deliver(rule, event, attempt, first_seen))

    def _deliver(self, rule: Rule, event: Event, attempt: int, put_at: datetime) -> None:
        if self._fail_delivery and self._fail_delivery_rule in (None, rule.name):
            self._fail_delivery -= 1
            self.stats[rule.name]["failed_attempts"] += 1
            age = (self.clock.now() - put_at).total_seconds()
            retry_in = self.retry_backoff_s(attempt)
            if attempt <= rule.max_retries and age + retry_in <= rule.max_event_age_s:
                self.clock.call_later(retry_in, lambda: self._deliver(rule, event, attempt + 1, put_at))
            else:
                exhausted = (
                    "MaximumRetryAttempts" if attempt > rule.max_retries else "MaximumEventAgeInSeconds"
                )
                self._dead_letter(rule, event, attempt, exhausted)
            return
        self.stats[rule.name]["delivered"] += 1
        if rule.queue is not None:
            self.queues.send(rule.queue, event)
        else:
            self.functions.invoke_async(rule.function, event, trigger=f"eventbridge:{rule.name}")

    @staticmethod
    def retry_backoff_s(attempt: int) -> float:
        """Seconds before retry ``attempt`` (EventBridge backs off exponentially; no jitter here)."""
        return float(min(2 ** (attempt - 1), 300))

    def _dead_letter(self, rule: Rule, event: Event, attempts: int, exhausted: str) -> None:
        self.stats[rule.name]["dead_lettered"] += 1
        attributes = {
            "RULE_ARN": rule.arn,
            "TARGET_ARN": rule.target_arn,
            "ERROR_CODE": "SDK_CLIENT_ERROR",
            "ERROR_MESSAGE": f"Failed to invoke {rule.target_arn} (injected delivery failure)",
            "EXHAUSTED_RETRY_CONDITION": exhausted,
            "RETRY_ATTEMPTS": str(attempts - 1),
        }
        self.dead_letters.append({"rule": rule.name, "event": event, "attributes": attributes})
        if rule.dlq_url is None:
            return  # no DLQ: EventBridge drops the event
        boto3.client("sqs", region_name=self.functions.region).send_message(
            QueueUrl=rule.dlq_url,
            MessageBody=json.dumps(event),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    # ------------------------------------------------------------ schedules

    def start_schedules(self) -> None:
        """Arm every scheduled rule; each timer re-arms itself after firing."""
        if self._schedules_on:
            return
        self._schedules_on = True
        self._schedule_generation += 1
        for rule in self.rules.values():
            if rule.schedule:
                self._arm(rule, next_fire(rule.schedule, self.clock.now()))

    def stop_schedules(self) -> None:
        self._schedules_on = False
        self._schedule_generation += 1  # armed timers see a stale generation and do nothing

    def _arm(self, rule: Rule, when: datetime) -> None:
        generation = self._schedule_generation
        self.clock.call_at(when, lambda: self._fire(rule, when, generation))

    def _fire(self, rule: Rule, when: datetime, generation: int) -> None:
        if generation != self._schedule_generation:
            return
        assert rule.schedule is not None  # noqa: S101 - only scheduled rules are armed
        self.stats[rule.name]["scheduled"] += 1
        event = self.complete(
            {
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "resources": [rule.arn],
                "detail": {},
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        self._schedule_delivery(rule, event, self.delivery_delay_s, attempt=1)
        self._arm(rule, next_fire(rule.schedule, when))


# ---------------------------------------------------------------- schedule expressions

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
# EventBridge numbers days of the week from 1 = Sunday.
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


def next_fire(expression: str, after: datetime) -> datetime:
    """The first firing strictly after ``after`` for ``rate(...)`` or ``cron(...)``."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ValueError(f"bad rate: {expression}")
        return after + timedelta(seconds=value * _UNITS[unit])
    if expression.startswith("cron(") and expression.endswith(")"):
        return _next_cron(expression[5:-1].split(), after)
    raise ValueError(f"not a schedule expression: {expression!r}")


def _cron_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows; None for ``?`` or ``*`` (any)."""
    if text in ("?", "*"):
        return None
    if any(c in text for c in "LW#"):
        raise NotImplementedError(f"cron field {text!r}: L, W and # are not supported locally")
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step = part.partition("/")
        for name, number in (names or {}).items():
            rng = rng.upper().replace(name, str(number))
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            start, end = (int(x) for x in rng.split("-", 1))
        else:
            start = int(rng)
            end = high if step else start
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def _next_cron(fields: list[str], after: datetime) -> datetime:
    """EventBridge cron: minutes hours day-of-month month day-of-week year (UTC)."""
    if len(fields) != 6:
        raise ValueError(f"cron needs 6 fields, got {fields}")
    minutes = _cron_field(fields[0], 0, 59) or set(range(60))
    hours = _cron_field(fields[1], 0, 23) or set(range(24))
    dom = _cron_field(fields[2], 1, 31)
    months = _cron_field(fields[3], 1, 12, _MONTHS)
    dow = _cron_field(fields[4], 1, 7, _DAYS)
    years = _cron_field(fields[5], 1970, 2199)
    start = (after + timedelta(minutes=1)).replace(second=0, microsecond=0)
    day = start.replace(hour=0, minute=0)
    for _ in range(366 * 5):  # search five years ahead, a day at a time
        weekday = (day.weekday() + 1) % 7 + 1  # Monday=0 in Python -> 2 in EventBridge
        if (
            (years is None or day.year in years)
            and (months is None or day.month in months)
            and (dom is None or day.day in dom)
            and (dow is None or weekday in dow)
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    raise ValueError(f"cron({' '.join(fields)}) never fires within five years of {after}")
