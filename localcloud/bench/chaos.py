"""The chaos wave: a whole wave with the faults a real account has, all at once, seeded.

Every event is delivered three times, a fifth of MGN's events and CloudTrail calls are lost, the
rest arrive reordered within ten minutes; 30 % of the pipeline's MGN calls are throttled (with
retryAfterSeconds, as MGN answers under load); 5 % of function invocations die after their first
AWS write (``localcloud.crashes``); a tenth of the event batches and gate tasks race a twin about the
same server between their read and their conditional write (``localcloud.races``); one launch batcher run dies right after its StartTest; some
approvals come an hour late, some twice, some first from a principal who may not approve.

What it proves is counted, not assumed: servers finalized; servers that ended in a state that
names its reason and told a person (a gate closed with a reason, a notification naming the
server); lost (neither) must be 0; test launches per server; StartCutover for a server no allowed
approver had approved must be 0; a server cut over twice must be 0; the DLQ messages, each with
what it held; simulated time against the same wave without faults.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localcloud.bench.measure import is_finalized
from localcloud.bench.wave import Approver
from localcloud.cloud import LocalCloud
from localcloud.crashes import InvocationCrashes
from localcloud.gate import APPROVER_SESSION, OUTSIDER
from localcloud.races import InvocationRaces


@dataclass(frozen=True)
class Chaos:
    seed: int = 7
    event_copies: int = 3
    mgn_event_drop: float = 0.2
    reorder_window_s: float = 600.0
    mgn_throttled: float = 0.3
    invocations_dying: float = 0.05
    invocations_racing: float = 0.1  # of the event batches and gate tasks
    late_approvals: float = 0.1  # approved an hour after the request
    double_approvals: float = 0.1  # the approver clicks twice
    outsider_first: float = 0.1  # someone who may not approve tries first
    batcher_dies_after_start_test: bool = True


class BatcherDeath:
    """The first launch batcher run that starts a test dies right after StartTest answered."""

    def __init__(self, crashes: InvocationCrashes) -> None:
        self.crashes = crashes
        self.done = False

    def install(self, cloud: LocalCloud) -> None:
        operations = cloud.mgn.api.operations
        start_test = operations["StartTest"]

        def dying_start_test(params: Any) -> Any:
            answer = start_test(params)
            if not self.done:
                self.done = True
                self.crashes.kill_current("LaunchBatcherFunction")  # dies as StartTest's answer comes back
            return answer

        operations["StartTest"] = dying_start_test


class ChaosApprover(Approver):
    """The person in the console, on a bad day: late, double clicks, and a colleague who tries first."""

    def __init__(self, cloud: LocalCloud, chaos: Chaos) -> None:
        super().__init__(cloud)
        self.chaos = chaos
        self._rng = random.Random(chaos.seed + 1)
        self._not_before: dict[str, datetime] = {}
        self.approved_at: dict[str, datetime] = {}  # server -> when an allowed approver approved
        self.refused_signals = 0
        self.second_clicks = 0

    def approve(self) -> int:
        now = self.cloud.clock.now()
        count = 0
        for execution in self.waiting():
            server_id = execution.parameters["ServerId"][0]
            if execution.execution_id not in self._not_before:
                late = self._rng.random() < self.chaos.late_approvals
                self._not_before[execution.execution_id] = now + timedelta(hours=1 if late else 0)
                if self._rng.random() < self.chaos.outsider_first:
                    self._signal(execution.execution_id, OUTSIDER, "not mine to approve")
            if now < self._not_before[execution.execution_id]:
                continue
            self._signal(execution.execution_id, APPROVER_SESSION, f"CHG-{len(self.approved) + 1:05d}")
            self.approved_at.setdefault(server_id, now)
            if self._rng.random() < self.chaos.double_approvals:
                self.second_clicks += 1
                self._signal(execution.execution_id, APPROVER_SESSION, "clicked twice")
            self.approved[server_id] = execution.execution_id
            count += 1
        return count

    def _signal(self, execution_id: str, principal: str, comment: str) -> None:
        try:
            with self.cloud.ssm.acting_as(principal), self.cloud.calls.not_counting():
                self.client.send_automation_signal(
                    AutomationExecutionId=execution_id, SignalType="Approve", Payload={"Comment": [comment]}
                )
        except ClientError:  # SSM refuses a principal who may not approve, and a second signal: counted
            self.refused_signals += 1


@dataclass
class Injected:
    """The faults that hook into botocore: installed for the wave, counted for the figures."""

    crashes: InvocationCrashes
    races: InvocationRaces

    @contextmanager
    def installed(self) -> Iterator[Injected]:
        with self.crashes.installed(), self.races.installed():
            yield self


def apply_faults(cloud: LocalCloud, chaos: Chaos) -> Injected:
    """Turn every fault on; returns the injectors that hook botocore (installed by the caller)."""
    cloud.bus.chaos(
        copies=chaos.event_copies,
        mgn_drop_rate=chaos.mgn_event_drop,
        reorder_window_s=chaos.reorder_window_s,
        seed=chaos.seed,
    )
    cloud.mgn.throttle_randomly(chaos.mgn_throttled, seed=chaos.seed + 2)
    crashes = InvocationCrashes(chaos.invocations_dying, seed=chaos.seed + 3)
    cloud.stack.functions.crashes = crashes
    races = InvocationRaces(chaos.invocations_racing, seed=chaos.seed + 4)
    cloud.stack.functions.races = races
    if chaos.batcher_dies_after_start_test:
        BatcherDeath(crashes).install(cloud)
    return Injected(crashes, races)


def chaos_figures(
    cloud: LocalCloud,
    ids: list[str],
    approver: ChaosApprover,
    injected: Injected,
    chaos: Chaos,
) -> dict[str, Any]:
    """What survived, counted from MGN's own record (CloudTrail), the gate table and the inbox."""
    crashes, races = injected.crashes, injected.races
    gates = _gate_records(cloud)
    notified = _servers_named_in_notifications(cloud, ids)
    finalized = {sid for sid in ids if is_finalized(cloud, sid)}
    stated = {
        sid for sid in ids if sid not in finalized and gates.get(sid, {}).get("reason") and sid in notified
    }
    lost = sorted(set(ids) - finalized - stated)
    started = _cutovers_started(cloud)
    unapproved = sorted(
        sid
        for sid, times in started.items()
        if sid not in approver.approved_at or times[0] < approver.approved_at[sid]
    )
    tests = Counter(len(times) for times in _calls_succeeded(cloud, "StartTest").values())
    dead_letters = _dead_letters(cloud)
    return {
        "faults": asdict(chaos),
        "servers": len(ids),
        "finalized": len(finalized),
        "stated": {
            sid: gates.get(sid, {}).get("status", "") + ": " + gates.get(sid, {}).get("reason", "")
            for sid in sorted(stated)
        },
        "lost": lost,
        "start_cutover_without_allowed_approval": unapproved,
        "cut_over_twice": sorted(sid for sid, times in started.items() if len(times) > 1),
        "test_launches_per_server": {str(k): v for k, v in sorted(tests.items())},
        "dead_letters": dead_letters,
        "applied": {
            "event_deliveries": dict(cloud.bus.faults),
            "mgn_throttled": len(cloud.mgn.throttled_calls),
            "invocations_died": dict(crashes.died),
            "died_after": dict(crashes.after_write.most_common(8)),
            "invocations_raced": dict(races.raced),
            "raced_after_read": dict(races.after_read.most_common(8)),
            "race_twins_ended": dict(races.twin_outcomes),
            "approver_signals_refused": approver.refused_signals,
            "approver_second_clicks": approver.second_clicks,
        },
    }


