"""Which wave each server is in, as the reconciler records it: the wave tag, else MGN's own wave."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.shared.aws.server_registry import is_server_id
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import Account


def _waves(account: Account) -> dict[str, str]:
    items = account.dynamodb.scan(TableName="servers")["Items"]
    return {item["serverId"]["S"]: item["wave"]["S"] for item in items if is_server_id(item["serverId"]["S"])}


def _reconcile(account: Account) -> dict[str, Any]:
    handler = account.load_handler("reconciler")
    return dict(handler.lambda_handler(load_event("scheduled-reconcile.json"), FakeLambdaContext()))


def test_the_tag_names_the_wave_and_mgn_s_wave_is_the_fallback(account: Account) -> None:
    tagged = account.mgn.register_agent("pay-01", tags={"wave": "2026-12-payments"})
    in_mgn_wave = account.mgn.register_agent("hr-01")
    tagged_and_in_mgn_wave = account.mgn.register_agent("hr-02", tags={"wave": "override"})
    loose = account.mgn.register_agent("misc-01")
    wave_id = account.mgn.create_wave("Wave 4 HR")
    account.mgn.create_application("hr", wave_id, [in_mgn_wave, tagged_and_in_mgn_wave])

    _reconcile(account)

    assert _waves(account) == {
        tagged: "2026-12-payments",
        in_mgn_wave: "Wave-4-HR",
        tagged_and_in_mgn_wave: "override",
        loose: "unassigned",
    }
    # MGN's waves are read once per pass, not per server.
    assert account.call_count("ListApplications") == 1
    assert account.call_count("ListWaves") == 1


def test_moving_a_server_to_another_wave_is_recorded_at_the_next_pass(account: Account) -> None:
    server_id = account.mgn.register_agent("pay-02", tags={"wave": "w1"})
    _reconcile(account)
    account.mgn_client.tag_resource(resourceArn=account.mgn.server(server_id).arn, tags={"wave": "w2"})
    _reconcile(account)
    assert _waves(account)[server_id] == "w2"
