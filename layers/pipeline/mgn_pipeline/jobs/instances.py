"""The test instance as EC2 sees it. Takes an injected ``boto3.client("ec2")``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.jobs.verification import InstanceFacts


class Ec2Instances:
    def __init__(self, client: Any) -> None:
        self._client = client

    def facts(self, instance_id: str) -> InstanceFacts:
        try:
            reservations = self._client.describe_instances(InstanceIds=[instance_id]).get("Reservations", [])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return _missing(instance_id)
            raise
        instances = [i for r in reservations for i in r.get("Instances", [])]
        if not instances:
            return _missing(instance_id)
        instance = instances[0]
        interfaces = instance.get("NetworkInterfaces") or []
        public = {str(instance["PublicIpAddress"])} if instance.get("PublicIpAddress") else set()
        public |= {
            str(ni["Association"]["PublicIp"])
            for ni in interfaces
            if (ni.get("Association") or {}).get("PublicIp")
        }
        groups = {str(g["GroupId"]) for g in instance.get("SecurityGroups") or []}
        groups |= {str(g["GroupId"]) for ni in interfaces for g in ni.get("Groups") or []}
        statuses = self._client.describe_instance_status(
            InstanceIds=[instance_id], IncludeAllInstances=True
        ).get("InstanceStatuses", [])
        status = statuses[0] if statuses else {}
        return InstanceFacts(
            instance_id=instance_id,
            state=str((instance.get("State") or {}).get("Name", "unknown")),
            private_ip=instance.get("PrivateIpAddress"),
            public_ips=tuple(sorted(public)),
            subnet_id=instance.get("SubnetId"),
            security_group_ids=frozenset(groups),
            instance_status=(status.get("InstanceStatus") or {}).get("Status"),
            system_status=(status.get("SystemStatus") or {}).get("Status"),
            instance_profile_arn=(instance.get("IamInstanceProfile") or {}).get("Arn"),
        )


def _missing(instance_id: str) -> InstanceFacts:
    return InstanceFacts(instance_id, "missing", None, (), None, frozenset(), None, None)
