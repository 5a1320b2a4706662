"""Each function's settings model, put together from the fields of the capabilities it runs.

Handlers import this module inside the handler body (pydantic: see ``mgn_pipeline.shared.settings``).
"""

from __future__ import annotations

from pydantic import Field

from mgn_pipeline.cutover.config import CutoverConfig
from mgn_pipeline.cutover.settings import CutoverFields
from mgn_pipeline.launches.config import TestLaunchConfig
from mgn_pipeline.launches.settings import TestLaunchFields
from mgn_pipeline.replication.settings import (
    LaunchPolicyFields,
    LinkFields,
    ReplicationClockFields,
    ReplicationFields,
    ScopeFields,
)
from mgn_pipeline.shared.settings import OriginFields, RecordFields, TableName, load_settings


class LaunchingSettings(RecordFields, LaunchPolicyFields, TestLaunchFields, CutoverFields):
    """What a function that starts MGN jobs reads (test launches and cutovers)."""

    def cutover(self) -> CutoverConfig | None:
        return self.cutover_config(
            self.allowed_launch_subnet_ids, self.servers_table, self.launch_queue_table or ""
        )

    def test_launch(self) -> TestLaunchConfig | None:
        return self.test_launch_config(self.allowed_launch_subnet_ids)


class PipelineSettings(LaunchingSettings, ReplicationFields, ScopeFields, LinkFields, ReplicationClockFields):
    """What every function that advances servers needs: every capability's fields."""


class ReconcilerSettings(PipelineSettings):
    page_size: int = Field(alias="RECONCILER_PAGE_SIZE", default=200, ge=1, le=200)


class MgnEventSettings(PipelineSettings, OriginFields):
    idempotency_table: TableName = Field(alias="IDEMPOTENCY_TABLE_NAME")
    # Long enough to absorb EventBridge retries (24 h) and the reconciler's catch-up.
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=172_800, ge=300)


class LaunchBatcherSettings(LaunchingSettings):
    """The batcher starts queued test launches and approved cutovers: it needs the queue."""

    launch_queue_table: TableName = Field(alias="LAUNCH_QUEUE_TABLE_NAME")


class CutoverSettings(LaunchingSettings):
    """The gate's tasks: the cutover fields and where to record."""


class ApprovalBridgeSettings(CutoverSettings, OriginFields):
    """The bridge also refuses approval events from another account or Region."""


__all__ = [
    "ApprovalBridgeSettings",
    "CutoverSettings",
    "LaunchBatcherSettings",
    "MgnEventSettings",
    "PipelineSettings",
    "ReconcilerSettings",
    "load_settings",
]
