"""MGN emulator: plumbing under boto3, request/response validation, errors as botocore parses them."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.exceptions import ClientError
from mgn_test_support import ACCOUNT, REGION, make_emulator, mgn_client, ready_servers, send_raw_body

from localcloud import SimClock
from localcloud.mgn import MgnEmulator
from localcloud.mgn.emulator import HOOK_EVENT
from localcloud.mgn.model_validation import validate_shape
from localcloud.mgn.wire import mgn_model


def _error(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return exc.value.response


# ---- plumbing -------------------------------------------------------------------------------------


def test_plain_boto3_client_reaches_emulator_and_moto_still_answers_ec2(emu: MgnEmulator) -> None:
    sid = emu.register_agent("web01")
    items = boto3.client("mgn").describe_source_servers()["items"]  # unmodified client, as in a Lambda
    assert [s["sourceServerID"] for s in items] == [sid]
    assert items[0]["arn"] == f"arn:aws:mgn:{REGION}:{ACCOUNT}:source-server/{sid}"
    lt_id = boto3.client("mgn").get_launch_configuration(sourceServerID=sid)["ec2LaunchTemplateID"]
    assert boto3.client("ec2").describe_launch_templates(LaunchTemplateIds=[lt_id])["LaunchTemplates"]
    assert emu.calls[0] == ("DescribeSourceServers", {})


def test_hook_is_removed_after_the_context(clock: SimClock, network: Any) -> None:
    emu = make_emulator(clock, network)
    before = list(botocore.handlers.BUILTIN_HANDLERS)
    with emu.installed():
        assert botocore.handlers.BUILTIN_HANDLERS[0][0] == HOOK_EVENT
        kept = mgn_client()  # a client made while installed
        assert kept.describe_source_servers()["items"] == []
    assert before == botocore.handlers.BUILTIN_HANDLERS
    assert all(h[0] != HOOK_EVENT for h in botocore.handlers.BUILTIN_HANDLERS)
    calls = len(emu.calls)
    for client in (mgn_client(), kept):  # moto has no MGN: the call no longer reaches the emulator
        with pytest.raises(ClientError, match="Not yet implemented"):
            client.describe_source_servers()
    assert len(emu.calls) == calls


def test_unimplemented_operation_is_a_clear_501(mgn: Any) -> None:
    with pytest.raises(ClientError) as exc:
        mgn.list_connectors()
    assert _error(exc)["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert _error(exc)["Error"]["Code"] == "NotImplementedException"
    assert "ListConnectors" in _error(exc)["Error"]["Message"]


# ---- request validation ---------------------------------------------------------------------------


def test_bad_enum_is_rejected_with_field_list(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("web01")
    with pytest.raises(ClientError) as exc:
        mgn.update_replication_configuration(sourceServerID=sid, dataPlaneRouting="VPN")
    err = _error(exc)
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "ValidationException"
    assert err["reason"] == "fieldValidationFailed"
    assert err["fieldList"][0]["name"] == "dataPlaneRouting"
    assert "PRIVATE_IP" in err["fieldList"][0]["message"]
    assert emu.server(sid).replication["dataPlaneRouting"] == "PRIVATE_IP"


def test_bad_pattern_server_id_is_rejected(mgn: Any) -> None:
    bad = "s-1234567890abcdef!"  # right length (botocore checks that), wrong characters
    with pytest.raises(ClientError) as exc:
        mgn.start_test(sourceServerIDs=[bad])
    err = _error(exc)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["fieldList"] == [{"name": "sourceServerIDs[0]", "message": err["fieldList"][0]["message"]}]
    assert "pattern" in err["fieldList"][0]["message"]


def test_missing_required_member_is_rejected_server_side(emu: MgnEmulator) -> None:
    client = mgn_client(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        client.change_server_life_cycle_state(sourceServerID="s-" + "a" * 17, lifeCycle={})
    names = {f["name"] for f in _error(exc)["fieldList"]}
    assert names == {"lifeCycle.state"}


def test_unknown_key_on_the_wire_is_rejected(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("web01")
    with pytest.raises(ClientError) as exc:
        send_raw_body(
            mgn,
            "UpdateReplicationConfiguration",
            {"sourceServerID": sid, "dataPlaneRouting": "PRIVATE_IP", "publicIp": True},
            sourceServerID=sid,
        )
    assert _error(exc)["fieldList"] == [{"name": "publicIp", "message": "unknown field"}]


def test_wrong_type_and_range_are_rejected(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("web01")
    with pytest.raises(ClientError) as exc:
        send_raw_body(
            mgn,
            "UpdateReplicationConfiguration",
            {"sourceServerID": sid, "createPublicIP": "no", "bandwidthThrottling": 20000},
            sourceServerID=sid,
        )
    fields = {f["name"]: f["message"] for f in _error(exc)["fieldList"]}
    assert set(fields) == {"createPublicIP", "bandwidthThrottling"}
    assert "boolean" in fields["createPublicIP"] and "maximum" in fields["bandwidthThrottling"]


def test_list_too_long_is_rejected(mgn: Any) -> None:
    client = mgn_client(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        client.start_test(sourceServerIDs=[f"s-{i:017x}" for i in range(201)])
    assert _error(exc)["fieldList"][0] == {
        "name": "sourceServerIDs",
        "message": "has 201 items, maximum is 200",
    }


def test_valid_request_passes_and_responses_validate(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    model = mgn_model()
    checks = {
        "DescribeSourceServers": mgn.describe_source_servers(filters={"isArchived": False}),
        "GetReplicationConfiguration": mgn.get_replication_configuration(sourceServerID=sid),
        "GetLaunchConfiguration": mgn.get_launch_configuration(sourceServerID=sid),
        "DescribeReplicationConfigurationTemplates": mgn.describe_replication_configuration_templates(),
        "StartTest": mgn.start_test(sourceServerIDs=[sid], tags={"change": "CHG1"}),
    }
    for op, response in checks.items():
        response.pop("ResponseMetadata")
        shape = model.operation_model(op).output_shape
        assert validate_shape(shape, response) == [], op


# ---- error shapes ----------------------------------------------------------------------------------


def test_throttling_is_parsed_with_retry_after(emu: MgnEmulator, mgn: Any) -> None:
    emu.throttle_next("describe_source_servers", count=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            mgn.describe_source_servers()
        err = _error(exc)
        assert err["Error"]["Code"] == "ThrottlingException"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert err["retryAfterSeconds"] == "7"  # the model binds it to the Retry-After header
    assert mgn.describe_source_servers()["items"] == []
    assert [c[0] for c in emu.calls] == ["DescribeSourceServers"] * 3


def test_not_found_conflict_and_quota_errors_parse(emu: MgnEmulator, mgn: Any) -> None:
    missing = "s-" + "0" * 17
    with pytest.raises(mgn.exceptions.ResourceNotFoundException) as nf:
        mgn.get_replication_configuration(sourceServerID=missing)
    assert nf.value.response["resourceId"] == missing
    assert nf.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    sid = emu.register_agent("web01")
    with pytest.raises(mgn.exceptions.ConflictException) as conflict:
        mgn.mark_as_archived(sourceServerID=sid)
    assert conflict.value.response["resourceId"] == sid
    assert conflict.value.response["resourceType"] == "SOURCE_SERVER"
    assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    emu.fail_next_call(
        "StartReplication",
        "ServiceQuotaExceededException",
        "150 replicating servers",
        quotaCode="L-REPL",
        quotaValue=150,
    )
    with pytest.raises(mgn.exceptions.ServiceQuotaExceededException) as quota:
        mgn.start_replication(sourceServerID=sid)
    assert quota.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert quota.value.response["quotaValue"] == 150


def test_uninitialized_account(clock: SimClock, network: Any) -> None:
    emu = make_emulator(clock, network, initialized=False)
    with emu.installed():
        client = mgn_client()
        with pytest.raises(client.exceptions.UninitializedAccountException):
            client.describe_source_servers()
        client.initialize_service()
        assert client.describe_source_servers()["items"] == []
        assert (
            client.describe_replication_configuration_templates()["items"][0]["dataPlaneRouting"]
            == "PRIVATE_IP"
        )
        # Another Region was never initialized.
        other = boto3.client("mgn", region_name="eu-west-1")
        with pytest.raises(other.exceptions.UninitializedAccountException):
            other.describe_source_servers()


# ---- describe / pagination / configuration --------------------------------------------------------


def test_describe_source_servers_paginates_120_servers(emu: MgnEmulator, mgn: Any) -> None:
    ids = [emu.register_agent(f"host{i:03d}") for i in range(120)]
    first = mgn.describe_source_servers(maxResults=50)
    assert len(first["items"]) == 50 and first["nextToken"]
    pages = list(mgn.get_paginator("describe_source_servers").paginate(PaginationConfig={"PageSize": 50}))
    assert [len(p["items"]) for p in pages] == [50, 50, 20]
    assert [s["sourceServerID"] for p in pages for s in p["items"]] == ids
    # Without maxResults the emulator's default page (100) applies: callers must follow nextToken.
    default = mgn.describe_source_servers()
    assert len(default["items"]) == 100 and "nextToken" in default
    with pytest.raises(mgn.exceptions.ValidationException):
        mgn.describe_source_servers(nextToken="garbage")


def test_describe_source_servers_filters(emu: MgnEmulator, mgn: Any) -> None:
    ready = ready_servers(emu, 2)
    fresh = emu.register_agent("late")
    by_state = mgn.describe_source_servers(filters={"lifeCycleStates": ["READY_FOR_TEST"]})["items"]
    assert {s["sourceServerID"] for s in by_state} == set(ready)
    by_id = mgn.describe_source_servers(filters={"sourceServerIDs": [fresh]})["items"]
    assert [s["lifeCycle"]["state"] for s in by_id] == ["NOT_READY"]
    assert mgn.describe_source_servers(filters={"isArchived": True})["items"] == []
    assert len(mgn.describe_source_servers(filters={"replicationTypes": ["AGENT_BASED"]})["items"]) == 3
    assert mgn.describe_source_servers(filters={"applicationIDs": ["app-" + "a" * 17]})["items"] == []


def test_register_agent_copies_template_and_creates_private_launch_template(
    emu: MgnEmulator, mgn: Any, network: Any
) -> None:
    sid = emu.register_agent("db01", {"app": "erp"})
    rep = mgn.get_replication_configuration(sourceServerID=sid)
    assert rep["dataPlaneRouting"] == "PRIVATE_IP" and rep["createPublicIP"] is False
    assert rep["stagingAreaSubnetId"] == network.staging_subnet_id
    launch = mgn.get_launch_configuration(sourceServerID=sid)
    versions = network.ec2.describe_launch_template_versions(LaunchTemplateId=launch["ec2LaunchTemplateID"])
    nic = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["NetworkInterfaces"][0]
    assert nic["SubnetId"] == network.launch_subnet_id and nic["AssociatePublicIpAddress"] is False


def test_templates_create_update_describe(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    created = mgn.create_replication_configuration_template(
        stagingAreaSubnetId=network.staging_subnet_id,
        associateDefaultSecurityGroup=True,
        replicationServersSecurityGroupsIDs=[],
        replicationServerInstanceType="t3.small",
        useDedicatedReplicationServer=False,
        defaultLargeStagingDiskType="GP3",
        ebsEncryption="DEFAULT",
        bandwidthThrottling=0,
        dataPlaneRouting="PUBLIC_IP",
        createPublicIP=True,
        stagingAreaTags={},
        tags={"owner": "migration"},
    )
    tid = created["replicationConfigurationTemplateID"]
    assert tid.startswith("rct-")
    updated = mgn.update_replication_configuration_template(
        replicationConfigurationTemplateID=tid, dataPlaneRouting="PRIVATE_IP", createPublicIP=False
    )
    assert (updated["dataPlaneRouting"], updated["createPublicIP"]) == ("PRIVATE_IP", False)
    listed = mgn.describe_replication_configuration_templates(replicationConfigurationTemplateIDs=[tid])[
        "items"
    ]
    assert listed[0]["tags"] == {"owner": "migration"}
    with pytest.raises(mgn.exceptions.ValidationException):
        mgn.update_replication_configuration_template(
            replicationConfigurationTemplateID=tid, ebsEncryption="CUSTOM"
        )
    with pytest.raises(mgn.exceptions.ResourceNotFoundException):
        mgn.update_replication_configuration_template(replicationConfigurationTemplateID="rct-" + "z" * 17)


def test_update_launch_configuration_and_tags(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("app01", {"env": "prod"})
    out = mgn.update_launch_configuration(sourceServerID=sid, launchDisposition="STOPPED", copyPrivateIp=True)
    assert out["launchDisposition"] == "STOPPED" and out["copyPrivateIp"] is True
    arn = emu.server(sid).arn
    mgn.tag_resource(resourceArn=arn, tags={"wave": "3"})
    mgn.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert mgn.list_tags_for_resource(resourceArn=arn)["tags"] == {"wave": "3"}
    with pytest.raises(mgn.exceptions.ValidationException):
        mgn.tag_resource(resourceArn=arn, tags={"aws:reserved": "x"})
    with pytest.raises(mgn.exceptions.ResourceNotFoundException):
        mgn.list_tags_for_resource(resourceArn=arn.replace(sid, "s-" + "f" * 17))


def test_validator_checks_nested_maps_unions_and_patterns() -> None:
    shape = mgn_model().operation_model("UpdateLaunchConfiguration").input_shape
    docs = {
        "ssmDocuments": [
            {
                "actionName": "a",
                "ssmDocumentName": "AWS-RunShellScript",
                "parameters": {"bad key!": [{"parameterType": "STRING", "parameterName": "p"}]},
                "externalParameters": {"x": {}},
                "timeoutSeconds": 0,
            }
        ]
    }
    problems = {
        p.name for p in validate_shape(shape, {"sourceServerID": "s-" + "a" * 17, "postLaunchActions": docs})
    }
    base = "postLaunchActions.ssmDocuments[0]"
    assert problems == {
        f"{base}.parameters.<key 'bad key!'>",  # map key breaks the name pattern
        f"{base}.externalParameters.x",  # a union needs exactly one member
        f"{base}.timeoutSeconds",  # below the minimum of 1
    }
