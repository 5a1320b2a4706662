"""The MGN event function, driven against the emulated MGN: events are hints, MGN is the truth."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mgn_pipeline.shared.errors import InvalidEventError
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import Account


def event_for(account: Account, name: str, server_id: str, event_id: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    arn = account.mgn.server(server_id).arn
    event["resources"] = [arn] if event["detail-type"] != "AWS API Call via CloudTrail" else []
    if "sourceServerID" in event["detail"].get("requestParameters", {}):
        event["detail"]["requestParameters"]["sourceServerID"] = server_id
    if event_id:
        event["id"] = event_id
    return event


def registry_step(account: Account, server_id: str) -> str | None:
    item = account.dynamodb.get_item(TableName="servers", Key={"serverId": {"S": server_id}}).get("Item")
    return item["step"]["S"] if item else None


def test_ready_for_test_event_records_the_real_state(account: Account) -> None:
    server_id = account.mgn.register_agent("erp-01")
    account.clock.run_until_idle(max_seconds=3600)
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-lifecycle-ready-for-test.json", server_id), FakeLambdaContext()
    )

    assert [advance["step"] for advance in result] == ["START_TEST"]
    assert registry_step(account, server_id) == "START_TEST"


def test_stale_event_is_judged_by_the_servers_real_state(account: Account) -> None:
    # A "ready for test" event that arrives before replication finished must not be believed.
    server_id = account.mgn.register_agent("late-01")
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-lifecycle-ready-for-test.json", server_id), FakeLambdaContext()
    )

    assert [advance["step"] for advance in result] == ["ENFORCE_REPLICATION_SETTINGS"]


def test_duplicate_delivery_acts_once(account: Account) -> None:
    server_id = account.mgn.register_agent("dup-01")
    handler = account.load_handler("mgn_events")
    event = event_for(account, "cloudtrail-update-replication-configuration.json", server_id, "same-id-1")

    first = handler.lambda_handler(event, FakeLambdaContext())
    reads_after_first = account.call_count("DescribeSourceServers")
    second = handler.lambda_handler(copy.deepcopy(event), FakeLambdaContext())

    assert second == first
    assert account.call_count("DescribeSourceServers") == reads_after_first


def test_malformed_event_raises_and_touches_nothing(account: Account) -> None:
    handler = account.load_handler("mgn_events")
    with pytest.raises(InvalidEventError, match="not an MGN source-server ARN"):
        handler.lambda_handler(load_event("malformed-resource-not-a-server.json"), FakeLambdaContext())
    assert account.mgn.calls == []
    assert account.dynamodb.scan(TableName="servers")["Items"] == []
    assert account.dynamodb.scan(TableName="idempotency")["Items"] == []


def test_unknown_server_is_logged_not_acted_on(account: Account, pipeline_log: list[str]) -> None:
    handler = account.load_handler("mgn_events")
    event = load_event("mgn-replication-stalled.json")  # names s-1234567890abcdef0, unknown here

    result = handler.lambda_handler(event, FakeLambdaContext())

    assert result == []
    assert account.dynamodb.scan(TableName="servers")["Items"] == []
    assert any("MGN does not know" in line for line in pipeline_log)


def test_undocumented_detail_type_is_logged_and_ignored(account: Account, pipeline_log: list[str]) -> None:
    server_id = account.mgn.register_agent("new-01")
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-undocumented-detail-type.json", server_id), FakeLambdaContext()
    )

    assert result == []
    assert account.mgn.calls == []
    assert any("undocumented MGN detail-type" in line for line in pipeline_log)


def sqs_batch(*events: dict[str, Any]) -> dict[str, Any]:
    """What Lambda's event source mapping hands the function: one message per EventBridge event."""
    return {
        "Records": [
            {
                "messageId": f"message-{n}",
                "receiptHandle": f"handle-{n}",
                "body": json.dumps(event) if isinstance(event, dict) else event,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:MgnEventQueue",
                "awsRegion": "us-east-1",
            }
            for n, event in enumerate(events)
        ]
    }


def test_a_batch_reads_every_server_it_names_at_once_and_returns_only_what_it_cannot_read(
    account: Account,
) -> None:
    ids = [account.mgn.register_agent(f"batch-{n:02d}") for n in range(30)]
    account.clock.run_until_idle(max_seconds=3600)
    handler = account.load_handler("mgn_events")
    ready = [event_for(account, "mgn-lifecycle-ready-for-test.json", sid, f"ready-{sid}") for sid in ids]
    duplicate = copy.deepcopy(ready[0])  # EventBridge delivered it twice
    malformed = load_event("malformed-resource-not-a-server.json")
    calls_before = len(account.mgn.calls)

    result = handler.lambda_handler(sqs_batch(*ready, duplicate, malformed, "not json"), FakeLambdaContext())

    # The malformed event and the unreadable message come back (and, after five receives, go to the DLQ).
    assert result == {
        "batchItemFailures": [{"itemIdentifier": "message-31"}, {"itemIdentifier": "message-32"}]
    }
    assert {registry_step(account, sid) for sid in ids} == {"START_TEST"}
    reads = [name for name, _ in account.mgn.calls[calls_before:] if name == "DescribeSourceServers"]
    assert reads == ["DescribeSourceServers"]  # thirty servers, one read


def test_a_persons_change_in_a_batch_is_repaired_even_if_the_server_was_advanced_before_it(
    account: Account,
) -> None:
    sid = account.mgn.register_agent("mixed-01")
    account.clock.run_until_idle(max_seconds=3600)
    handler = account.load_handler("mgn_events")
    handler.lambda_handler(
        event_for(account, "mgn-lifecycle-ready-for-test.json", sid, "seen"), FakeLambdaContext()
    )
    account.mgn_client.update_replication_configuration(
        sourceServerID=sid, dataPlaneRouting="PUBLIC_IP", createPublicIP=True
    )
    state_change = event_for(account, "mgn-lifecycle-ready-for-test.json", sid, "state")
    person = event_for(account, "cloudtrail-update-replication-configuration.json", sid, "person")

    result = handler.lambda_handler(sqs_batch(state_change, person), FakeLambdaContext())

    assert result == {"batchItemFailures": []}
    settings = account.mgn_client.get_replication_configuration(sourceServerID=sid)
    assert (settings["dataPlaneRouting"], settings["createPublicIP"]) == ("PRIVATE_IP", False)
