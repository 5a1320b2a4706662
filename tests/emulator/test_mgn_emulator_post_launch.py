"""MGN emulator: post-launch actions on launched instances (the SSM agent, then each SSM document),
reported in DescribeJobs' participatingServers[].postLaunchActionsStatus; responses validate against
botocore's model (the emulator checks every response)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from mgn_test_support import JOB_DONE_AFTER, ready_servers

from localcloud.mgn import MgnEmulator
from localcloud.mgn.post_launch import SSM_ENDPOINT_SERVICES, SSM_INSTANCE_PROFILE

DOCUMENTS = [
    {
        "actionName": "install-monitoring",
        "ssmDocumentName": "AWS-RunShellScript",
        "mustSucceedForCutover": True,
    },
    {"actionName": "smoke-test", "ssmDocumentName": "AWS-RunShellScript", "mustSucceedForCutover": False},
]


def _endpoints(network: SimpleNamespace, services: tuple[str, ...] = SSM_ENDPOINT_SERVICES) -> None:
    for service in services:
        network.ec2.create_vpc_endpoint(
            VpcId=network.vpc_id,
            ServiceName=f"com.amazonaws.us-east-1.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[network.launch_subnet_id],
            PrivateDnsEnabled=True,
        )


def _with_actions(mgn: Any, sid: str, deployment: str = "TEST_AND_CUTOVER") -> None:
    mgn.update_launch_configuration(
        sourceServerID=sid, postLaunchActions={"deployment": deployment, "ssmDocuments": DOCUMENTS}
    )


def _status(mgn: Any, job_id: str) -> dict[str, Any] | None:
    [job] = mgn.describe_jobs(filters={"jobIDs": [job_id]})["items"]
    [entry] = job["participatingServers"]
    status: dict[str, Any] | None = entry.get("postLaunchActionsStatus")
    return status


def _launched(emu: MgnEmulator, mgn: Any, sid: str) -> tuple[str, str]:
    job_id = mgn.start_test(sourceServerIDs=[sid])["job"]["jobID"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    return job_id, emu.server(sid).launched_instance["ec2InstanceID"]


def test_the_agent_registers_then_each_document_runs(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    _endpoints(network)
    [sid] = ready_servers(emu, 1)
    _with_actions(mgn, sid)
    emu.post_launch.failing_actions["smoke-test"] = "exit code 3"
    job_id, instance_id = _launched(emu, mgn, sid)

    instance = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{SSM_INSTANCE_PROFILE}")
    assert _status(mgn, job_id) == {"postLaunchActionsLaunchStatusList": []}  # agent not seen yet

    emu.clock.advance(emu.post_launch.agent_discovery_seconds)
    running = _status(mgn, job_id)
    assert running is not None and running["ssmAgentDiscoveryDatetime"].endswith("Z")
    assert [
        (e["ssmDocument"]["actionName"], e["executionStatus"])
        for e in running["postLaunchActionsLaunchStatusList"]
    ] == [("install-monitoring", "IN_PROGRESS"), ("smoke-test", "IN_PROGRESS")]

    emu.clock.advance(emu.post_launch.action_seconds)
    done = _status(mgn, job_id)
    assert done is not None
    assert [
        (e["ssmDocument"]["actionName"], e["executionStatus"], e.get("failureReason"))
        for e in done["postLaunchActionsLaunchStatusList"]
    ] == [("install-monitoring", "SUCCESS", None), ("smoke-test", "FAILED", "exit code 3")]
    assert all(
        e["ssmDocumentType"] == "COMMAND" and e["executionID"]
        for e in done["postLaunchActionsLaunchStatusList"]
    )


@pytest.mark.parametrize(
    "broken",
    ["no ssmmessages endpoint", "no private DNS", "profile lacks SSM permissions", "no instance profile"],
)
def test_the_agent_never_registers_when_the_instance_cannot_reach_systems_manager(
    emu: MgnEmulator, mgn: Any, network: Any, broken: str
) -> None:
    if broken == "no ssmmessages endpoint":
        _endpoints(network, ("ssm", "ec2messages"))
    elif broken == "no private DNS":
        _endpoints(network, ("ssm", "ssmmessages"))
        network.ec2.create_vpc_endpoint(
            VpcId=network.vpc_id,
            ServiceName="com.amazonaws.us-east-1.ec2messages",
            VpcEndpointType="Interface",
            PrivateDnsEnabled=False,
        )
    else:
        _endpoints(network)
    if broken == "profile lacks SSM permissions":
        emu.remove_ssm_permissions()
    emu.post_launch.attach_instance_profile = broken != "no instance profile"
    [sid] = ready_servers(emu, 1)
    _with_actions(mgn, sid)
    job_id, instance_id = _launched(emu, mgn, sid)
    emu.clock.advance(3600)
    assert _status(mgn, job_id) == {"postLaunchActionsLaunchStatusList": []}
    instance = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert ("IamInstanceProfile" in instance) is (broken != "no instance profile")


def test_no_status_and_no_profile_where_no_action_applies(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    _endpoints(network)
    plain, cutover_only = ready_servers(emu, 2)
    _with_actions(mgn, cutover_only, deployment="CUTOVER_ONLY")
    for sid in (plain, cutover_only):
        job_id, instance_id = _launched(emu, mgn, sid)
        emu.clock.advance(3600)
        assert _status(mgn, job_id) is None
        instance = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][
            0
        ]
        assert "IamInstanceProfile" not in instance


def test_a_replaced_instance_s_actions_stop_where_they_were(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    _endpoints(network)
    [sid] = ready_servers(emu, 1)
    _with_actions(mgn, sid)
    first_job, _ = _launched(emu, mgn, sid)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_TEST"})
    second_job, _ = _launched(emu, mgn, sid)  # MGN terminates the first test instance
    emu.clock.advance(3600)
    assert _status(mgn, first_job) == {"postLaunchActionsLaunchStatusList": []}
    second = _status(mgn, second_job)
    assert second is not None and {
        e["executionStatus"] for e in second["postLaunchActionsLaunchStatusList"]
    } == {"SUCCESS"}


def test_a_profile_named_in_the_launch_template_is_used_and_its_policies_decide(
    emu: MgnEmulator, mgn: Any, network: Any
) -> None:
    _endpoints(network)
    iam = boto3.client("iam")
    for name, actions in (
        ("app-without-ssm", ["s3:GetObject"]),
        ("app-with-ssm", ["ssm:*", "ssmmessages:*"]),
    ):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
        iam.put_role_policy(
            RoleName=name,
            PolicyName="app",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
                }
            ),
        )
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    registered = {}
    for name, sid in zip(("app-without-ssm", "app-with-ssm"), ready_servers(emu, 2), strict=True):
        _with_actions(mgn, sid)
        template = mgn.get_launch_configuration(sourceServerID=sid)["ec2LaunchTemplateID"]
        data = network.ec2.describe_launch_template_versions(
            LaunchTemplateId=template, Versions=["$Default"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        version = network.ec2.create_launch_template_version(  # moto's SourceVersion copies nothing
            LaunchTemplateId=template,
            LaunchTemplateData={**data, "IamInstanceProfile": {"Name": name}},
        )["LaunchTemplateVersion"]["VersionNumber"]
        network.ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion=str(version))
        job_id, instance_id = _launched(emu, mgn, sid)
        emu.clock.advance(3600)
        instance = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][
            0
        ]
        assert instance["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{name}")
        registered[name] = "ssmAgentDiscoveryDatetime" in (_status(mgn, job_id) or {})
    assert registered == {"app-without-ssm": False, "app-with-ssm": True}
