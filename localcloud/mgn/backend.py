"""State of the emulated MGN region: servers, templates, jobs, waves and applications, and the EC2 side in moto."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from localcloud.clock import SimClock
from localcloud.mgn.applications import ApplicationRecord, WaveRecord
from localcloud.mgn.errors import QuotaExceededError
from localcloud.mgn.events import EventEmitter
from localcloud.mgn.jobs import JobRecord, JobRunner, Timings
from localcloud.mgn.post_launch import PostLaunchRunner
from localcloud.mgn.quotas import SOURCE_SERVERS_QUOTA_CODE, Quotas
from localcloud.mgn.replication import ReplicationSimulator
from localcloud.mgn.server_state import ServerRecord
from localcloud.mgn.util import IdFactory

DEFAULT_DISKS = ({"deviceName": "/dev/sda", "bytes": 80 * 1024**3},)


class Ec2Side:
    """What MGN does in the customer's EC2 (answered by moto): launch templates, instances."""

    def __init__(self, region: str, launch_subnet_id: str | None, client: Any | None = None) -> None:
        self.region = region
        self.launch_subnet_id = launch_subnet_id
        self._client = client
        self._image_id: str | None = None

    @property
    def client(self) -> Any:
        # Created on first use so that it is made inside the test's mock_aws context.
        if self._client is None:
            self._client = boto3.client("ec2", region_name=self.region)
        return self._client

    def create_launch_template(self, server_id: str) -> str:
        """The EC2 launch template MGN creates per server: private subnet, no public IP."""
        data: dict[str, Any] = {"InstanceType": "t3.medium"}
        if self.launch_subnet_id:
            data["NetworkInterfaces"] = [
                {"DeviceIndex": 0, "SubnetId": self.launch_subnet_id, "AssociatePublicIpAddress": False}
            ]
        tags = [{"Key": "AWSApplicationMigrationServiceManaged", "Value": "mgn.amazonaws.com"}]
        name = f"mgn-{server_id}"
        for attempt in range(1, 100):
            try:
                resp = self.client.create_launch_template(
                    LaunchTemplateName=name,
                    LaunchTemplateData=data,
                    TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
                )
                break
            except ClientError as err:
                # Another emulator with the same id seed already used this name in this moto account.
                if "AlreadyExists" not in err.response["Error"]["Code"]:
                    raise
                name = f"mgn-{server_id}-{attempt}"
        return str(resp["LaunchTemplate"]["LaunchTemplateId"])

    def _image(self) -> str:
        # Stands in for the volumes MGN converts from the replicated disks. Registering one
        # AMI is cheap; searching moto's built-in AMIs takes seconds.
        if self._image_id is None:
            self._image_id = self.client.register_image(
                Name="mgn-emulated-converted-volume",
                RootDeviceName="/dev/sda1",
                BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 80}}],
            )["ImageId"]
        return str(self._image_id)

    def launch(self, server: ServerRecord, instance_profile: str | None = None) -> str:
        """Launch the target instance from the server's launch template (default version), with
        ``instance_profile`` (MGN's, for post-launch actions) unless the template names one."""
        tags = {
            "Name": server.hostname,
            "AWSApplicationMigrationServiceManaged": "mgn.amazonaws.com",
            "AWSApplicationMigrationServiceSourceServerID": server.server_id,
        }
        if server.launch.get("copyTags"):
            tags = {**server.tags, **tags}
        template_id = server.launch["ec2LaunchTemplateID"]
        extra: dict[str, Any] = {}
        # moto 5.2.5 ignores a launch template's NetworkInterfaces; EC2 honours them, so pass
        # them explicitly and the template still decides the subnet and public IP.
        data = self.client.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=["$Default"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        if data.get("NetworkInterfaces"):
            extra["NetworkInterfaces"] = [
                {
                    k: v
                    for k, v in nic.items()
                    if k in ("DeviceIndex", "SubnetId", "AssociatePublicIpAddress", "Groups")
                }
                for nic in data["NetworkInterfaces"]
            ]
        # moto ignores a template's instance profile too; EC2 refuses one that does not exist.
        if data.get("IamInstanceProfile"):
            extra["IamInstanceProfile"] = data["IamInstanceProfile"]
        elif instance_profile:
            extra["IamInstanceProfile"] = {"Name": instance_profile}
        resp = self.client.run_instances(
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
            ImageId=self._image(),
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
            **extra,
        )
        instance_id = str(resp["Instances"][0]["InstanceId"])
        if server.launch.get("launchDisposition") == "STOPPED":
            self.client.stop_instances(InstanceIds=[instance_id])
        return instance_id

    def terminate(self, instance_id: str) -> None:
        self.client.terminate_instances(InstanceIds=[instance_id])


class MgnBackend:
    """All MGN state of one account and region, plus the machinery that moves it over time."""

    def __init__(
        self,
        clock: SimClock,
        region: str,
        account_id: str,
        *,
        initialized: bool,
        staging_subnet_id: str | None,
        launch_subnet_id: str | None,
        timings: Timings,
        quotas: Quotas,
        ec2_client: Any | None,
        seed: int,
    ) -> None:
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.initialized = initialized
        self.staging_subnet_id = staging_subnet_id
        self.timings = timings
        self.quotas = quotas
        self.ids = IdFactory(seed)
        self.emitter = EventEmitter(self.ids, account_id, region)
        self.replication = ReplicationSimulator(clock, self.emitter, lambda: self.quotas)
        self.runner = JobRunner(self)
        self.ec2 = Ec2Side(region, launch_subnet_id, ec2_client)
        self.post_launch = PostLaunchRunner(self)
        self.servers: dict[str, ServerRecord] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.waves: dict[str, WaveRecord] = {}
        self.applications: dict[str, ApplicationRecord] = {}

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:mgn:{self.region}:{self.account_id}:{kind}/{resource_id}"

    def new_job(
        self, job_type: str, initiated_by: str, server_ids: list[str], tags: dict[str, str]
    ) -> JobRecord:
        job_id = "mgnjob-" + self.ids.alnum(17)
        job = JobRecord(
            job_id=job_id,
            arn=self.arn("job", job_id),
            type=job_type,
            initiated_by=initiated_by,
            created_at=self.clock.now(),
            server_ids=list(server_ids),
            tags=dict(tags),
        )
        job.launch_status = dict.fromkeys(server_ids, "PENDING")
        self.jobs[job_id] = job
        for sid in server_ids:
            self.servers[sid].active_job_id = job_id
        return job

    def active_jobs(self) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.active]

    # ---- replication configuration templates --------------------------------------------

    def create_template(self, settings: dict[str, Any]) -> dict[str, Any]:
        template_id = "rct-" + self.ids.alnum(17)
        template = {
            "replicationConfigurationTemplateID": template_id,
            "arn": self.arn("replication-configuration-template", template_id),
            "tags": {},
            **settings,
        }
        self.templates[template_id] = template
        return template

    def default_template(self) -> dict[str, Any]:
        """The template new servers copy; made on first use like the console's first-run setup."""
        if not self.templates:
            settings: dict[str, Any] = {
                "associateDefaultSecurityGroup": True,
                "replicationServersSecurityGroupsIDs": [],
                "replicationServerInstanceType": "t3.small",
                "useDedicatedReplicationServer": False,
                "defaultLargeStagingDiskType": "GP3",
                "ebsEncryption": "DEFAULT",
                "bandwidthThrottling": 0,
                "dataPlaneRouting": "PRIVATE_IP",
                "createPublicIP": False,
                "stagingAreaTags": {},
                "useFipsEndpoint": False,
                "internetProtocol": "IPV4",
            }
            if self.staging_subnet_id:
                settings["stagingAreaSubnetId"] = self.staging_subnet_id
            self.create_template(settings)
        return next(iter(self.templates.values()))

    # ---- agent install (test-side) -------------------------------------------------------

    def register_agent(
        self,
        hostname: str,
        tags: dict[str, str] | None = None,
        *,
        replication_lag_seconds: float = 2.0,
        initiating_seconds: float | None = None,
        initial_sync_seconds: float | None = None,
        disks: list[dict[str, Any]] | None = None,
        user_provided_id: str | None = None,
        ip_address: str | None = None,
    ) -> str:
        self._check_source_server_quota()
        server_id = "s-" + self.ids.hex(17)
        template = self.default_template()
        replication = {
            k: _copy(v)
            for k, v in template.items()
            if k not in ("replicationConfigurationTemplateID", "arn", "tags")
        }
        disk_list = [dict(d) for d in (disks or DEFAULT_DISKS)]
        replication["name"] = hostname
        replication["replicatedDisks"] = [
            {"deviceName": d["deviceName"], "isBootDisk": i == 0, "stagingDiskType": "AUTO"}
            for i, d in enumerate(disk_list)
        ]
        launch = {
            "name": hostname,
            "ec2LaunchTemplateID": self.ec2.create_launch_template(server_id),
            "launchDisposition": "STARTED",
            "targetInstanceTypeRightSizingMethod": "BASIC",
            "copyPrivateIp": False,
            "copyTags": True,
            "licensing": {"osByol": True},
            "bootMode": "USE_SOURCE",
            "postLaunchActions": {"deployment": "TEST_AND_CUTOVER", "ssmDocuments": []},
            "enableMapAutoTagging": False,
        }
        server = ServerRecord(
            server_id=server_id,
            arn=self.arn("source-server", server_id),
            hostname=hostname,
            added_at=self.clock.now(),
            replication=replication,
            launch=launch,
            disks=disk_list,
            tags=dict(tags or {}),
            replicator_id="i-" + self.ids.hex(17),
            user_provided_id=user_provided_id,
            ip_address=ip_address or f"10.20.{len(self.servers) // 250}.{len(self.servers) % 250 + 4}",
            initiating_seconds=self.timings.initiating_seconds
            if initiating_seconds is None
            else initiating_seconds,
            initial_sync_seconds=(
                self.timings.initial_sync_seconds if initial_sync_seconds is None else initial_sync_seconds
            ),
            lag_seconds=replication_lag_seconds,
        )
        self.servers[server_id] = server
        self.replication.start(server)
        return server_id

    def _check_source_server_quota(self) -> None:
        # The agent registers through an MGN API outside botocore's model; the installer fails with
        # the service's quota error, which is what the caller of register_agent gets here.
        limit = self.quotas.max_source_servers
        in_use = sum(1 for s in self.servers.values() if not s.is_archived)
        if in_use >= limit:
            raise QuotaExceededError(
                f"Cannot add a source server: the Region already has {in_use} non-archived source "
                f"servers (quota {limit}); archive or delete servers first",
                SOURCE_SERVERS_QUOTA_CODE,
                limit,
                resource_type="SOURCE_SERVER",
            )


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
