"""Hostile MGN events, ten thousand of them, through the real event function and the emulated MGN.

Each is a real shape from ``events/`` naming a real server of the account, a server a well-formed
event WOULD act on (it has never been seen: the first event about it writes its record and checks
its settings), broken in one of the ways a broken forwarder, a replay from another account or a
person with PutEvents rights would break it. None may be acted on: no MGN write, no row in any
table. Each is either refused with a named error (its message goes back to the queue and, after
five receives, to the delivery DLQ) or ignored with its reason in the log, as its breakage decides.
A final control sends each server one well-formed event and sees it acted on, so the targets were live.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgn_pipeline.shared.events import KNOWN_SERVICE_DETAIL_TYPES, KNOWN_STATES
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import Account

ACCOUNT, REGION = "111122223333", "us-east-1"
BATCH = 50
BATCHES = 200  # 10,000 events
SERVICE_EVENTS = (
    "mgn-lifecycle-ready-for-test.json",
    "mgn-launch-result-test-succeeded.json",
    "mgn-launch-result-cutover-succeeded.json",
    "mgn-replication-stalled.json",
)
API_CALLS = ("cloudtrail-start-test.json", "cloudtrail-update-replication-configuration.json")
TABLES = ("servers", "audit", "idempotency")


@dataclass(frozen=True)
class Case:
    """One hostile event: how it was broken, what must become of it, and the queue message body."""

    breakage: str
    expect: str  # "refused" (back to the queue, then the DLQ) or "ignored" (logged with its reason)
    body: str


def _base(name: str, server_id: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    if event["detail-type"] == "AWS API Call via CloudTrail":
        event["detail"]["requestParameters"] = {"sourceServerID": server_id}
    else:
        event["resources"] = [f"arn:aws:mgn:{REGION}:{ACCOUNT}:source-server/{server_id}"]
    return event


WRONG_TYPES = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2)
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    # Huge strings, built from a short one: Hypothesis keeps its examples small.
    st.builds(lambda text, times: text * times, st.text(min_size=1, max_size=8), st.integers(1_000, 8_000)),
    st.sampled_from(
        ["\u0430ws.mgn", "aws.mgn ", "AWS.MGN", "aws.ec2", "custom.mgn", "aws.mgn\n", "=cmd|' /C calc'!A0"]
    ),
)


def _other(value: str) -> st.SearchStrategy[str]:
    return HOSTILE_TEXT.filter(lambda text: text != value)


@st.composite
def hostile_case(draw: st.DrawFn, server_ids: list[str]) -> Case:
    server_id = draw(st.sampled_from(server_ids))
    api_call = draw(st.booleans())
    event = _base(draw(st.sampled_from(API_CALLS if api_call else SERVICE_EVENTS)), server_id)
    event["id"] = f"{event['id']}-{draw(st.uuids())}"  # each delivery its own event, for idempotency
    detail = event["detail"]
    breakages: list[str] = [
        "field removed",
        "wrong type",
        "spoofed source",
        "wrong account",
        "wrong Region",
        "unknown detail-type",
    ]
    breakages += (
        [
            "CloudTrail from another source",
            "CloudTrail in another account",
            "server id not an id",
            "ids not a list",
        ]
        if api_call
        else [
            "resource from another account",
            "resource not a server ARN",
            "unknown state",
            "job id not a job id",
        ]
    )
    breakage = draw(st.sampled_from(breakages))
    expect = "refused"
    if breakage == "field removed":
        del event[draw(st.sampled_from(["id", "detail-type", "source", "detail", "account", "region"]))]
    elif breakage == "wrong type":
        key = draw(
            st.sampled_from(
                ["id", "detail-type", "source", "detail", "account"] + ([] if api_call else ["resources"])
            )
        )
        event[key] = draw(
            WRONG_TYPES.filter(lambda v: not isinstance(v, list)) if key == "resources" else WRONG_TYPES
        )
    elif breakage == "spoofed source":
        event["source"] = draw(_other("aws.mgn"))
    elif breakage == "wrong account":
        event["account"] = draw(
            st.one_of(st.from_regex(r"\A\d{12}\Z"), HOSTILE_TEXT).filter(lambda a: a != ACCOUNT)
        )
    elif breakage == "wrong Region":
        event["region"] = draw(
            st.one_of(st.sampled_from(["eu-west-1", "us-east-2", "cn-north-1"]), _other(REGION))
        )
    elif breakage == "unknown detail-type":
        event["detail-type"] = draw(
            st.one_of(st.just("MGN Source Server Something New"), HOSTILE_TEXT).filter(
                lambda t: bool(t) and t not in KNOWN_TYPES
            )
        )
        expect = "ignored"  # MGN adds detail-types without notice: tolerated, never acted on
    elif breakage == "resource from another account":
        other_account = draw(st.from_regex(r"\A\d{12}\Z").filter(lambda a: a != ACCOUNT))
        region = draw(st.sampled_from([REGION, "eu-west-1"]))
        event["resources"] = [f"arn:aws:mgn:{region}:{other_account}:source-server/{server_id}"]
    elif breakage == "resource not a server ARN":
        event["resources"] = [
            draw(
                st.one_of(
                    st.just(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{server_id}"),
                    st.just(
                        f"arn:aws:mgn:{REGION}:{ACCOUNT}:source-server/{server_id}/../s-00000000000000000"
                    ),
                    st.just(server_id),
                    HOSTILE_TEXT,
                    WRONG_TYPES,
                )
            )
        ]
    elif breakage == "unknown state":
        event["detail"]["state"] = draw(HOSTILE_TEXT.filter(lambda s: s not in KNOWN_STATE_NAMES))
        expect = "ignored"
    elif breakage == "job id not a job id":
        detail["job-id"] = draw(st.one_of(HOSTILE_TEXT, WRONG_TYPES).filter(lambda j: j is not None))
    elif breakage == "CloudTrail from another source":
        detail["eventSource"] = draw(_other("mgn.amazonaws.com"))
    elif breakage == "CloudTrail in another account":
        key = draw(st.sampled_from(["recipientAccountId", "awsRegion"]))
        detail[key] = draw(_other(ACCOUNT if key == "recipientAccountId" else REGION))
    elif breakage == "server id not an id":
        detail["requestParameters"] = {"sourceServerID": draw(st.one_of(HOSTILE_TEXT, WRONG_TYPES))}
    elif breakage == "ids not a list":
        detail["requestParameters"] = {
            "sourceServerIDs": draw(st.one_of(HOSTILE_TEXT, st.integers(), st.none()))
        }
    return Case(breakage, expect, json.dumps(event))


KNOWN_TYPES = KNOWN_SERVICE_DETAIL_TYPES | {"AWS API Call via CloudTrail"}
KNOWN_STATE_NAMES = frozenset().union(*KNOWN_STATES.values())


def _records(cases: list[Case], batch: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{batch}-{n}",
                "receiptHandle": f"r-{batch}-{n}",
                "body": case.body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:MgnEventQueue",
                "awsRegion": REGION,
            }
            for n, case in enumerate(cases)
        ]
    }


def _rows(account: Account) -> dict[str, int]:
    return {table: len(account.dynamodb.scan(TableName=table)["Items"]) for table in TABLES}


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_ten_thousand_hostile_events_are_refused_or_ignored_and_none_is_acted_on(
    account: Account, pipeline_log: list[str]
) -> None:
    server_ids = [account.mgn.register_agent(f"target-{n:02d}") for n in range(5)]
    account.clock.run_until_idle(max_seconds=3600)  # READY_FOR_TEST: a real event would act at once
    handler = account.load_handler("mgn_events")
    rows_before, calls_before = _rows(account), len(account.mgn.calls)
    outcomes: Counter[tuple[str, str]] = Counter()
    batches = Counter[str]()

    @settings(
        max_examples=BATCHES,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        deadline=None,
    )
    @given(st.lists(hostile_case(server_ids), min_size=BATCH, max_size=BATCH))
    def deliver(cases: list[Case]) -> None:
        number = batches["delivered"]
        batches["delivered"] += 1
        logged_before = len(pipeline_log)
        try:
            answer = handler.lambda_handler(_records(cases, number), FakeLambdaContext())
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        except BatchProcessingError:  # every message failed: Lambda returns the whole batch
            failed = {f"m-{number}-{n}" for n in range(len(cases))}
        for n, case in enumerate(cases):
            outcome = "refused" if f"m-{number}-{n}" in failed else "ignored"
            assert outcome == case.expect, (case.breakage, case.body[:300])
            outcomes[(case.breakage, outcome)] += 1
        # Every event left a line saying why: refused ones name their error, ignored ones their reason.
        said = pipeline_log[logged_before:]
        assert sum("event not processed" in line for line in said) == len(failed)
        assert sum("not acted on" in line for line in said) == BATCH - len(failed)

    deliver()
    assert batches["delivered"] >= BATCHES  # Hypothesis ran every example it was asked for

    total = sum(outcomes.values())
    refused = sum(count for (_, outcome), count in outcomes.items() if outcome == "refused")
    print(
        f"\nhostile MGN events: {total}, refused {refused}, ignored with a reason {total - refused}, acted on 0"
    )
    for (breakage, outcome), count in sorted(outcomes.items()):
        print(f"  {count:>6}  {breakage:<32} {outcome}")
    assert total >= 10_000
    assert {breakage for breakage, _ in outcomes} >= {
        "wrong account",
        "resource from another account",
        "unknown state",
    }
    # Acted on: none. No MGN call at all (refused and ignored events name no server to read), no row.
    assert len(account.mgn.calls) == calls_before
    assert _rows(account) == rows_before
    assert account.notices() == []

    # The control: one well-formed event per server is acted on (the targets were live all along).
    good = [
        Case(
            "none",
            "acted",
            json.dumps({**_base("mgn-lifecycle-ready-for-test.json", sid), "id": f"ok-{sid}"}),
        )
        for sid in server_ids
    ]
    answer = handler.lambda_handler(_records(good, BATCHES + 1), FakeLambdaContext())
    assert answer["batchItemFailures"] == []
    assert _rows(account)["servers"] == rows_before["servers"] + len(server_ids)
