"""MGN, as the pipeline uses it. Takes an injected ``boto3.client("mgn")``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from mgn_pipeline.domain.server import SourceServer
from mgn_pipeline.errors import (
    MgnConflictError,
    MgnQuotaExceededError,
    MgnRequestRejectedError,
    MgnThrottledError,
    PipelineError,
    UnknownServerError,
)


class MgnGateway:
    def __init__(self, client: Any) -> None:
        self._client = client

    def iter_active_servers(self, page_size: int = 200) -> Iterator[SourceServer]:
        """Every non-archived source server, page by page (the API caps a page at 200)."""
        paginator = self._client.get_paginator("describe_source_servers")
        pages = paginator.paginate(
            filters={"isArchived": False}, PaginationConfig={"PageSize": page_size}
        )
        with translate_errors("DescribeSourceServers"):
            for page in pages:
                for item in page.get("items", []):
                    yield SourceServer.from_api(item)

    def get_server(self, server_id: str) -> SourceServer:
        with translate_errors("DescribeSourceServers"):
            response = self._client.describe_source_servers(filters={"sourceServerIDs": [server_id]})
        items = response.get("items", [])
        if not items:
            raise UnknownServerError(f"MGN has no source server {server_id} in this account and Region")
        return SourceServer.from_api(items[0])


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