def _gate_records(cloud: LocalCloud) -> dict[str, dict[str, str]]:
    table = cloud.stack.refs["CutoverGateTable"]
    items: list[dict[str, Any]] = []
    with cloud.calls.not_counting():
        for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
            items += page["Items"]
    return {
        item["serverId"]["S"]: {k: str(next(iter(v.values()))) for k, v in item.items()} for item in items
    }


def _servers_named_in_notifications(cloud: LocalCloud, ids: list[str]) -> set[str]:
    cloud.read_notices()
    text = " ".join(f"{notice['subject']} {notice['body']}" for notice in cloud.notices)
    return {sid for sid in ids if sid in text}


def _calls_succeeded(cloud: LocalCloud, event_name: str) -> dict[str, list[str]]:
    """Server -> times of the successful API calls MGN's CloudTrail recorded, in order."""
    out: dict[str, list[str]] = {}
    for event in cloud.mgn.events:
        detail = event.get("detail") or {}
        if event.get("detail-type") != "AWS API Call via CloudTrail" or detail.get("eventName") != event_name:
            continue
        if detail.get("errorCode"):
            continue
        params = detail.get("requestParameters") or {}
        for sid in params.get("sourceServerIDs") or [params.get("sourceServerID")]:
            if sid:
                out.setdefault(sid, []).append(str(detail.get("eventTime")))
    return out


def _cutovers_started(cloud: LocalCloud) -> dict[str, list[datetime]]:
    return {
        sid: [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
        for sid, times in _calls_succeeded(cloud, "StartCutover").items()
    }


def _dead_letters(cloud: LocalCloud) -> dict[str, list[str]]:
    """Each DLQ's messages, by what they held (the event's detail-type or the failed function)."""
    sqs = boto3.client("sqs")
    out: dict[str, list[str]] = {}
    with cloud.calls.not_counting():
        for name in ("FunctionFailureDLQ", "EventDeliveryDLQ"):
            url = cloud.stack.refs[name]
            held: list[str] = []
            while True:
                batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    break
                held += [_what_it_held(message["Body"]) for message in batch]
                for message in batch:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            out[name] = held
    return out


def _what_it_held(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:80]
    if "requestContext" in data:  # a Lambda destination record
        payload = data.get("requestPayload") or {}
        error = (data.get("responsePayload") or {}).get("errorType", "")
        return f"{data['requestContext'].get('functionArn', '').split(':')[6]}: {error} ({payload.get('detail-type', '')})"
    return f"event: {data.get('detail-type', '?')}"
