"""Post-launch actions on a launched instance, as MGN runs them and reports them in the launch job.

With post-launch actions on a launch (the launch configuration's ``postLaunchActions`` has SSM
documents and its ``deployment`` covers the launch), MGN launches the instance with its SSM instance
profile, installs the SSM agent, and once Systems Manager sees the agent, the job's participating
server shows ``postLaunchActionsStatus.ssmAgentDiscoveryDatetime`` and each document runs
(``postLaunchActionsLaunchStatusList``: IN_PROGRESS, then SUCCESS or FAILED).

The agent registers only if the instance can reach Systems Manager: an instance profile whose role
allows the agent's ``ssm:UpdateInstanceInformation`` (read from moto's IAM: inline and customer
policies' Allow statements, or the AWS managed SSM policies attached by name; Deny and conditions are
not evaluated), and interface endpoints for ssm, ssmmessages and ec2messages with private DNS in the
instance's VPC (read from moto, so ``localcloud.vpc`` switches break it). Otherwise the status stays
empty: the agent never shows and no action runs.

Assumptions (MGN does not document them): the profile is attached only to launches with post-launch
actions, a profile named in the launch template wins over MGN's; the agent is looked for once,
``agent_discovery_seconds`` after launch (a later fix needs a new launch); the documents run together
and report COMMAND as their type.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from localcloud.mgn.util import iso

if TYPE_CHECKING:
    from localcloud.mgn.backend import MgnBackend
    from localcloud.mgn.jobs import JobRecord
    from localcloud.mgn.server_state import ServerRecord

# The instance profile MGN creates for post-launch actions (its role carries AmazonSSMManagedInstanceCore).
SSM_INSTANCE_PROFILE = "AWSApplicationMigrationLaunchInstanceWithSsmRole"
# The inline policy the emulator gives that role: AmazonSSMManagedInstanceCore's agent actions (moto
# loads no AWS managed policies unless asked to).
SSM_CORE_POLICY_NAME = "AmazonSSMManagedInstanceCore"
SSM_CORE_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssm:ListInstanceAssociations",
    "ssmmessages:*",
    "ec2messages:*",
)
SSM_ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages")
# What the agent calls to register with Systems Manager.
_AGENT_REGISTERS_WITH = "ssm:UpdateInstanceInformation"
_MANAGED_SSM_POLICIES = frozenset(
    {"AmazonSSMManagedInstanceCore", "AmazonEC2RoleforSSM", "AmazonSSMFullAccess"}
)
_PHASES = {True: {"TEST_AND_CUTOVER", "TEST_ONLY"}, False: {"TEST_AND_CUTOVER", "CUTOVER_ONLY"}}


@dataclass
class PostLaunchWorld:
    """What decides whether post-launch actions can run on a launched instance; tests change these."""

    # False: MGN launches without an instance profile (its SSM role was deleted, or the account's
    # post-launch settings were turned off while the server's actions stayed).
    attach_instance_profile: bool = True
    # After launch: MGN installs the agent and Systems Manager sees it (minutes in MGN).
    agent_discovery_seconds: float = 240.0
    action_seconds: float = 120.0
    # actionName -> failureReason: these actions end FAILED.
    failing_actions: dict[str, str] = field(default_factory=dict)


@dataclass
class PostLaunchRun:
    """The post-launch actions of one server in one launch job."""

    instance_id: str
    documents: list[dict[str, Any]]
    discovered_at: datetime | None = None
    # actionName -> (executionID, executionStatus, failureReason)
    executions: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The PostLaunchActionsStatus shape."""
        out: dict[str, Any] = {}
        if self.discovered_at is not None:
            out["ssmAgentDiscoveryDatetime"] = iso(self.discovered_at)
        entries = []
        for document in self.documents:
            execution = self.executions.get(document["actionName"])
            if execution is None:
                continue
            execution_id, status, reason = execution
            entry = {
                "ssmDocument": dict(document),
                "ssmDocumentType": "COMMAND",
                "executionID": execution_id,
                "executionStatus": status,
            }
            if reason:
                entry["failureReason"] = reason
            entries.append(entry)
        out["postLaunchActionsLaunchStatusList"] = entries
        return out


