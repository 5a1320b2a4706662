"""Reading MGN events: documented ones parsed, unknown ones tolerated, malformed ones refused."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from mgn_pipeline.pipeline.mgn_events import is_own_echo
from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.events import EventOrigin, parse_mgn_event
from tests.conftest import load_event

SERVER = "s-1234567890abcdef0"


def test_launch_result_names_server_state_and_job() -> None:
    event = parse_mgn_event(load_event("mgn-launch-result-test-succeeded.json"))
    assert event.server_ids == (SERVER,)
    assert event.state == "TEST_LAUNCH_SUCCEEDED"
    assert event.job_id == "mgnjob-04ca7d0d3fb6afa3e"
    assert event.is_known and not event.is_api_call
    assert event.trigger == "event:MGN Source Server Launch Result:TEST_LAUNCH_SUCCEEDED"


def test_cloudtrail_call_names_server_and_actor() -> None:
    event = parse_mgn_event(load_event("cloudtrail-update-replication-configuration.json"))
    assert event.api_call == "UpdateReplicationConfiguration"
    assert event.server_ids == (SERVER,)
    assert event.actor == "arn:aws:sts::111122223333:assumed-role/MigrationOperator/jdoe"


def test_cloudtrail_list_of_servers_deduplicated() -> None:
    raw = load_event("cloudtrail-start-test.json")
    raw["detail"]["requestParameters"]["sourceServerIDs"] = [SERVER, SERVER, "s-00000000000000001"]
    assert parse_mgn_event(raw).server_ids == (SERVER, "s-00000000000000001")


def test_template_change_names_no_server() -> None:
    event = parse_mgn_event(load_event("cloudtrail-update-replication-configuration-template.json"))
    assert event.server_ids == ()
    assert event.api_call == "UpdateReplicationConfigurationTemplate"


def test_undocumented_detail_type_is_tolerated_but_not_known() -> None:
    event = parse_mgn_event(load_event("mgn-undocumented-detail-type.json"))
    assert not event.is_known
    assert event.server_ids == (SERVER,)


def test_unknown_detail_fields_are_ignored() -> None:
    raw = load_event("mgn-lifecycle-ready-for-test.json")
    raw["detail"]["somethingNew"] = {"deep": [1, 2]}
    raw["brandNewEnvelopeField"] = "x"
    assert parse_mgn_event(raw).state == "READY_FOR_TEST"


def _broken(mutate: str) -> dict[str, object]:
    raw = copy.deepcopy(load_event("mgn-launch-result-test-succeeded.json"))
    if mutate == "not-an-object":
        return ["nope"]  # type: ignore[return-value]
    if mutate == "no-id":
        del raw["id"]
    elif mutate == "wrong-source":
        raw["source"] = "aws.ec2"
    elif mutate == "detail-not-object":
        raw["detail"] = "TEST_LAUNCH_SUCCEEDED"
    elif mutate == "resources-not-list":
        raw["resources"] = raw["resources"][0]
    elif mutate == "bad-job-id":
        raw["detail"]["job-id"] = "job-1"
    return raw


@pytest.mark.parametrize(
    "mutate",
    ["not-an-object", "no-id", "wrong-source", "detail-not-object", "resources-not-list", "bad-job-id"],
)
def test_malformed_envelope_is_refused_with_the_reason(mutate: str) -> None:
    with pytest.raises(InvalidEventError):
        parse_mgn_event(_broken(mutate))


def test_resource_that_is_not_a_source_server_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="not an MGN source-server ARN"):
        parse_mgn_event(load_event("malformed-resource-not-a-server.json"))


def test_cloudtrail_with_a_forged_server_id_is_refused() -> None:
    raw = load_event("cloudtrail-update-replication-configuration.json")
    raw["detail"]["requestParameters"]["sourceServerID"] = "s-../../etc"
    with pytest.raises(InvalidEventError, match="not an MGN source server id"):
        parse_mgn_event(raw)


def test_cloudtrail_from_another_service_is_refused() -> None:
    raw = load_event("cloudtrail-start-test.json")
    raw["detail"]["eventSource"] = "ec2.amazonaws.com"
    with pytest.raises(InvalidEventError):
        parse_mgn_event(raw)


def test_the_pipeline_s_own_call_is_known_by_its_user_agent() -> None:
    own = parse_mgn_event(load_event("cloudtrail-start-test-by-pipeline.json"))
    person = parse_mgn_event(load_event("cloudtrail-start-test.json"))
    assert own.own_call and not person.own_call
    assert own.server_ids == person.server_ids


def test_service_events_are_never_own_calls() -> None:
    assert not parse_mgn_event(load_event("mgn-lifecycle-ready-for-test.json")).own_call


def _api_call(sample: str, operation: str, parameters: dict[str, object]) -> dict[str, object]:
    event = copy.deepcopy(load_event(sample))
    event["detail"]["eventName"] = operation
    event["detail"]["requestParameters"] = parameters
    return event


@pytest.mark.parametrize(
    ("operation", "parameters"),
    [
        ("StartTest", {"sourceServerIDs": [SERVER]}),
        (
            "ChangeServerLifeCycleState",
            {"sourceServerID": SERVER, "lifeCycle": {"state": "READY_FOR_CUTOVER"}},
        ),
        ("TerminateTargetInstances", {"sourceServerIDs": [SERVER]}),
        ("FinalizeCutover", {"sourceServerID": SERVER}),
    ],
)
def test_the_pipeline_s_own_calls_it_follows_up_itself_are_skipped_a_person_s_are_not(
    operation: str, parameters: dict[str, object]
) -> None:
    own = parse_mgn_event(_api_call("cloudtrail-start-test-by-pipeline.json", operation, parameters))
    person = parse_mgn_event(_api_call("cloudtrail-start-test.json", operation, parameters))
    assert own.server_ids == person.server_ids == (SERVER,)
    assert is_own_echo(own)
    assert not is_own_echo(person)  # a person's call: the server is read and advanced


def test_the_pipeline_s_own_settings_repair_is_not_skipped() -> None:
    # A repair has no MGN event of its own: its echo still advances the server (without a settings read).
    repair = _api_call(
        "cloudtrail-start-test-by-pipeline.json",
        "UpdateReplicationConfiguration",
        {"sourceServerID": SERVER, "dataPlaneRouting": "PRIVATE_IP"},
    )
    assert not is_own_echo(parse_mgn_event(repair))


HERE = EventOrigin(account="111122223333", region="us-east-1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update(account="999999999999"), "from account '999999999999' in 'us-east-1'"),
        (lambda e: e.update(region="eu-west-1"), "in 'eu-west-1'"),
        (lambda e: e.pop("account"), "from account None"),
        (
            lambda e: e.update(resources=["arn:aws:mgn:us-east-1:999999999999:source-server/" + SERVER]),
            "resource is from account '999999999999'",
        ),
    ],
)
def test_an_event_from_another_account_or_region_is_refused(mutate: Any, message: str) -> None:
    raw = load_event("mgn-lifecycle-ready-for-test.json")
    mutate(raw)
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        parse_mgn_event(raw, HERE)
    assert parse_mgn_event(load_event("mgn-lifecycle-ready-for-test.json"), HERE).server_ids == (SERVER,)


def test_a_cloudtrail_call_made_in_another_account_is_refused() -> None:
    raw = load_event("cloudtrail-start-test.json")
    raw["detail"]["recipientAccountId"] = "444455556666"
    with pytest.raises(InvalidEventError, match="CloudTrail call is from account '444455556666'"):
        parse_mgn_event(raw, HERE)


def test_an_undocumented_state_is_read_but_acted_on_by_no_one() -> None:
    raw = load_event("mgn-lifecycle-ready-for-test.json")
    raw["detail"]["state"] = "SELF_DESTRUCT"
    event = parse_mgn_event(raw, HERE)
    assert not event.is_known
    assert event.ignored_because == (
        "undocumented state 'SELF_DESTRUCT' for 'MGN Source Server Lifecycle State Change'"
    )


def test_a_huge_or_multiline_value_is_shown_short_and_on_one_line() -> None:
    raw = load_event("mgn-lifecycle-ready-for-test.json")
    raw["id"] = "x\n" * 10_000
    raw["resources"] = ["arn:" + "y" * 10_000]
    with pytest.raises(InvalidEventError) as refused:
        parse_mgn_event(raw, HERE)
    assert len(str(refused.value)) < 300 and "\n" not in str(refused.value)
