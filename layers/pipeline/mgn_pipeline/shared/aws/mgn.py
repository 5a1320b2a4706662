"""MGN, as the pipeline uses it. Takes an injected ``boto3.client("mgn")``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.shared.errors import (
    MgnConflictError,
    MgnQuotaExceededError,
    MgnRequestRejectedError,
    MgnThrottledError,
    PipelineError,
    UnknownServerError,
)
from mgn_pipeline.shared.server import SourceServer

# DescribeSourceServers takes at most 200 ids in its sourceServerIDs filter.
_IDS_PER_DESCRIBE = 200


@dataclass(frozen=True, slots=True)
class LaunchConfiguration:
    """What the pipeline reads of a server's launch configuration (None: not known)."""

    template_id: str | None
    post_launch_actions: Mapping[str, Any] | None


class MgnGateway:
    def __init__(self, client: Any) -> None:
        self._client = client
        # Servers read ahead for a batch of events (None: MGN does not know the id), each handed
        # out once: a second look at the same server in the batch reads it afresh.
        self._read_ahead: dict[str, SourceServer | None] = {}

    def read_ahead(self, server_ids: Iterable[str]) -> None:
        """Read many servers with as few DescribeSourceServers calls as MGN allows."""
        wanted = [sid for sid in dict.fromkeys(server_ids) if sid not in self._read_ahead]
        found = self.describe_many(wanted)
        for server_id in wanted:
            self._read_ahead[server_id] = found.get(server_id)

    def describe_many(self, server_ids: Iterable[str]) -> dict[str, SourceServer]:
        """The servers MGN knows among ``server_ids``: one DescribeSourceServers per 200 ids."""
        wanted = list(dict.fromkeys(server_ids))
        paginator = self._client.get_paginator("describe_source_servers")
        found: dict[str, SourceServer] = {}
        for start in range(0, len(wanted), _IDS_PER_DESCRIBE):
            chunk = wanted[start : start + _IDS_PER_DESCRIBE]
            with translate_errors("DescribeSourceServers"):
                for page in paginator.paginate(filters={"sourceServerIDs": chunk}):
                    for item in page.get("items", []):
                        server = SourceServer.from_api(item)
                        found[server.server_id] = server
        return found

    def active_server_pages(self, page_size: int = 200) -> Iterator[list[SourceServer]]:
        """Every non-archived source server, a page at a time (the API caps a page at 200)."""
        paginator = self._client.get_paginator("describe_source_servers")
        pages = paginator.paginate(filters={"isArchived": False}, PaginationConfig={"PageSize": page_size})
        with translate_errors("DescribeSourceServers"):
            for page in pages:
                yield [SourceServer.from_api(item) for item in page.get("items", [])]

    def get_server(self, server_id: str) -> SourceServer:
        if server_id in self._read_ahead:
            server = self._read_ahead.pop(server_id)
            if server is None:
                raise UnknownServerError(f"MGN has no source server {server_id} in this account and Region")
            return server
        with translate_errors("DescribeSourceServers"):
            response = self._client.describe_source_servers(filters={"sourceServerIDs": [server_id]})
        items = response.get("items", [])
        if not items:
            raise UnknownServerError(f"MGN has no source server {server_id} in this account and Region")
        return SourceServer.from_api(items[0])

    def get_replication_configuration(self, server_id: str) -> dict[str, Any]:
        with translate_errors("GetReplicationConfiguration"):
            response: dict[str, Any] = self._client.get_replication_configuration(sourceServerID=server_id)
        return response

    def update_replication_configuration(self, server_id: str, fields: dict[str, Any]) -> None:
        with translate_errors("UpdateReplicationConfiguration"):
            self._client.update_replication_configuration(sourceServerID=server_id, **fields)

    def replication_templates(self) -> list[dict[str, Any]]:
        templates: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("describe_replication_configuration_templates")
        with translate_errors("DescribeReplicationConfigurationTemplates"):
            for page in paginator.paginate():
                templates.extend(page.get("items", []))
        return templates

    def update_replication_template(self, template_id: str, fields: dict[str, Any]) -> None:
        with translate_errors("UpdateReplicationConfigurationTemplate"):
            self._client.update_replication_configuration_template(
                replicationConfigurationTemplateID=template_id, **fields
            )

    def create_replication_template(self, fields: dict[str, Any]) -> str:
        with translate_errors("CreateReplicationConfigurationTemplate"):
            response = self._client.create_replication_configuration_template(**fields)
        return str(response["replicationConfigurationTemplateID"])

    def launch_configuration(self, server_id: str) -> LaunchConfiguration:
        with translate_errors("GetLaunchConfiguration"):
            response = self._client.get_launch_configuration(sourceServerID=server_id)
        template_id = response.get("ec2LaunchTemplateID")
        return LaunchConfiguration(
            template_id=str(template_id) if template_id else None,
            post_launch_actions=dict(response.get("postLaunchActions") or {}),
        )


class translate_errors:  # noqa: N801 - used as a context manager, reads like a statement
    """Turn MGN's ClientErrors into the pipeline's named errors (Step Functions matches the names)."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, ClientError):
            return
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = f"{self.operation}: {code}: {error.get('Message', '')}".strip()
        if code == "ThrottlingException":
            retry_after = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
            raise MgnThrottledError(message, int(retry_after) if retry_after else None) from exc
        if code == "ConflictException":
            raise MgnConflictError(message) from exc
        if code == "ResourceNotFoundException":
            raise UnknownServerError(message) from exc
        if code == "ServiceQuotaExceededException":
            raise MgnQuotaExceededError(message) from exc
        if code == "ValidationException":
            fields = ", ".join(
                f"{f.get('name')}: {f.get('message')}" for f in exc.response.get("fieldList", []) or []
            )
            raise MgnRequestRejectedError(message + (f" ({fields})" if fields else "")) from exc
        raise PipelineError(message) from exc