class PostLaunchRunner:
    def __init__(self, backend: MgnBackend, iam_client: Any | None = None) -> None:
        self._b = backend
        self.world = PostLaunchWorld()
        self._iam = iam_client
        self._profile_made = False

    def documents_for(self, server: ServerRecord, is_test: bool) -> list[dict[str, Any]]:
        """The SSM documents this launch of ``server`` runs (none: no post-launch actions)."""
        actions = server.launch.get("postLaunchActions") or {}
        if actions.get("deployment", "TEST_AND_CUTOVER") not in _PHASES[is_test]:
            return []
        return [dict(d) for d in actions.get("ssmDocuments") or []]

    def instance_profile(self, documents: list[dict[str, Any]]) -> str | None:
        """The profile MGN launches the instance with, made in IAM on first use as MGN does."""
        if not documents or not self.world.attach_instance_profile:
            return None
        if not self._profile_made:
            self._make_profile()
        return SSM_INSTANCE_PROFILE

    def start(
        self, job: JobRecord, server_id: str, instance_id: str, documents: list[dict[str, Any]]
    ) -> None:
        run = PostLaunchRun(instance_id, documents)
        job.post_launch[server_id] = run
        self._b.clock.call_later(
            self.world.agent_discovery_seconds, lambda: self._look_for_agent(server_id, run)
        )

    # ---- on the clock -----------------------------------------------------------------------

    def _current(self, server_id: str, run: PostLaunchRun) -> bool:
        server = self._b.servers.get(server_id)
        return server is not None and (server.launched_instance or {}).get("ec2InstanceID") == run.instance_id

    def _look_for_agent(self, server_id: str, run: PostLaunchRun) -> None:
        if not self._current(server_id, run) or not self.reaches_systems_manager(run.instance_id):
            return
        now = self._b.clock.now()
        run.discovered_at = now
        for document in run.documents:
            run.executions[document["actionName"]] = (self._b.ids.uuid(), "IN_PROGRESS", "")
        self._b.clock.call_later(self.world.action_seconds, lambda: self._finish(server_id, run))

    def _finish(self, server_id: str, run: PostLaunchRun) -> None:
        if not self._current(server_id, run):
            return
        for action, (execution_id, _, _) in list(run.executions.items()):
            reason = self.world.failing_actions.get(action)
            run.executions[action] = (execution_id, "FAILED" if reason else "SUCCESS", reason or "")

    # ---- what the agent needs ---------------------------------------------------------------

    def reaches_systems_manager(self, instance_id: str) -> bool:
        """Profile with SSM permissions, and the three endpoints with private DNS in its VPC."""
        ec2 = self._b.ec2.client
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError:
            return False
        instance = reservations[0]["Instances"][0] if reservations else {}
        profile = (instance.get("IamInstanceProfile") or {}).get("Arn")
        if (instance.get("State") or {}).get("Name") != "running" or not profile:
            return False
        if not self.profile_allows_agent(str(profile)):
            return False
        endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [instance["VpcId"]]}])
        usable = {
            e["ServiceName"].rsplit(".", 1)[-1]
            for e in endpoints.get("VpcEndpoints", [])
            if e.get("VpcEndpointType") == "Interface"
            and e.get("State", "").lower() == "available"
            and e.get("PrivateDnsEnabled")
        }
        return all(service in usable for service in SSM_ENDPOINT_SERVICES)

    def profile_allows_agent(self, profile_arn: str) -> bool:
        """Whether a role of the instance profile allows the agent to register (``ssm:UpdateInstanceInformation``)."""
        iam = self._iam_client()
        try:
            roles = iam.get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[-1])[
                "InstanceProfile"
            ]["Roles"]
        except ClientError:
            return False
        for role in roles:
            name = role["RoleName"]
            documents = [
                iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ]
            for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                if attached["PolicyName"] in _MANAGED_SSM_POLICIES:
                    return True
                version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
                documents.append(
                    iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)[
                        "PolicyVersion"
                    ]["Document"]
                )
            if any(_allows(document, _AGENT_REGISTERS_WITH) for document in documents):
                return True
        return False

    def remove_ssm_permissions(self, profile: str = SSM_INSTANCE_PROFILE) -> None:
        """Take every policy off the profile's roles, as someone tightening IAM might."""
        iam = self._iam_client()
        if profile == SSM_INSTANCE_PROFILE and not self._profile_made:
            self._make_profile()
        for role in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]:
            for policy in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
                iam.delete_role_policy(RoleName=role["RoleName"], PolicyName=policy)
            for attached in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=attached["PolicyArn"])

    def _iam_client(self) -> Any:
        # Created on first use, inside the test's mock_aws context.
        if self._iam is None:
            self._iam = boto3.client("iam", region_name=self._b.region)
        return self._iam

    def _make_profile(self) -> None:
        iam = self._iam_client()
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        try:
            iam.create_role(RoleName=SSM_INSTANCE_PROFILE, AssumeRolePolicyDocument=json.dumps(trust))
            iam.create_instance_profile(InstanceProfileName=SSM_INSTANCE_PROFILE)
            iam.add_role_to_instance_profile(
                InstanceProfileName=SSM_INSTANCE_PROFILE, RoleName=SSM_INSTANCE_PROFILE
            )
            iam.put_role_policy(
                RoleName=SSM_INSTANCE_PROFILE,
                PolicyName=SSM_CORE_POLICY_NAME,
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": list(SSM_CORE_ACTIONS), "Resource": "*"}],
                    }
                ),
            )
        except ClientError as err:
            # Another emulator in this moto account made it already.
            if err.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
        self._profile_made = True


def _allows(document: Any, action: str) -> bool:
    """An Allow statement whose Action matches ``action`` (wildcards as IAM reads them)."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action") or []
        patterns = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(
            fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns
        ):
            return True
    return False
