"""EC2 launch templates of MGN source servers. Takes an injected ``boto3.client("ec2")``."""

from __future__ import annotations

from typing import Any


class LaunchTemplates:
    def __init__(self, client: Any) -> None:
        self._client = client

    def default_version(self, template_id: str) -> tuple[str, dict[str, Any]]:
        """(version number, LaunchTemplateData) of the version MGN launches from."""
        response = self._client.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=["$Default"]
        )
        version = response["LaunchTemplateVersions"][0]
        return str(version["VersionNumber"]), dict(version.get("LaunchTemplateData") or {})

    def replace_default(self, template_id: str, base_version: str, data: dict[str, Any], reason: str) -> str:
        """Write ``data`` as a new version and make it the default; the old version stays for audit."""
        created = self._client.create_launch_template_version(
            LaunchTemplateId=template_id,
            SourceVersion=base_version,
            VersionDescription=reason[:255],
            LaunchTemplateData=data,
        )
        number = str(created["LaunchTemplateVersion"]["VersionNumber"])
        self._client.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=number)
        return number
