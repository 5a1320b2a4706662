"""Private-IP replication settings: enforced, drift detected and repaired, audited, told to a person.

Every test drives the real handlers against the emulated MGN; writes are counted from what the
emulator received, so "zero writes" means zero calls reached MGN.
"""

from __future__ import annotations

from typing import Any

import pytest

from mgn_pipeline.shared.errors import MgnRequestRejectedError
from tests.conftest import FakeLambdaContext
from tests.integration.conftest import Account

OPERATOR = "arn:aws:sts::111122223333:assumed-role/MigrationOperator/jdoe"


def reconcile(account: Account, event: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = account.load_handler("reconciler").lambda_handler(
        event or {}, FakeLambdaContext()
    )
    return result


def deliver(account: Account, event: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = account.load_handler("mgn_events").lambda_handler(
        event, FakeLambdaContext()
    )
    return result


def last_api_call(account: Account, name: str) -> dict[str, Any]:
    return next(e for e in reversed(account.mgn.events) if e["detail"].get("eventName") == name)


def replication(account: Account, server_id: str) -> dict[str, Any]:
    config: dict[str, Any] = account.mgn_client.get_replication_configuration(sourceServerID=server_id)
    return config


def audit(account: Account, subject: str) -> list[dict[str, Any]]:
    from mgn_pipeline.shared.aws.audit import AuditTrail

    return AuditTrail(account.dynamodb, "audit").history(subject)


def deployed(account: Account) -> None:
    """The stack's deployment: its stack-status event runs a reconcile before any agent exists."""
    reconcile(account, {"source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change"})


def replicating_server(account: Account, hostname: str = "erp-db-01") -> str:
    deployed(account)
    server_id = account.mgn.register_agent(hostname)
    account.clock.advance(30)
    return server_id


def test_new_server_is_compliant_before_its_replication_starts(account: Account) -> None:
    deployed(account)
    template = account.mgn_client.describe_replication_configuration_templates()["items"][0]
    assert template["dataPlaneRouting"] == "PRIVATE_IP"
    assert template["replicationServersSecurityGroupsIDs"] == [account.replication_security_group_id]
    assert template["associateDefaultSecurityGroup"] is False

    server_id = account.mgn.register_agent("new-01")
    config = replication(account, server_id)

    # Inherited from the template at install: nothing to repair, nothing written.
    assert config["dataPlaneRouting"] == "PRIVATE_IP"
    assert config["createPublicIP"] is False
    assert config["stagingAreaSubnetId"] == account.staging_subnet_id
    writes_before = len(account.mgn_writes())
    reconcile(account)
    assert len(account.mgn_writes()) == writes_before


def test_template_created_on_deploy_when_none_exists(account: Account) -> None:
    deployed(account)
    templates = account.mgn_client.describe_replication_configuration_templates()["items"]
    assert len(templates) == 1
    assert account.mgn_writes() == ["CreateReplicationConfigurationTemplate"]
    actions = [
        r["action"] for r in audit(account, f"template/{templates[0]['replicationConfigurationTemplateID']}")
    ]
    assert actions == ["replication-template-created"]


def test_compliant_account_gets_zero_writes(account: Account) -> None:
    deployed(account)
    for n in range(30):
        account.mgn.register_agent(f"app-{n:02d}")
    account.clock.run_until_idle(max_seconds=3600)
    writes_before = len(account.mgn_writes())

    for _ in range(3):
        reconcile(account)

    assert len(account.mgn_writes()) == writes_before
    assert account.notices() == []


def test_server_flipped_to_public_is_repaired_by_the_cloudtrail_event(account: Account) -> None:
    server_id = replicating_server(account)
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration(
            sourceServerID=server_id, dataPlaneRouting="PUBLIC_IP", createPublicIP=True
        )
    event = last_api_call(account, "UpdateReplicationConfiguration")

    deliver(account, event)

    config = replication(account, server_id)
    assert (config["dataPlaneRouting"], config["createPublicIP"]) == ("PRIVATE_IP", False)
    [record] = audit(account, server_id)
    assert record["action"] == "replication-settings-repaired"
    assert record["actor"] == OPERATOR
    assert record["before"] == {"dataPlaneRouting": "PUBLIC_IP", "createPublicIP": True}
    assert record["after"] == {"dataPlaneRouting": "PRIVATE_IP", "createPublicIP": False}
    [notice] = account.notices()
    assert notice["Subject"] == "Replication settings drift repaired on erp-db-01"
    assert "dataPlaneRouting: 'PUBLIC_IP' -> 'PRIVATE_IP'" in notice["Message"]
    assert OPERATOR in notice["Message"]


def test_duplicate_and_replayed_events_make_no_extra_writes(account: Account) -> None:
    server_id = replicating_server(account)
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration(
            sourceServerID=server_id, dataPlaneRouting="PUBLIC_IP"
        )
    event = last_api_call(account, "UpdateReplicationConfiguration")

    deliver(account, event)
    writes = len(account.mgn_writes())
    deliver(account, event)  # the same event again (at-least-once delivery)
    replay = {**event, "id": "replayed-from-archive-0001"}
    deliver(account, replay)  # an archive replay: new id, same (now stale) content

    assert len(account.mgn_writes()) == writes
    assert len(audit(account, server_id)) == 1


def test_lost_event_drift_is_repaired_at_the_next_reconcile(account: Account) -> None:
    server_id = replicating_server(account)
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration(sourceServerID=server_id, createPublicIP=True)
    # The CloudTrail event is never delivered. MGN restarts replication on a network change, so the
    # next reconcile sees a new state and re-reads the settings at once.
    report = reconcile(account)

    assert replication(account, server_id)["createPublicIP"] is False
    assert report["failures"] == {}
    [record] = audit(account, server_id)
    assert record["trigger"] == "reconciler"
    assert record["actor"] == "unknown"  # who did it is in CloudTrail; the record says it was found late


def test_quiet_server_is_rechecked_on_the_interval_not_at_every_reconcile(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGING_AREA_TAGS", '{"CostCenter": "migration"}')
    server_id = replicating_server(account)
    account.clock.run_until_idle(max_seconds=3600)
    reconcile(account)  # the server reached CONTINUOUS: a state change, settings read once
    assert replication(account, server_id)["stagingAreaTags"] == {"CostCenter": "migration"}
    # Someone drops the tag; the event is lost. Nothing about the server's state changes.
    account.mgn_client.update_replication_configuration(sourceServerID=server_id, stagingAreaTags={})
    reads = account.call_count("GetReplicationConfiguration")

    for _ in range(11):  # 55 minutes of reconciles on a quiet server: no settings reads
        account.clock.advance(300)
        reconcile(account)
    assert account.call_count("GetReplicationConfiguration") == reads

    account.clock.advance(6 * 60)  # past SETTINGS_RECHECK_MINUTES (60, the template's default)
    reconcile(account)
    assert replication(account, server_id)["stagingAreaTags"] == {"CostCenter": "migration"}
    assert [r["action"] for r in audit(account, server_id)][-1] == "replication-settings-repaired"


def test_public_routing_stalls_replication_and_the_repair_unstalls_it(account: Account) -> None:
    deployed(account)
    server_id = account.mgn.register_agent("stall-01")
    account.mgn_client.update_replication_configuration(
        sourceServerID=server_id, dataPlaneRouting="PUBLIC_IP"
    )
    account.clock.advance(600)
    assert account.mgn.server(server_id).repl_state == "STALLED"

    reconcile(account)
    account.clock.run_until_idle(max_seconds=7200)

    assert account.mgn.server(server_id).lifecycle == "READY_FOR_TEST"


def test_template_drift_is_repaired_by_the_event_and_by_the_reconciler(account: Account) -> None:
    deployed(account)
    template_id = account.mgn_client.describe_replication_configuration_templates()["items"][0][
        "replicationConfigurationTemplateID"
    ]
    with account.mgn.acting_as(OPERATOR):
        account.mgn_client.update_replication_configuration_template(
            replicationConfigurationTemplateID=template_id, dataPlaneRouting="PUBLIC_IP"
        )
    deliver(account, last_api_call(account, "UpdateReplicationConfigurationTemplate"))
    template = account.mgn_client.describe_replication_configuration_templates()["items"][0]
    assert template["dataPlaneRouting"] == "PRIVATE_IP"

    # Again, but the event is lost: the reconcile after the recheck interval puts it back (the
    # templates are read once per interval, not every five minutes; new servers are checked anyway).
    account.mgn_client.update_replication_configuration_template(
        replicationConfigurationTemplateID=template_id, createPublicIP=True
    )
    reconcile(account)
    template = account.mgn_client.describe_replication_configuration_templates()["items"][0]
    assert template["createPublicIP"] is True  # checked at the deployment, minutes ago
    account.clock.advance(61 * 60)  # past SETTINGS_RECHECK_MINUTES (60)
    reconcile(account)
    template = account.mgn_client.describe_replication_configuration_templates()["items"][0]
    assert template["createPublicIP"] is False
    actions = [r["action"] for r in audit(account, f"template/{template_id}")]
    assert actions == [
        "replication-template-created",
        "replication-template-repaired",
        "replication-template-repaired",
    ]
    assert [r["actor"] for r in audit(account, f"template/{template_id}")][1] == OPERATOR
    assert len(account.notices()) == 2


def _give_public_ip(account: Account, server_id: str) -> str:
    template_id = account.mgn_client.get_launch_configuration(sourceServerID=server_id)["ec2LaunchTemplateID"]
    version = account.ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="$Default",
        LaunchTemplateData={
            "NetworkInterfaces": [
                {"DeviceIndex": 0, "AssociatePublicIpAddress": True, "SubnetId": account.launch_subnet_id}
            ]
        },
    )["LaunchTemplateVersion"]["VersionNumber"]
    account.ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
    return template_id


def default_interface(account: Account, template_id: str) -> dict[str, Any]:
    version = account.ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Default"]
    )
    interface: dict[str, Any] = version["LaunchTemplateVersions"][0]["LaunchTemplateData"][
        "NetworkInterfaces"
    ][0]
    return interface


def test_launch_template_with_public_ip_is_repaired(account: Account) -> None:
    server_id = replicating_server(account)
    template_id = _give_public_ip(account, server_id)

    reconcile(account)

    assert default_interface(account, template_id)["AssociatePublicIpAddress"] is False
    assert [r["action"] for r in audit(account, server_id)] == ["launch-template-repaired"]
    assert "Launch template repaired" in account.notices()[0]["Subject"]


def test_launch_template_with_public_ip_blocks_in_block_mode(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCH_VIOLATION_MODE", "block")
    server_id = replicating_server(account)
    template_id = _give_public_ip(account, server_id)

    reconcile(account)

    assert default_interface(account, template_id)["AssociatePublicIpAddress"] is True  # left alone
    assert [r["action"] for r in audit(account, server_id)] == ["launch-template-blocked"]
    assert "Launches blocked" in account.notices()[0]["Subject"]


def test_out_of_scope_archived_and_disconnected_servers_get_no_writes(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPE_TAG_KEY", "migrate")
    deployed(account)
    untagged = account.mgn.register_agent("not-mine")
    disconnected = account.mgn.register_agent("gone")
    for server_id in (untagged, disconnected):
        account.mgn_client.update_replication_configuration(
            sourceServerID=server_id, dataPlaneRouting="PUBLIC_IP"
        )
    account.mgn_client.disconnect_from_service(sourceServerID=disconnected)
    writes = len(account.mgn_writes())

    reconcile(account)

    assert len(account.mgn_writes()) == writes
    assert replication(account, untagged)["dataPlaneRouting"] == "PUBLIC_IP"


def test_validation_error_names_the_field_in_log_and_notification(account: Account) -> None:
    server_id = replicating_server(account)
    account.mgn_client.update_replication_configuration(
        sourceServerID=server_id, dataPlaneRouting="PUBLIC_IP"
    )
    account.mgn.fail_next_call(
        "UpdateReplicationConfiguration",
        "ValidationException",
        "Invalid staging area subnet",
        reason="fieldValidationFailed",
        fieldList=[{"name": "stagingAreaSubnetId", "message": "Subnet not found"}],
    )
    event = last_api_call(account, "UpdateReplicationConfiguration")

    with pytest.raises(MgnRequestRejectedError, match="stagingAreaSubnetId"):
        deliver(account, event)

    [notice] = account.notices()
    assert "stagingAreaSubnetId" in notice["Message"]
    assert audit(account, server_id) == []
